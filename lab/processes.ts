// The lab's long-lived processes and the two product slots. Each is a real process with
// its log in `<dir>/logs/<name>.log`; the controller runs in the host namespace with the
// admin kubeconfig, each speaker in its node namespace with the node kubeconfig.
import { existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONTROLLER_NODE_FLAGS } from '../controller/launch.js';
import { SPEAKER_NODE_FLAGS, SPEAKER_NODE_OPTIONS } from '../image/programs.js';
import { memoryCgroup } from './memory-cgroup.js';
import { alive, cmdline, mentionsDir, spawnDetached, stopPid, waitFor } from './procs.js';
import { KUBERNETES_SERVICE_IP, KUBERNETES_SERVICE_PORT } from './runtime-config.js';
import { type LabState, labPaths } from './state.js';
import type { Host } from './topology.js';

/** `<root>/dist`: this file is `<root>/dist/lab/processes.js`. */
function distDir(): string {
  return dirname(dirname(fileURLToPath(import.meta.url)));
}

export const slotFiles = () => ({
  controller: join(distDir(), 'controller', 'main.js'),
  speaker: join(distDir(), 'speaker', 'main.js'),
});

/** A recorded pid that is still one of ours (pids get reused after a crash). */
export function ours(pid: number | undefined, dir: string): boolean {
  return alive(pid) && mentionsDir(cmdline(pid ?? 0), dir);
}

export function ensureKeeper(s: LabState): void {
  if (ours(s.pids.keeper, s.dir)) return;
  const p = labPaths(s.dir);
  s.pids.keeper = spawnDetached(
    process.execPath,
    [join(distDir(), 'lab', 'keeper.js'), '--dir', s.dir],
    p.log('keeper'),
  );
}

export function ensureAgent(s: LabState, h: Host): void {
  if (ours(s.pids.agents[h.name], s.dir)) return;
  const p = labPaths(s.dir);
  rmSync(p.agentReady(h.name), { force: true });
  const script = join(distDir(), 'lab', 'node-agent.js');
  s.pids.agents[h.name] = spawnDetached(
    process.execPath,
    [script, '--dir', s.dir, '--node', h.name].concat(
      s.runtime ? ['--service-address', `${KUBERNETES_SERVICE_IP}:${KUBERNETES_SERVICE_PORT}`] : [],
    ),
    p.log(`agent-${h.name}`),
    h.netns,
  );
}

/** Waits (bounded) until each agent has its HTTP server and relay listening. */
export async function waitAgents(s: LabState, hosts: Host[], timeoutMs = 15_000): Promise<void> {
  const p = labPaths(s.dir);
  const ok = await waitFor(() => hosts.every((h) => existsSync(p.agentReady(h.name))), timeoutMs);
  if (!ok) {
    const late = hosts.filter((h) => !existsSync(p.agentReady(h.name))).map((h) => h.name);
    throw new Error(`node agents not ready after ${timeoutMs} ms: ${late.join(', ')} (see ${p.logs})`);
  }
}

export type SlotState =
  | { state: 'empty'; file: string }
  | { state: 'running' | 'dead'; pid: number; log: string };

/** Starts the controller if its program is built; returns what the slot holds. */
export function ensureController(s: LabState): SlotState {
  const file = slotFiles().controller;
  const p = labPaths(s.dir);
  if (!existsSync(file)) return { state: 'empty', file };
  if (!ours(s.pids.controller, s.dir)) {
    s.pids.controller = spawnDetached(
      process.execPath,
      // Loopback only: the lab never opens ports on the host's own interfaces.
      [...CONTROLLER_NODE_FLAGS, file, '--kubeconfig', p.kubeconfig, '--metrics-addr', '127.0.0.1:7472'],
      p.log('controller'),
    );
  }
  return { state: 'running', pid: s.pids.controller ?? 0, log: p.log('controller') };
}

export function ensureSpeaker(s: LabState, h: Host): SlotState {
  const file = slotFiles().speaker;
  const p = labPaths(s.dir);
  if (!existsSync(file)) return { state: 'empty', file };
  if (!ours(s.pids.speakers[h.name], s.dir)) {
    s.pids.speakers[h.name] = spawnDetached(
      // The image runs Node 24 and this machine 20: the speaker benchmark measures its memory
      // on the image's runtime (`HERALDLB_LAB_NODE=$(bash lab/bin/node24.sh)`).
      process.env.HERALDLB_LAB_NODE || process.execPath,
      [
        ...SPEAKER_NODE_FLAGS, // as the image starts it (with the chart's NODE_OPTIONS below)
        ...SPEAKER_NODE_OPTIONS.split(' '),
        // Experiments only (the speaker bench's memory rows): more Node flags, e.g.
        // `--heapsnapshot-signal=SIGUSR2`; what ships is the two lists above.
        ...(process.env.HERALDLB_LAB_SPEAKER_NODE_ARGS ?? '').split(' ').filter(Boolean),
        file,
        '--kubeconfig',
        p.nodeKubeconfig,
        '--node-name',
        h.name,
        '--key-file',
        p.heartbeatKeys,
        // Loopback of the node's own namespace: reachable with `lab exec <node> curl`.
        '--metrics-addr',
        '127.0.0.1:7473',
      ],
      p.log(`speaker-${h.name}`),
      h.netns,
      speakerLimit(h.name),
    );
  }
  return { state: 'running', pid: s.pids.speakers[h.name] ?? 0, log: p.log(`speaker-${h.name}`) };
}

/** Graceful stop (SIGTERM, then SIGKILL after the grace): a speaker leaving on purpose. */
export async function stopSpeaker(s: LabState, node: string): Promise<boolean> {
  const pid = s.pids.speakers[node];
  if (!ours(pid, s.dir)) return false;
  await stopPid(pid, 5000);
  delete s.pids.speakers[node];
  return true;
}

export function slotState(pid: number | undefined, dir: string, file: string, log: string): SlotState {
  if (pid) return { state: ours(pid, dir) ? 'running' : 'dead', pid, log };
  return existsSync(file) ? { state: 'dead', pid: 0, log } : { state: 'empty', file };
}

/** The memory cgroup a lab speaker runs in when HERALDLB_LAB_SPEAKER_MEMORY_MIB is set. */
export const speakerCgroupName = (node: string) => `heraldlb-lab-speaker-${node}`;

/**
 * With HERALDLB_LAB_SPEAKER_MEMORY_MIB, each speaker starts in a memory cgroup of that limit,
 * as the chart's DaemonSet runs it under `resources.limits.memory`: what the kernel charges
 * (and OOM-kills at) is then measured, not only RSS, which counts Node's shared binary pages.
 */
function speakerLimit(node: string): (cmd: string, args: string[]) => [string, string[]] {
  const mib = Number(process.env.HERALDLB_LAB_SPEAKER_MEMORY_MIB ?? 0);
  if (!mib) return (cmd, args) => [cmd, args];
  const g = memoryCgroup(mib, speakerCgroupName(node));
  if ('why' in g) throw new Error(`HERALDLB_LAB_SPEAKER_MEMORY_MIB=${mib}: no memory cgroup: ${g.why}`);
  return g.wrap;
}
