// Runs the topology's steps with `ip`. Every command here is scoped to a lab namespace:
// `ip netns add|del hlb-…`, `ip -n hlb-… …` or `ip netns exec hlb-… …` — nothing ever
// touches the host namespace's interfaces, routes or sysctls.
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { isLabNetns, NETNS_PREFIX, type Step, stepArgv } from './topology.js';

const run = promisify(execFile);

export class LabCommandError extends Error {
  readonly code = 'LAB_COMMAND';
  constructor(message: string, cause: unknown) {
    super(message, { cause });
  }
}

async function ip(args: string[], timeoutMs = 10_000): Promise<string> {
  try {
    const { stdout } = await run('ip', args, { timeout: timeoutMs, maxBuffer: 4 << 20 });
    return stdout;
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? '').trim();
    throw new LabCommandError(`ip ${args.join(' ')}: ${stderr || (err as Error).message}`, err);
  }
}

export async function runStep(s: Step): Promise<void> {
  const { args } = stepArgv(s);
  await ip(args);
}

export async function runSteps(steps: Step[]): Promise<void> {
  for (const s of steps) await runStep(s);
}

/** Names of all network namespaces on the machine (ours are filtered by the caller). */
export async function listNetns(): Promise<string[]> {
  const out = await ip(['netns', 'list']);
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n !== '');
}

export async function labNetnsPresent(): Promise<string[]> {
  return (await listNetns()).filter(isLabNetns);
}

/** Pids of the processes living in a lab namespace. */
export async function netnsPids(netns: string): Promise<number[]> {
  guard(netns);
  const out = await ip(['netns', 'pids', netns]).catch(() => '');
  return out
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((p) => Number.isInteger(p) && p > 0);
}

/** SIGKILLs every process in the namespace: a power cut, nothing gets to say goodbye. */
export async function killNetnsProcesses(netns: string): Promise<number[]> {
  const pids = await netnsPids(netns);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return pids;
}

export async function deleteNetns(netns: string): Promise<void> {
  guard(netns);
  await killNetnsProcesses(netns);
  await ip(['netns', 'del', netns]).catch((err) => {
    // Deleted between the list and now: fine; anything else is a real failure.
    if (!/No such file|not exist/i.test((err as Error).message)) throw err;
  });
}

/** Whether a link exists inside a lab namespace. */
export async function linkExists(netns: string, link: string): Promise<boolean> {
  guard(netns);
  try {
    await ip(['-n', netns, 'link', 'show', 'dev', link]);
    return true;
  } catch {
    return false;
  }
}

// Root that lost its capabilities (a container, setpriv) cannot make namespaces either:
// CAP_NET_ADMIN (bit 12) and CAP_SYS_ADMIN (bit 21) in the effective set are what counts.
function hasAdminCaps(): boolean {
  try {
    const hex = /CapEff:\s*([0-9a-f]+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
    const eff = BigInt(`0x${hex}`);
    return (eff & (1n << 12n)) !== 0n && (eff & (1n << 21n)) !== 0n;
  } catch {
    return true; // no /proc: let `ip netns` below answer
  }
}

/** Whether `ip netns` is usable here (root, iproute2): a sentence saying why not, or ''. */
export function netnsUnusable(): string {
  if (process.getuid?.() !== 0 || !hasAdminCaps()) {
    return 'the lab needs root (it creates network namespaces); run it with sudo';
  }
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore', timeout: 5000 });
  } catch {
    return '`ip netns` is not usable here (install iproute2)';
  }
  return '';
}

function guard(netns: string): void {
  if (!netns.startsWith(NETNS_PREFIX)) throw new Error(`refusing to act on a non-lab namespace: ${netns}`);
}
