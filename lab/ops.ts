// Node actions on a running lab: each changes the wanted state, does the network part
// itself (links, killing processes) and waits until the keeper has applied the rest.
import { spawn } from 'node:child_process';
import { CoreV1Api } from '@kubernetes/client-node';
import { killNetnsProcesses, runStep } from './netns.js';
import { ensureAgent, ensureSpeaker, stopSpeaker, waitAgents } from './processes.js';
import {
  ensureNodeRuntime,
  ensureRuntimeBinaries,
  findRunc,
  killNodeRuntime,
  loadImage,
  setNodeNetworkReady,
  waitNodesReady,
} from './runtime.js';
import { type LabState, labPaths, type NodeWish, readState, withNodeWish, writeState } from './state.js';
import { findHost, type Host, linkStep, planTopology } from './topology.js';
import { kubeConfig, waitKeeper } from './up.js';

export type NodeAction =
  | 'node-notready'
  | 'node-ready'
  | 'kill-node'
  | 'revive-node'
  | 'partition'
  | 'heal'
  | 'stop-speaker'
  | 'start-speaker';

export function requireLab(dir: string): LabState {
  const s = readState(dir);
  if (!s?.complete) throw new Error(`no lab is up (state in ${dir}); run \`lab up\` first`);
  return s;
}

function requireNode(s: LabState, name: string): Host {
  const h = findHost(planTopology({ nodes: s.nodeCount, ipv6: s.ipv6 }), name);
  if (!h || h.name === 'client') {
    throw new Error(`unknown node "${name}"; nodes: ${Object.keys(s.nodes).join(', ')}`);
  }
  return h;
}

const WISHES: Partial<Record<NodeAction, Partial<NodeWish>>> = {
  'node-notready': { ready: false },
  'node-ready': { ready: true },
  'kill-node': { killed: true },
  'revive-node': { killed: false },
  partition: { partitioned: true },
  heal: { partitioned: false },
};

/** Runs a node action; returns a line describing what happened. */
export async function nodeAction(dir: string, action: NodeAction, name: string): Promise<string> {
  let s = requireLab(dir);
  const h = requireNode(s, name);
  const wish = WISHES[action];
  if (wish) s = withNodeWish(s, h.name, wish);
  const w = s.nodes[h.name] as NodeWish;
  if (action === 'kill-node') {
    // Power cut: the node goes silent at once — its link first, as one step, because killing
    // a --runtime node's cgroups (its runtime and every container, also those in a Pod network)
    // takes rounds, and a node that kept answering TCP meanwhile would hide the outage a user
    // of a real power cut sees. Then its processes die without a word.
    await runStep(linkStep(h, false));
    const pids = s.runtime ? await killNodeRuntime(h) : [];
    pids.push(...(await killNetnsProcesses(h.netns)));
    if (s.runtime) delete s.pids.runtime?.[h.name];
    delete s.pids.agents[h.name];
    delete s.pids.speakers[h.name];
    await writeState(s);
    await waitKeeper(s);
    return `${h.name} killed (processes ${pids.join(', ') || 'none'} gone, link down)`;
  }
  if (action === 'revive-node' || action === 'heal' || action === 'partition') {
    await runStep(linkStep(h, !w.killed && !w.partitioned));
  }
  if (action === 'revive-node') {
    ensureAgent(s, h);
    if (!s.runtime) ensureSpeaker(s, h);
    await writeState(s);
    await waitAgents(s, [h]);
    if (s.runtime) {
      await ensureNodeRuntime(s, h, await ensureRuntimeBinaries(), await findRunc());
      await writeState(s);
    }
  }
  if (s.runtime && (action === 'node-notready' || action === 'node-ready')) {
    await setNodeNetworkReady(s.dir, h, w.ready);
  }
  if (action === 'stop-speaker') {
    const stopped = await stopSpeaker(s, h.name);
    await writeState(s);
    return stopped ? `${h.name}: speaker stopped gracefully` : `${h.name}: no speaker running`;
  }
  if (action === 'start-speaker') {
    const slot = ensureSpeaker(s, h);
    await writeState(s);
    return `${h.name}: speaker ${slot.state === 'empty' ? `slot empty (${slot.file} not built)` : `pid ${slot.pid}`}`;
  }
  await writeState(s);
  await waitKeeper(s);
  // The kubelet reports the change itself: wait until the API shows it (the node lifecycle
  // controller's Unknown for a partition comes later, after the grace period).
  if (s.runtime && !w.killed && !w.partitioned) {
    await waitNodesReady(labPaths(s.dir).kubeconfig, [h.name], w.ready ? 'True' : 'False', 90_000);
  }
  return `${h.name}: ${describeWish(w)}`;
}

export function describeWish(w: NodeWish): string {
  if (w.killed) return 'killed';
  if (w.partitioned) return 'partitioned';
  return w.ready ? 'ready' : 'notready';
}

/** `load-image`: an image archive or OCI layout imported into every live node's containerd. */
export async function loadImageCmd(dir: string, source: string, name?: string): Promise<string> {
  const s = requireLab(dir);
  if (!s.runtime) throw new Error('load-image needs a lab started with `up --runtime`');
  const t = planTopology({ nodes: s.nodeCount, ipv6: s.ipv6 });
  const live = t.nodes.filter((h) => !s.nodes[h.name]?.killed);
  const archive = await loadImage(s, live, await ensureRuntimeBinaries(), source, name);
  await writeState(s);
  return `imported ${archive} into ${live.map((h) => h.name).join(', ')}`;
}

/** Runs a command inside the client's or a node's namespace; resolves to its exit code. */
export function execIn(dir: string, name: string, argv: string[]): Promise<number> {
  const s = requireLab(dir);
  const h = findHost(planTopology({ nodes: s.nodeCount, ipv6: s.ipv6 }), name);
  if (!h) throw new Error(`unknown host "${name}"; use client or ${Object.keys(s.nodes).join(', ')}`);
  if (argv.length === 0) throw new Error('usage: lab exec <client|nodeN> -- <command...>');
  return new Promise((res, rej) => {
    const child = spawn('ip', ['netns', 'exec', h.netns, ...argv], { stdio: 'inherit' });
    child.on('error', rej);
    child.on('exit', (code, signal) => res(code ?? (signal ? 128 : 1)));
  });
}

/** Each node's Ready condition as the API shows it (name -> status), or an error text. */
export async function readyInApi(kubeconfigPath: string): Promise<Record<string, string> | string> {
  try {
    const core = kubeConfig(kubeconfigPath).makeApiClient(CoreV1Api);
    const list = await core.listNode();
    const out: Record<string, string> = {};
    for (const n of list.items) {
      out[n.metadata?.name ?? '?'] = n.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'none';
    }
    return out;
  } catch (err) {
    return `API unreachable: ${(err as Error).message}`;
  }
}
