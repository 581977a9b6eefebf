// Long-lived lab processes: spawned detached (they outlive the CLI), stdout+stderr into a
// log file, found again by pid or — after a crash lost the pids — by a command line that
// mentions the lab dir.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';

export function alive(pid: number | undefined): boolean {
  if (!pid || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers signal 0; it is not alive for our purposes.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Starts `cmd args` detached, logging to `logFile`; optionally inside a lab namespace. */
export function spawnDetached(
  cmd: string,
  args: string[],
  logFile: string,
  netns?: string,
  /** enters something first (a memory cgroup) and execs: outside `ip netns exec`, which mounts a sysfs of the namespace's own without /sys/fs/cgroup */
  wrap: (cmd: string, args: string[]) => [string, string[]] = (c, a) => [c, a],
): number {
  const fd = openSync(logFile, 'a');
  try {
    // `ip netns exec` execs the command in place, so the pid is the program's own.
    const [file, argv] = wrap(
      ...(netns
        ? (['ip', ['netns', 'exec', netns, cmd, ...args]] as [string, string[]])
        : ([cmd, args] as [string, string[]])),
    );
    const child = spawn(file, argv, { stdio: ['ignore', fd, fd], detached: true });
    child.unref();
    if (!child.pid) throw new Error(`could not start ${cmd}`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

export function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

/** This process and its ancestors: never killed by a sweep, whatever their args say. */
export function selfAndAncestors(): Set<number> {
  const out = new Set<number>();
  for (let pid = process.pid, i = 0; pid > 1 && i < 64; pid = parentOf(pid), i++) out.add(pid);
  return out;
}

/** True when an argument is `dir` or a path inside it (not a sibling like `dir-bench`). */
export function mentionsDir(args: string[], dir: string): boolean {
  return args.some((a) => a === dir || a.includes(`${dir}/`) || a.endsWith(`=${dir}`));
}

/** Pids (other than ours and our ancestors') whose command line mentions `dir`. */
export function processesMentioning(dir: string): number[] {
  const spare = selfAndAncestors();
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || spare.has(pid)) continue;
    if (mentionsDir(cmdline(pid), dir)) out.push(pid);
  }
  return out;
}

/** SIGTERM, up to `graceMs` to exit, then SIGKILL; returns once gone (bounded). */
export async function stopPid(pid: number | undefined, graceMs = 3000): Promise<void> {
  if (!pid || !alive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let waited = 0; waited < graceMs && alive(pid); waited += 50) await sleep(50);
  if (alive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // exited just now
    }
  }
  for (let i = 0; i < 100 && alive(pid); i++) await sleep(20);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` every `stepMs` until true or `timeoutMs` passed; returns the last answer. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, stepMs = 100) {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 100_000; i++) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(stepMs);
  }
  return false;
}
