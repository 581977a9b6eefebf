// `lab up`: brings the lab to its wanted state from whatever is there — nothing, a healthy
// lab (then it only checks), or the leftovers of a crash (then it rebuilds what is broken).
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { startControlPlane, stopControlPlaneAt } from './control-plane.js';
import { applyCrds, crdFiles } from './crds.js';
import { down } from './down.js';
import { deleteNetns, labNetnsPresent, linkExists, runStep, runSteps } from './netns.js';
import {
  ensureAgent,
  ensureController,
  ensureKeeper,
  ensureSpeaker,
  type SlotState,
  waitAgents,
} from './processes.js';
import { alive, waitFor } from './procs.js';
import {
  ensureClusterControllers,
  ensureNodeRuntime,
  ensureRuntimeBinaries,
  findRunc,
  labNodeCgroups,
  waitNodesReady,
} from './runtime.js';
import {
  type ControlPlaneRecord,
  initialState,
  type LabState,
  labPaths,
  readKeeperAck,
  readState,
  writeState,
} from './state.js';
import {
  allNetns,
  BRIDGE,
  buildSteps,
  type Host,
  LAN_NETNS,
  linkStep,
  NODE_API_PORT,
  planTopology,
  serviceIpStep,
  type Topology,
} from './topology.js';

export interface UpOptions {
  dir: string;
  nodes?: number;
  ipv6?: boolean;
  /** Where the CRDs come from; default the package's `crds/`. */
  crdDir?: string;
  /** false: apply no CRDs (the chart brings them: Helm will not adopt objects it did not make). */
  crds?: boolean;
  /** kube-controller-manager, kube-scheduler, containerd and kubelets (docs/lab.md). */
  runtime?: boolean;
  say: (line: string) => void;
}

export interface UpResult {
  state: LabState;
  topology: Topology;
  kubeconfig: string;
  controller: SlotState;
  speakers: Record<string, SlotState>;
  crds: string[];
}

export const DEFAULT_NODES = 3;

/** The existing lab's state, or a fresh one after clearing any crash leftovers. */
async function loadOrInit(o: UpOptions): Promise<LabState> {
  let s: LabState | undefined;
  try {
    s = readState(o.dir);
  } catch (err) {
    o.say(`state file unreadable (${(err as Error).message}): rebuilding the lab`);
  }
  if (s) {
    if (o.nodes !== undefined && o.nodes !== s.nodeCount) {
      throw new Error(
        `the lab is up with ${s.nodeCount} nodes; run \`lab down\` first to change it to ${o.nodes}`,
      );
    }
    if (o.ipv6 !== undefined && o.ipv6 !== s.ipv6) {
      throw new Error(
        `the lab is up ${s.ipv6 ? 'with' : 'without'} IPv6; run \`lab down\` first to change it`,
      );
    }
    if (o.runtime !== undefined && o.runtime !== (s.runtime ?? false)) {
      throw new Error(
        `the lab is up ${s.runtime ? 'with' : 'without'} --runtime; run \`lab down\` first to change it`,
      );
    }
    return s;
  }
  if (existsSync(o.dir) || (await labNetnsPresent()).length > 0 || labNodeCgroups().length > 0) {
    o.say('clearing leftovers of an earlier lab');
    await down({ dir: o.dir, say: () => {} });
  }
  const topo = planTopology({ nodes: o.nodes ?? DEFAULT_NODES, ipv6: o.ipv6 ?? false });
  const p = labPaths(o.dir);
  for (const d of [o.dir, p.logs, p.run]) await mkdir(d, { recursive: true });
  return initialState(
    o.dir,
    topo.nodes.map((n) => n.name),
    topo.ipv6,
    o.runtime ?? false,
  );
}

async function apiAnswers(kubeconfigPath: string): Promise<boolean> {
  try {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    await kc.makeApiClient(CoreV1Api).listNamespace({ limit: 1 });
    return true;
  } catch {
    return false;
  }
}

async function ensureControlPlane(s: LabState, say: UpOptions['say']): Promise<ControlPlaneRecord> {
  const cp = s.controlPlane;
  if (cp && alive(cp.pids.etcd) && alive(cp.pids.apiserver) && (await apiAnswers(cp.kubeconfigPath)))
    return cp;
  const dir = labPaths(s.dir).controlPlane;
  if (cp || existsSync(dir)) await stopControlPlaneAt(dir);
  say('starting etcd + kube-apiserver');
  const started = await startControlPlane({ dir, detached: true });
  return { dir, server: started.server, kubeconfigPath: started.kubeconfigPath, pids: started.pids };
}

/** The admin kubeconfig with the server the node namespaces reach through their agent. */
export function nodeKubeconfigYaml(adminYaml: string): string {
  const doc = parse(adminYaml) as { clusters?: { cluster: { server: string } }[] };
  for (const c of doc.clusters ?? []) c.cluster.server = `https://127.0.0.1:${NODE_API_PORT}`;
  return stringify(doc);
}

