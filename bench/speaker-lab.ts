/**
 * The lab as the speaker benchmark uses it: taken under the shared lab lock (one lab per
 * machine; others' e2e runs need it too), up with 3 nodes and IPv6, always taken down again;
 * and what the benchmark reads from it: who announces which IP (L2Announcement objects),
 * each speaker's /metrics, pid, RSS and log.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ClusterDriver, labCli, labDriverAt, sh } from '../lab/cluster-driver.js';
import { type Api, api } from '../lab/speaker-scenarios.js';
import { canonicalIp } from '../speaker/frame.js';

export const LAB_LOCK = '/tmp/hlb-lab.flock';
export const NODES = ['node1', 'node2', 'node3'];
export const LAB_DIR = process.env.HERALDLB_BENCH_LAB_DIR || join(tmpdir(), 'heraldlb-lab-speaker-bench');
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Holds `flock LAB_LOCK` in a child until released (or until this process dies: EOF frees it). */
async function takeLabLock(waitS = 1800): Promise<{ release(): Promise<void> }> {
  const child = spawn('flock', ['-w', String(waitS), LAB_LOCK, 'sh', '-c', 'echo locked; read _'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<number>((r) => child.once('exit', (c) => r(c ?? 1)));
  const got = await new Promise<boolean>((resolve) => {
    child.stdout.setEncoding('utf8').on('data', (s: string) => s.includes('locked') && resolve(true));
    void exited.then(() => resolve(false));
  });
  if (!got) throw new Error(`could not take the lab lock ${LAB_LOCK} within ${waitS} s`);
  return {
    async release() {
      child.stdin.end();
      await Promise.race([exited, sleep(5000)]);
    },
  };
}

export interface Session {
  d: ClusterDriver;
  a: Api;
  dir: string;
}

/**
 * Runs `fn` on a fresh 3-node IPv6 lab, under the lab lock, and takes the lab down after.
 * Throws when not root or when the lab cannot start: a benchmark never passes by skipping.
 */
export async function withLab<T>(what: string, fn: (s: Session) => Promise<T>): Promise<T> {
  if (process.getuid?.() !== 0) throw new Error('the speaker benchmark needs root (network namespaces)');
  const lock = await takeLabLock();
  const t0 = Date.now();
  try {
    const { stdout } = await sh('ip', ['netns', 'list']);
    if (/^hlb-lan\b/m.test(stdout) && !existsSync(join(LAB_DIR, 'state.json')))
      throw new Error('another lab is up on this machine (hlb-lan exists, not ours); it must go down first');
    await labCli(LAB_DIR, 'down');
    const up = await labCli(LAB_DIR, 'up', '--nodes', String(NODES.length), '--ipv6');
    if (up.code !== 0) throw new Error(`lab up failed (${up.code}):\n${up.stdout}\n${up.stderr}`);
    if (/slot empty|dead/.test(up.stdout)) throw new Error(`lab up without a running speaker:\n${up.stdout}`);
    process.stderr.write(`[speaker bench] ${what}: lab up in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    const d = labDriverAt(() => LAB_DIR, NODES.length);
    return await fn({ d, a: api(d), dir: LAB_DIR });
  } finally {
    const down = await labCli(LAB_DIR, 'down');
    if (down.code !== 0)
      process.stderr.write(`[speaker bench] lab down failed: ${down.stdout}${down.stderr}\n`);
    await lock.release();
    process.stderr.write(`[speaker bench] ${what}: lab held ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  }
}

/** The speaker's pid on `node` as the lab recorded it (the program's own: `ip netns exec` execs). */
export function speakerPid(dir: string, node: string): number | undefined {
  const s = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as {
    pids: { speakers: Record<string, number> };
  };
  return s.pids.speakers[node];
}

/** VmRSS of a pid (MiB), or NaN when it is gone. */
export function vmRssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** True once the process is gone or a zombie. */
export function gone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

/** Resolves with Date.now() at the moment `pid` is seen gone (polled every ms; bounded). */
export function deathOf(pid: number, timeoutMs = 20_000): Promise<number | undefined> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const iv = setInterval(() => {
      if (gone(pid)) {
        clearInterval(iv);
        resolve(Date.now());
      } else if (Date.now() - t0 > timeoutMs) {
        clearInterval(iv);
        resolve(undefined);
      }
    }, 1);
  });
}

/** One speaker's /metrics as `name{labels}` -> value (empty when it does not answer). */
export async function metricsOf(node: string): Promise<Map<string, number>> {
  const r = await sh('ip', [
    'netns',
    'exec',
    `hlb-${node}`,
    'curl',
    '-s',
    '-m',
    '3',
    'http://127.0.0.1:7473/metrics',
  ]);
  const out = new Map<string, number>();
  if (r.code !== 0) return out;
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith('#') || !line.trim()) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

export const metric = (m: Map<string, number>, key: string): number => m.get(key) ?? 0;

interface AnnouncementObj {
  status?: { node?: string; ips?: string[] };
}

/** ip -> the nodes whose L2Announcement lists it, over every namespace. */
export async function ownersByIp(a: Api): Promise<Map<string, string[]>> {
  const list = (await a.custom.listClusterCustomObject({
    group: 'heraldlb.io',
    version: 'v1beta1',
    plural: 'l2announcements',
  })) as { items: AnnouncementObj[] };
  const out = new Map<string, string[]>();
  for (const it of list.items) {
    const node = it.status?.node;
    if (!node) continue;
    for (const raw of it.status?.ips ?? []) {
      const ip = canonicalIp(raw) ?? raw;
      out.set(ip, [...(out.get(ip) ?? []), node].sort());
    }
  }
  return out;
}

/** node -> how many IPs it alone announces. */
export function countByNode(owners: Map<string, string[]>): Map<string, number> {
  const out = new Map<string, number>(NODES.map((n) => [n, 0]));
  for (const nodes of owners.values())
    if (nodes.length === 1) out.set(nodes[0] as string, (out.get(nodes[0] as string) ?? 0) + 1);
  return out;
}

/** The speaker's log lines on `node` (pino JSON) at or after `sinceMs`. */
export function speakerLog(dir: string, node: string, sinceMs: number): { msg: string; time: number }[] {
  const file = join(dir, 'logs', `speaker-${node}.log`);
  if (!existsSync(file)) return [];
  const out: { msg: string; time: number }[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const l = JSON.parse(line) as { msg: string; time: number };
      if (l.time >= sinceMs) out.push(l);
    } catch {
      // a partial last line
    }
  }
  return out;
}
