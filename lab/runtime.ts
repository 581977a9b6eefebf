// `lab up --runtime`: the lab as a cluster that runs workloads. kube-controller-manager and
// kube-scheduler run in the host namespace next to the API server; each node namespace runs
// containerd and a real kubelet, which owns its Node object and runs the Pods bound to it
// with runc. Every runtime process and container of a node lives in the cgroup
// `/hlb-nodeN` (all hierarchies), so a power cut or `down` finds them all, whatever
// network namespace a Pod has.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api } from '@kubernetes/client-node';
import { repoRoot } from './control-plane.js';
import { ours } from './processes.js';
import { alive, sleep, spawnDetached, waitFor } from './procs.js';
import {
  cniConfig,
  containerdConfig,
  controllerManagerArgs,
  KUBELET_TUNABLES,
  kubeletArgs,
  kubeletConfig,
  nodeCgroup,
  nodeRuntimePaths,
  type RuntimeBinaries,
  runtimeBinaries,
  schedulerArgs,
} from './runtime-config.js';
import { type LabState, labPaths } from './state.js';
import { type Host, isLabNetns } from './topology.js';
import { kubeConfig } from './up.js';

const run = promisify(execFile);
const CGROUP_ROOT = '/sys/fs/cgroup';

export class RuntimeError extends Error {
  readonly code = 'LAB_RUNTIME';
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
  }
}

async function exec(cmd: string, args: string[], timeoutMs = 60_000): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { timeout: timeoutMs, maxBuffer: 8 << 20 });
    return stdout;
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? '').slice(-1500);
    throw new RuntimeError(`${cmd} ${args.join(' ')}: ${stderr || (err as Error).message}`, err);
  }
}

/** Builds (cold: many minutes) or finds (warm: at once) the runtime's binaries. */
export async function ensureRuntimeBinaries(): Promise<RuntimeBinaries> {
  const script = join(repoRoot(), 'lab', 'bin', 'build-runtime.sh');
  const out = await exec('bash', [script], 3 * 60 * 60 * 1000);
  return runtimeBinaries(out.trim().split('\n').pop() ?? '');
}

/** The distribution's runc (crun does not work on this host's hybrid cgroups). */
export async function findRunc(): Promise<string> {
  const out = await exec('sh', ['-c', 'command -v runc']).catch(() => '');
  if (!out.trim()) throw new RuntimeError('`runc` is not installed (apt-get install -y runc)');
  return out.trim();
}

/** Starts kube-controller-manager and kube-scheduler if they are not running. */
export function ensureClusterControllers(s: LabState, bins: RuntimeBinaries): void {
  const p = labPaths(s.dir);
  const certs = join(p.controlPlane, 'certs');
  if (!ours(s.pids.controllerManager, s.dir)) {
    const args = controllerManagerArgs({
      kubeconfig: p.kubeconfig,
      caCert: join(certs, 'ca.crt'),
      caKey: join(certs, 'ca.key'),
      saKey: join(certs, 'sa.key'),
    });
    s.pids.controllerManager = spawnDetached(
      bins.kubeControllerManager,
      args,
      p.log('kube-controller-manager'),
    );
  }
  if (!ours(s.pids.scheduler, s.dir))
    s.pids.scheduler = spawnDetached(
      bins.kubeScheduler,
      schedulerArgs(p.kubeconfig),
      p.log('kube-scheduler'),
    );
}

/** Writes a node's configuration files (idempotent); the CNI config stays parked while the
 * node is wished NotReady. */
async function writeNodeFiles(s: LabState, h: Host, bins: RuntimeBinaries, runc: string): Promise<void> {
  const p = nodeRuntimePaths(s.dir, h.name);
  for (const d of [p.base, p.cniConfDir, p.cniState, p.kubeletRoot, p.kubeletCerts])
    await mkdir(d, { recursive: true });
  await writeFile(p.containerdConfig, containerdConfig(s.dir, h, bins, runc));
  await writeFile(
    p.kubeletConfig,
    kubeletConfig(s.dir, h, join(labPaths(s.dir).controlPlane, 'certs', 'ca.crt')),
  );
  const ready = s.nodes[h.name]?.ready ?? true;
  await writeFile(ready ? p.cniConf : p.cniConfParked, cniConfig(h, p.cniState));
  if (ready) await rm(p.cniConfParked, { force: true });
  else await rm(p.cniConf, { force: true });
  for (const [key, value] of Object.entries(KUBELET_TUNABLES)) {
    await mkdir(dirname(join(p.tunables, key)), { recursive: true });
    await writeFile(join(p.tunables, key), `${value}\n`);
  }
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .filter((l) => /^\S+ \/sys\/fs\/cgroup\/\S+ cgroup2? /.test(l));
  await writeFile(join(p.tunables, 'host-mounts'), `${mounts.join('\n')}\n`);
}

