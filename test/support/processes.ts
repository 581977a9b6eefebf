// The kernel's view of a container's process, read from /proc on the host: what the chart's
// securityContext turned into (user, capabilities, no_new_privs, seccomp, a read-only root).
import { readdirSync, readFileSync } from 'node:fs';
import { sh } from './lab.js';

export interface ProcessFacts {
  pid: number;
  uid: number;
  /** CapEff as a bit set. */
  capEff: bigint;
  noNewPrivs: boolean;
  /** 0 off, 1 strict, 2 filter. */
  seccomp: number;
  readOnlyRoot: boolean;
}

/** CAP_NET_RAW's bit in the capability sets (linux/capability.h). */
export const CAP_NET_RAW = 1n << 13n;

function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return []; // gone meanwhile
  }
}

export function factsOf(pid: number): ProcessFacts {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => {
    const m = status.match(new RegExp(`^${name}:\\s+(\\S+)`, 'm'));
    if (!m) throw new Error(`/proc/${pid}/status has no ${name}`);
    return m[1] as string;
  };
  // mountinfo: id parent major:minor root mount-point options …
  const root = readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[4] === '/')
    .at(-1);
  return {
    pid,
    uid: Number(field('Uid')),
    capEff: BigInt(`0x${field('CapEff')}`),
    noNewPrivs: field('NoNewPrivs') === '1',
    seccomp: Number(field('Seccomp')),
    readOnlyRoot: (root?.[5] ?? '').split(',').includes('ro'),
  };
}

/** Host pids whose argv contains every one of `words`, among `pids` (default: all). */
export function pidsWith(words: string[], pids?: number[]): number[] {
  const all =
    pids ??
    readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .map(Number);
  return all.filter((p) => {
    const argv = cmdline(p);
    return words.every((w) => argv.includes(w) || argv.some((a) => a.startsWith(w)));
  });
}

/** Pids in a lab node's network namespace (hostNetwork containers and the node's own processes). */
export async function pidsInNode(node: string): Promise<number[]> {
  const r = await sh('ip', ['netns', 'pids', `hlb-${node}`]);
  return r.stdout.split('\n').filter(Boolean).map(Number);
}
