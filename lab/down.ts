// `lab down`: removes everything the lab made, whatever state it is in — a healthy lab, a
// half-built one, or one whose CLI, keeper or control plane was `kill -9`ed. It trusts
// nothing it cannot see: namespaces are found by name, processes by pid *and* by a
// command line that mentions the lab dir. Running it twice is fine.
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { stopControlPlaneAt } from './control-plane.js';
import { removeMemoryCgroups } from './memory-cgroup.js';
import { deleteNetns, labNetnsPresent } from './netns.js';
import { ours, speakerCgroupName } from './processes.js';
import { alive, processesMentioning, sleep } from './procs.js';
import { clearNodeRuntimes } from './runtime.js';
import { type LabState, labPaths, readState } from './state.js';

export interface DownReport {
  netns: string[];
  pids: number[];
  dirRemoved: boolean;
}

function recordedPids(s: LabState | undefined): number[] {
  if (!s) return [];
  const p = s.pids;
  const runtime = Object.values(p.runtime ?? {}).flatMap((r) => [r.kubelet, r.containerd]);
  return [
    p.keeper,
    p.controller,
    p.controllerManager,
    p.scheduler,
    ...Object.values(p.agents),
    ...Object.values(p.speakers),
    ...runtime,
  ].filter((x): x is number => typeof x === 'number' && x > 0);
}

/** SIGKILLs `pids` and waits (bounded) until they are gone; returns those it signalled. */
async function killAll(pids: number[]): Promise<number[]> {
  const hit: number[] = [];
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
      hit.push(pid);
    } catch {
      // gone already
    }
  }
  for (let i = 0; i < 100 && hit.some(alive); i++) await sleep(20);
  return hit;
}

export async function down(o: { dir: string; say: (line: string) => void }): Promise<DownReport> {
  let s: LabState | undefined;
  try {
    s = readState(o.dir);
  } catch {
    s = undefined; // a torn state file: the sweeps below still find everything
  }
  // Everything is thrown away, so nothing needs a graceful stop: SIGKILL is quick and sure.
  // The keeper first (it is in the recorded list), so nothing re-creates what goes away.
  const killed = await killAll(recordedPids(s).filter((pid) => ours(pid, o.dir)));
  // Node runtimes (--runtime) by their cgroups: containers need not mention the dir, nor
  // live in the node's network namespace.
  await clearNodeRuntimes(o.say);
  const netns = await labNetnsPresent();
  for (const ns of netns) await deleteNetns(ns);
  if (netns.length) o.say(`deleted namespaces ${netns.join(', ')}`);
  const cp = s?.controlPlane?.pids;
  killed.push(...(await killAll([cp?.apiserver ?? 0, cp?.etcd ?? 0].filter((pid) => ours(pid, o.dir)))));
  await stopControlPlaneAt(labPaths(o.dir).controlPlane);
  // Anything still mentioning the dir: processes of a lab whose state file was lost.
  for (let round = 0; round < 3; round++) {
    const left = processesMentioning(o.dir);
    if (left.length === 0) break;
    killed.push(...(await killAll(left)));
  }
  // Speakers' memory cgroups (HERALDLB_LAB_SPEAKER_MEMORY_MIB), empty now.
  for (const node of Object.keys(s?.nodes ?? {})) removeMemoryCgroups(speakerCgroupName(node));
  if (killed.length) o.say(`stopped processes ${[...new Set(killed)].join(', ')}`);
  const dirRemoved = existsSync(o.dir);
  await rm(o.dir, { recursive: true, force: true });
  if (dirRemoved) o.say(`removed ${o.dir}`);
  return { netns, pids: [...new Set(killed)], dirRemoved };
}