async function ctr(bins: RuntimeBinaries, sock: string, args: string[], timeoutMs = 120_000) {
  return exec(bins.ctr, ['--address', sock, '--namespace', 'k8s.io', ...args], timeoutMs);
}

/** Starts containerd and then kubelet in `h`'s namespace, unless both run already. */
export async function ensureNodeRuntime(
  s: LabState,
  h: Host,
  bins: RuntimeBinaries,
  runc: string,
): Promise<void> {
  const rec = s.pids.runtime?.[h.name];
  if (rec && ours(rec.containerd, s.dir) && ours(rec.kubelet, s.dir)) return;
  await killNodeRuntime(h); // half a runtime: start both afresh
  const p = nodeRuntimePaths(s.dir, h.name);
  // As a reboot empties /run: nothing of the runtime's state or of its Pods' addresses
  // outlives the processes (images, containers' metadata and the kubelet's dir do).
  await rm(p.containerdState, { recursive: true, force: true });
  await rm(p.cniState, { recursive: true, force: true });
  await writeNodeFiles(s, h, bins, runc);
  const lp = labPaths(s.dir);
  const mountsScript = join(repoRoot(), 'lab', 'bin', 'node-mounts.sh');
  const cg = nodeCgroup(h);
  await rm(p.containerdSocket, { force: true });
  const containerd = spawnDetached(
    'bash',
    [
      mountsScript,
      'setup',
      p.tunables,
      p.varDir,
      `${cg}/runtime`,
      '--',
      bins.containerd,
      '--config',
      p.containerdConfig,
    ],
    lp.log(`containerd-${h.name}`),
    h.netns,
  );
  s.pids.runtime = { ...s.pids.runtime, [h.name]: { containerd, kubelet: 0 } };
  const up = await waitFor(
    async () => {
      if (!alive(containerd)) return true;
      return (
        existsSync(p.containerdSocket) &&
        (await ctr(bins, p.containerdSocket, ['version']).then(
          () => true,
          () => false,
        ))
      );
    },
    30_000,
    200,
  );
  if (!up || !alive(containerd))
    throw new RuntimeError(`containerd on ${h.name} did not start (see ${lp.log(`containerd-${h.name}`)})`);
  await ctr(bins, p.containerdSocket, ['images', 'import', bins.pauseArchive]);
  for (const archive of s.images ?? []) await ctr(bins, p.containerdSocket, ['images', 'import', archive]);
  const kubelet = spawnDetached(
    'nsenter',
    [
      '-t',
      String(containerd),
      '-m',
      '-n',
      '--',
      'bash',
      mountsScript,
      'join',
      `${cg}/kubelet`,
      '--',
      bins.kubelet,
    ].concat(kubeletArgs(s.dir, h, lp.nodeKubeconfig)),
    lp.log(`kubelet-${h.name}`),
  );
  s.pids.runtime = { ...s.pids.runtime, [h.name]: { containerd, kubelet } };
}

/** Every pid in `h`'s cgroup tree, in any hierarchy. */
export function nodeCgroupPids(h: Host): number[] {
  const out = new Set<number>();
  for (const dir of nodeCgroupDirs(h.netns)) {
    try {
      for (const l of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n'))
        if (Number(l) > 0) out.add(Number(l));
    } catch {
      // removed in between
    }
  }
  return [...out];
}

/** The cgroup dirs under `/<name>` in every hierarchy, deepest first. */
function nodeCgroupDirs(name: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 12) return;
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    for (const e of entries) {
      const sub = join(dir, e);
      try {
        if (statSync(sub).isDirectory()) walk(sub, depth + 1);
      } catch {
        // gone
      }
    }
    out.push(dir);
  };
  for (const parent of cgroupParents()) if (existsSync(join(parent, name))) walk(join(parent, name), 0);
  return out;
}

/** Where node cgroups can be: each hierarchy's root and, below it, this process's own
 * cgroup (node-mounts.sh nests the node's cgroups in the one the lab was started in). */
function cgroupParents(): string[] {
  let hierarchies: string[] = [];
  try {
    hierarchies = readdirSync(CGROUP_ROOT).map((h) => join(CGROUP_ROOT, h));
  } catch {
    return [];
  }
  const own = new Set<string>(['/']);
  try {
    for (const l of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
      const path = l.split(':')[2];
      if (path) own.add(path);
    }
  } catch {
    // no /proc: the roots only
  }
  const out = new Set<string>();
  for (const hier of hierarchies) for (const p of own) if (existsSync(join(hier, p))) out.add(join(hier, p));
  return [...out];
}

/** SIGKILLs every process of a node's runtime and its containers (bounded rounds). */
export async function killNodeRuntime(h: Host): Promise<number[]> {
  const hit = new Set<number>();
  for (let round = 0; round < 30; round++) {
    const pids = nodeCgroupPids(h);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        hit.add(pid);
      } catch {
        // gone
      }
    }
    await sleep(100);
  }
  return [...hit];
}

