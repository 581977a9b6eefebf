/**
 * A memory cgroup for a benchmarked controller or a lab speaker, standing in for its
 * container's memory limit. It matters beyond enforcement: Node sizes V8's heap from the memory it sees (the
 * cgroup limit when there is one, else the host's RAM), and on Node 22+ an unlimited 24 GiB
 * host gets a 192 MiB young generation where a 256 MiB container gets 3 MiB. A pod always
 * runs under the limit its chart sets, so that is what the memory figures are measured under.
 *
 * cgroup v1 (a `memory` hierarchy) and v2 (the unified one, with the memory controller
 * delegated to our group) are both handled; with neither, the caller is told why.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Turns a command into one that first enters something (a cgroup), then execs it. */
export type Wrap = (cmd: string, args: string[]) => [string, string[]];

export interface MemoryCgroup {
  readonly dir: string;
  readonly limitMiB: number;
  /** Moves the command into the group before exec'ing it. */
  wrap: Wrap;
  remove(): void;
}

/** This process's path in a hierarchy, from /proc/self/cgroup (`id:controllers:path`). */
function ownPath(match: (controllers: string) => boolean): string | undefined {
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const [, controllers, path] = line.split(':');
    if (controllers !== undefined && path !== undefined && match(controllers)) return path;
  }
  return undefined;
}

function candidates(): { dir: string; limitFile: string }[] {
  const out: { dir: string; limitFile: string }[] = [];
  const v1 = ownPath((c) => c.split(',').includes('memory'));
  if (v1 !== undefined && existsSync('/sys/fs/cgroup/memory')) {
    out.push({ dir: join('/sys/fs/cgroup/memory', v1), limitFile: 'memory.limit_in_bytes' });
  }
  const v2 = ownPath((c) => c === '');
  for (const root of ['/sys/fs/cgroup', '/sys/fs/cgroup/unified']) {
    const dir = join(root, v2 ?? '/');
    if (v2 !== undefined && readIf(join(dir, 'cgroup.subtree_control')).includes('memory')) {
      out.push({ dir, limitFile: 'memory.max' });
    }
  }
  return out;
}

function readIf(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Creates the group (a child of ours) or returns the reasons it could not. */
export function memoryCgroup(limitMiB: number, name: string): MemoryCgroup | { why: string } {
  const errors: string[] = [];
  for (const c of candidates()) {
    const dir = join(c.dir, name);
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, c.limitFile), String(limitMiB * 1024 * 1024));
    } catch (e) {
      errors.push(`${dir}: ${(e as Error).message}`);
      continue;
    }
    return {
      dir,
      limitMiB,
      wrap: (cmd, args) => [
        '/bin/sh',
        ['-c', `echo $$ > '${dir}/cgroup.procs' && exec "$0" "$@"`, cmd, ...args],
      ],
      remove: () => {
        try {
          rmdirSync(dir); // fails while a process is still inside; the caller stops them first
        } catch {
          // left for the next run to reuse: same name, same limit written again
        }
      },
    };
  }
  return { why: errors.length > 0 ? errors.join('; ') : 'no memory cgroup hierarchy this process can write' };
}

/** The group of that name memoryCgroup made, if it exists. */
export function findMemoryCgroup(name: string): string | undefined {
  return candidates()
    .map((c) => join(c.dir, name))
    .find((dir) => existsSync(dir));
}

/** Starts a group's peak over (cgroup v1; v2's memory.peak resets only per open file). */
export function resetPeak(dir: string): void {
  try {
    writeFileSync(join(dir, 'memory.max_usage_in_bytes'), '0');
  } catch {
    // v2, or not ours: the peak then covers the group's whole life
  }
}

/** Removes empty groups of that name wherever memoryCgroup could have made them. */
export function removeMemoryCgroups(name: string): void {
  for (const c of candidates()) {
    try {
      rmdirSync(join(c.dir, name));
    } catch {
      // absent, or a process is still inside (the caller stops them first)
    }
  }
}

/** What the kernel charged to a group: usage now, its peak, and OOM kills (v1 and v2). */
export interface CgroupMemory {
  currentMiB: number;
  peakMiB: number;
  /** anonymous memory charged (v1 `rss`, v2 `anon`) */
  anonMiB: number;
  /** page cache charged (v1 `cache`, v2 `file`) */
  fileMiB: number;
  oomKills: number;
}

const MIB = 2 ** 20;
const num = (text: string, key: string) =>
  Number(new RegExp(`^${key} (\\d+)$`, 'm').exec(text)?.[1] ?? Number.NaN);

export function cgroupMemory(dir: string): CgroupMemory {
  if (existsSync(join(dir, 'memory.usage_in_bytes'))) {
    const stat = readIf(join(dir, 'memory.stat'));
    return {
      currentMiB: Number(readIf(join(dir, 'memory.usage_in_bytes'))) / MIB,
      peakMiB: Number(readIf(join(dir, 'memory.max_usage_in_bytes'))) / MIB,
      anonMiB: num(stat, 'rss') / MIB,
      fileMiB: num(stat, 'cache') / MIB,
      oomKills: num(readIf(join(dir, 'memory.oom_control')), 'oom_kill'),
    };
  }
  const stat = readIf(join(dir, 'memory.stat'));
  return {
    currentMiB: Number(readIf(join(dir, 'memory.current'))) / MIB,
    peakMiB: Number(readIf(join(dir, 'memory.peak'))) / MIB,
    anonMiB: num(stat, 'anon') / MIB,
    fileMiB: num(stat, 'file') / MIB,
    oomKills: num(readIf(join(dir, 'memory.events')), 'oom_kill'),
  };
}