async function writeKubeconfigs(s: LabState, cp: ControlPlaneRecord): Promise<void> {
  const p = labPaths(s.dir);
  const admin = await readFile(cp.kubeconfigPath, 'utf8');
  await writeFile(p.kubeconfig, admin, { mode: 0o600 });
  await writeFile(p.nodeKubeconfig, nodeKubeconfigYaml(admin), { mode: 0o600 });
  // Made once per lab and kept (speakers restarted later must share it), as the chart's Secret.
  if (!existsSync(p.heartbeatKeys))
    await writeFile(p.heartbeatKeys, `k1:${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
}

/** All namespaces and each host's eth0 there: then the wiring stands and is kept as is. */
async function networkIntact(t: Topology): Promise<boolean> {
  const present = new Set(await labNetnsPresent());
  if (!allNetns(t).every((n) => present.has(n))) return false;
  if (!(await linkExists(LAN_NETNS, BRIDGE))) return false;
  for (const h of [...t.nodes, t.client]) if (!(await linkExists(h.netns, 'eth0'))) return false;
  return true;
}

async function ensureNetwork(s: LabState, t: Topology, say: UpOptions['say']): Promise<void> {
  if (await networkIntact(t)) return;
  say(`building namespaces ${allNetns(t).join(', ')}`);
  for (const ns of await labNetnsPresent()) await deleteNetns(ns);
  s.pids.agents = {};
  s.pids.speakers = {};
  await runSteps(buildSteps(t));
  for (const h of t.nodes) {
    const w = s.nodes[h.name];
    if (s.runtime) await runStep(serviceIpStep(h));
    if (w?.killed || w?.partitioned) await runStep(linkStep(h, false));
  }
}

/** Waits until the keeper applied this generation and every node wished Ready is Ready. */
export async function waitKeeper(s: LabState, timeoutMs = 20_000): Promise<void> {
  const ok = await waitFor(() => readKeeperAck(s.dir) >= s.generation, timeoutMs);
  if (!ok)
    throw new Error(
      `the keeper did not apply the change within ${timeoutMs} ms (see ${labPaths(s.dir).logs})`,
    );
}

export async function up(o: UpOptions): Promise<UpResult> {
  const s = await loadOrInit(o);
  const t = planTopology({ nodes: s.nodeCount, ipv6: s.ipv6 });
  const p = labPaths(s.dir);
  // First, so a missing tool fails before anything is started.
  const rt = s.runtime ? { bins: await ensureRuntimeBinaries(), runc: await findRunc() } : undefined;
  s.complete = false;
  const cp = await ensureControlPlane(s, o.say);
  s.controlPlane = cp;
  await writeKubeconfigs(s, cp);
  await ensureNetwork(s, t, o.say);
  s.generation++;
  await writeState(s);
  ensureKeeper(s);
  const live = t.nodes.filter((h) => !s.nodes[h.name]?.killed);
  for (const h of live) ensureAgent(s, h);
  await writeState(s);
  await waitAgents(s, live);
  // A rejected CRD fails `up` only at the end: the rest of the lab is usable for a look.
  let crdError: Error | undefined;
  const files = o.crds === false ? [] : crdFiles(o.crdDir);
  const crds = await applyCrds(kubeConfig(p.kubeconfig), files).catch((err: Error) => {
    crdError = err;
    return [] as string[];
  });
  await ensureNamespace(p.kubeconfig, PRODUCT_NAMESPACE);
  const speakers: Record<string, SlotState> = {};
  let controller: SlotState;
  if (rt) {
    // The product comes as Pods (the chart), not as slot processes.
    controller = { state: 'empty', file: 'not used with --runtime' };
    ensureClusterControllers(s, rt.bins);
    await writeState(s);
    for (const h of live) {
      await ensureNodeRuntime(s, h, rt.bins, rt.runc);
      await writeState(s);
    }
  } else {
    controller = ensureController(s);
    for (const h of live) speakers[h.name] = ensureSpeaker(s, h);
  }
  await writeState(s);
  await waitKeeper(s);
  if (rt) await waitRuntimeNodes(s, live);
  s.complete = true;
  await writeState(s);
  if (crdError) throw crdError;
  return { state: s, topology: t, kubeconfig: p.kubeconfig, controller, speakers, crds };
}

/** Each live node as its wish says: Ready=True, or False when wished NotReady (a
 * partitioned node is not waited for: it cannot report). */
async function waitRuntimeNodes(s: LabState, live: Host[]): Promise<void> {
  const reach = live.filter((h) => !s.nodes[h.name]?.partitioned);
  const kc = labPaths(s.dir).kubeconfig;
  const want = (ready: boolean) =>
    reach.filter((h) => (s.nodes[h.name]?.ready ?? true) === ready).map((h) => h.name);
  await waitNodesReady(kc, want(true), 'True', 120_000);
  await waitNodesReady(kc, want(false), 'False', 60_000);
}

/** Where the chart installs heraldlb (its Leases and Secret live there). */
export const PRODUCT_NAMESPACE = 'heraldlb-system';

async function ensureNamespace(kubeconfigPath: string, name: string): Promise<void> {
  const core = kubeConfig(kubeconfigPath).makeApiClient(CoreV1Api);
  try {
    await core.createNamespace({ body: { metadata: { name } } });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
}

export function kubeConfig(path: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}