/** Removes a node's (empty) cgroups; returns the dirs that could not be removed. */
export function removeNodeCgroups(name: string): string[] {
  const stuck: string[] = [];
  for (const dir of nodeCgroupDirs(name)) {
    try {
      rmdirSync(dir);
    } catch {
      stuck.push(dir);
    }
  }
  return stuck;
}

/** Names of lab node cgroups present in any hierarchy (`hlb-nodeN`). */
export function labNodeCgroups(): string[] {
  const names = new Set<string>();
  for (const parent of cgroupParents()) {
    try {
      for (const e of readdirSync(parent)) if (isLabNetns(e) && e.startsWith('hlb-node')) names.add(e);
    } catch {
      // not a dir
    }
  }
  return [...names];
}

/** `down`'s part: every node runtime's processes killed and its cgroups removed. */
export async function clearNodeRuntimes(say: (l: string) => void): Promise<void> {
  for (const name of labNodeCgroups()) {
    const h = { netns: name } as Host;
    const pids = await killNodeRuntime(h);
    let stuck = removeNodeCgroups(name);
    for (let i = 0; i < 20 && stuck.length; i++) {
      await sleep(100);
      stuck = removeNodeCgroups(name);
    }
    if (pids.length) say(`stopped ${pids.length} runtime processes of ${name}`);
    if (stuck.length) say(`could not remove cgroups: ${stuck.join(', ')}`);
  }
}

/** node-notready / node-ready: the CNI config parked or restored, so the runtime reports its
 * network (not) ready and the kubelet writes Ready=False / True, heartbeats going on. */
export async function setNodeNetworkReady(dir: string, h: Host, ready: boolean): Promise<void> {
  const p = nodeRuntimePaths(dir, h.name);
  if (!ready) {
    if (existsSync(p.cniConf)) await rename(p.cniConf, p.cniConfParked);
    return;
  }
  // Written, not renamed back: containerd reloads on a write, rename or removal in its conf
  // dir but ignores a bare create, which is all a file moved in shows.
  if (!existsSync(p.cniConfParked)) return;
  await writeFile(p.cniConf, await readFile(p.cniConfParked, 'utf8'));
  await rm(p.cniConfParked, { force: true });
}

/** Waits (bounded) until each named Node shows `status` in its Ready condition. */
export async function waitNodesReady(
  kubeconfigPath: string,
  names: string[],
  status: 'True' | 'False' | 'Unknown',
  timeoutMs: number,
): Promise<void> {
  const core = kubeConfig(kubeconfigPath).makeApiClient(CoreV1Api);
  let seen: Record<string, string> = {};
  const ok = await waitFor(
    async () => {
      try {
        const list = await core.listNode();
        seen = {};
        for (const n of list.items)
          seen[n.metadata?.name ?? ''] =
            n.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'none';
        return names.every((n) => seen[n] === status);
      } catch {
        return false;
      }
    },
    timeoutMs,
    500,
  );
  if (!ok)
    throw new RuntimeError(
      `nodes not Ready=${status} within ${timeoutMs} ms: ${names.map((n) => `${n}=${seen[n] ?? 'missing'}`).join(', ')}`,
    );
}

/** Turns an OCI layout dir (`dir` or `dir:tag`) or an image archive into an archive that
 * `ctr images import` takes, named `name` (an OCI layout carries no registry name). */
export async function imageArchive(dir: string, source: string, name?: string): Promise<string> {
  const [path, tag] = source.includes(':') ? source.split(/:(?=[^:]*$)/) : [source, undefined];
  if (existsSync(source) && statSync(source).isFile()) return source;
  if (!path || !existsSync(join(path, 'index.json')))
    throw new RuntimeError(`${source} is neither an image archive nor an OCI layout dir`);
  if (!name) throw new RuntimeError(`an OCI layout needs --name <image name> to import ${source}`);
  const images = join(dir, 'images');
  await mkdir(images, { recursive: true });
  const out = join(await mkdtemp(join(images, 'img-')), 'image.tar');
  const ref = tag ? `oci:${path}:${tag}` : `oci:${path}`;
  await exec('skopeo', ['copy', '--quiet', ref, `docker-archive:${out}:${name}`], 300_000);
  return out;
}

/** Imports an image into every running node's containerd, and records it so a revived
 * node gets it too; returns the archive path. */
export async function loadImage(
  s: LabState,
  hosts: Host[],
  bins: RuntimeBinaries,
  source: string,
  name?: string,
) {
  const archive = await imageArchive(s.dir, source, name);
  for (const h of hosts)
    await ctr(bins, nodeRuntimePaths(s.dir, h.name).containerdSocket, ['images', 'import', archive]);
  s.images = [...new Set([...(s.images ?? []), archive])];
  return archive;
}
