/**
 * 1,000 VIPs: 200 IPv4 (203.0.113.0/24; the lab's IPv4 ClusterIP range holds only 254 Services)
 * and 800 IPv6 (the lab's bulk range). The speakers run on HERALDLB_LAB_NODE (Node 24, the
 * image's runtime). Measured: each speaker's RSS holding ~1/3 of them; the takeover when the
 * node holding most stops gracefully and when it is killed, from a capture on the client (first
 * to last new owner's gratuitous ARP / unsolicited NA, one per moved IP: its first); and the RSS
 * of the one speaker left holding all 1,000.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Service } from '@kubernetes/client-node';
import type { NodeFault } from '../lab/cluster-driver.js';
import { type CgroupMemory, cgroupMemory, findMemoryCgroup, resetPeak } from '../lab/memory-cgroup.js';
import { speakerCgroupName } from '../lab/processes.js';
import { advertise, pool, until } from '../lab/speaker-scenarios.js';
import { announcements, firstAnnouncements, readPcap } from './pcap.js';
import { POOL } from './speaker-failover.js';
import {
  countByNode,
  deathOf,
  metric,
  metricsOf,
  NODES,
  ownersByIp,
  type Session,
  sleep,
  speakerPid,
  vmRssMiB,
} from './speaker-lab.js';

export const BULK_V4 = 200;
export const BULK_V6 = 800;
const SETTLE_MS = 20_000;

export interface Memory {
  node: string;
  owned: number;
  vmRssMiB: number;
  metricRssMiB: number;
  heapUsedMiB: number;
  /** /proc/pid/status: anonymous and file-backed resident pages (VmRSS = their sum + shmem) */
  rssAnonMiB: number;
  rssFileMiB: number;
  /** /proc/pid/stat majflt: pages read back from disk (thrashing under a tight limit) */
  majorFaults: number;
  /** what the kernel charged to the speaker's memory cgroup, when it ran in one */
  cgroup?: CgroupMemory;
  peakMiB?: number;
}

function procStatus(pid: number, key: string): number {
  try {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

function majorFaults(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[9]);
  } catch {
    return Number.NaN;
  }
}

export interface Takeover {
  fault: NodeFault;
  node: string;
  moved: number;
  seen: number;
  /** first -> last new owner's first announcement per moved IP (ms) */
  spreadMs: number;
  faultToFirstMs: number;
  faultToLastMs: number;
  /** from the old speaker process gone (polled every ms) to the last */
  deathToLastMs: number | undefined;
  /** ms after the first, by which half / 99 % of moved IPs were announced */
  p50Ms: number;
  p99Ms: number;
  /** per new owner: its IPs, its first after the overall first, its own first -> last (ms) */
  perOwner: { node: string; ips: number; startMs: number; spreadMs: number }[];
}

function bulkService(i: number): V1Service {
  const v6 = i >= BULK_V4;
  return {
    metadata: {
      name: `bulk-${i}`,
      namespace: 'default',
      annotations: { 'heraldlb.io/address-pool': 'bulk' },
    },
    spec: {
      type: 'LoadBalancer',
      allocateLoadBalancerNodePorts: false,
      ports: [{ port: 80, protocol: 'TCP' }],
      ...(v6 ? { ipFamilies: ['IPv6'], ipFamilyPolicy: 'SingleStack' } : {}),
    },
  };
}

async function createBulk({ a }: Session): Promise<void> {
  // The phase's default pool holds 203.0.113.0/24 too: an overlapping pool would not be used.
  await a.custom.deleteClusterCustomObject({
    group: 'heraldlb.io',
    version: 'v1beta1',
    plural: 'ipaddresspools',
    name: POOL,
  });
  await pool(a, 'bulk', ['203.0.113.0/24', '2001:db8:1::1:0/112']);
  await advertise(a, 'bulk', { ipAddressPools: ['bulk'] });
  const total = BULK_V4 + BULK_V6;
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      for (let k = 1; ; k++) {
        try {
          await a.core.createNamespacedService({ namespace: 'default', body: bulkService(i) });
          break;
        } catch (err) {
          if (k >= 10 || (err as { code?: number }).code === 409) throw err;
          await sleep(100 * k);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

/** Waits until `want` IPs are each announced by exactly one node, `ok` on the counts. */
async function announced(
  s: Session,
  want: number,
  ok: (c: Map<string, number>) => boolean,
  ms: number,
  log?: (l: string) => void,
) {
  let lastLog = Date.now();
  return until(
    `${want} IPs announced as wanted`,
    async () => {
      const owners = await ownersByIp(s.a);
      const single = [...owners.values()].filter((o) => o.length === 1).length;
      const c = countByNode(owners);
      if (log && Date.now() - lastLog > 10_000) {
        lastLog = Date.now();
        const svcs = await s.a.core.listNamespacedService({ namespace: 'default' });
        const withIp = svcs.items.filter((x) => x.status?.loadBalancer?.ingress?.[0]?.ip).length;
        log(
          `  ${withIp} Services with an IP; ${owners.size} IPs in L2Announcements, ${single} with one node; ${JSON.stringify([...c])}`,
        );
      }
      return single === want && ok(c) ? owners : undefined;
    },
    ms,
    500,
  );
}

function limited(node: string): CgroupMemory | undefined {
  if (!Number(process.env.HERALDLB_LAB_SPEAKER_MEMORY_MIB ?? 0)) return undefined;
  const dir = findMemoryCgroup(speakerCgroupName(node));
  return dir ? cgroupMemory(dir) : undefined;
}

async function memory(s: Session, nodes: string[], counts: Map<string, number>): Promise<Memory[]> {
  const out: Memory[] = [];
  for (const node of nodes) {
    const pid = speakerPid(s.dir, node) as number;
    const m = await metricsOf(node);
    out.push({
      node,
      owned: counts.get(node) ?? 0,
      vmRssMiB: vmRssMiB(pid),
      metricRssMiB: metric(m, 'process_resident_memory_bytes') / 2 ** 20,
      heapUsedMiB: metric(m, 'nodejs_heap_size_used_bytes') / 2 ** 20,
      rssAnonMiB: procStatus(pid, 'RssAnon'),
      rssFileMiB: procStatus(pid, 'RssFile'),
      majorFaults: majorFaults(pid),
      cgroup: limited(node),
    });
  }
  return out;
}

async function capture(file: string): Promise<ChildProcess> {
  rmSync(file, { force: true });
  const filter = 'arp or (icmp6 and ip6[40] == 136)';
  const p = spawn(
    'ip',
    [
      'netns',
      'exec',
      'hlb-client',
      'tcpdump',
      '-i',
      'eth0',
      '-U',
      '-B',
      '16384',
      '-s',
      '256',
      '-w',
      file,
      filter,
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('tcpdump did not start listening')), 15_000);
    p.stderr?.setEncoding('utf8').on('data', (s: string) => {
      if (s.includes('listening on')) {
        clearTimeout(t);
        resolve();
      }
    });
    p.once('exit', (c) => reject(new Error(`tcpdump exited ${c}`)));
  });
  return p;
}

async function takeover(
  s: Session,
  fault: 'stop-speaker' | 'kill-node',
  log: (l: string) => void,
): Promise<Takeover> {
  const total = BULK_V4 + BULK_V6;
  const before = await ownersByIp(s.a);
  const counts = countByNode(before);
  const node = [...counts].sort((x, y) => y[1] - x[1])[0]?.[0] as string;
  const moved = new Set([...before].filter(([, o]) => o[0] === node).map(([ip]) => ip));
  const file = join(s.dir, `takeover-${fault}.pcap`);
  const tcpdump = await capture(file);
  await sleep(1000);
  const pid = speakerPid(s.dir, node) as number;
  const death = deathOf(pid);
  const at = Date.now();
  await s.d.fault(fault, node);
  await announced(s, total, (c) => (c.get(node) ?? 0) === 0, 60_000).catch(() => undefined);
  await sleep(1000);
  tcpdump.kill('SIGINT');
  await new Promise((r) => tcpdump.once('exit', r));
  const died = await death;
  const newOwners = NODES.filter((n) => n !== node);
  const newMacs = new Set(newOwners.map((n) => s.d.macOf(n)));
  const firsts = [...firstAnnouncements(announcements(readPcap(readFileSync(file))), at, newMacs).values()]
    .filter((x) => moved.has(x.ip))
    .sort((x, y) => x.t - y.t);
  const first = firsts.map((x) => x.t);
  // Each new owner's own batch: how fast one speaker puts its share on the wire, apart from
  // when it learned of the death (which differs between speakers by their heartbeat phase
  // and by when each got a CPU).
  const perOwner = newOwners.map((n) => {
    const mac = s.d.macOf(n);
    const ts = firsts.filter((x) => x.mac === mac).map((x) => x.t); // sorted, as firsts
    return {
      node: n,
      ips: ts.length,
      startMs: (ts[0] ?? Number.NaN) - (first[0] ?? Number.NaN),
      spreadMs: (ts.at(-1) ?? Number.NaN) - (ts[0] ?? Number.NaN),
    };
  });
  const t0 = first[0] ?? Number.NaN;
  const tN = first.at(-1) ?? Number.NaN;
  const rank = (q: number) =>
    (first[Math.min(first.length - 1, Math.ceil(q * first.length) - 1)] ?? Number.NaN) - t0;
  const r: Takeover = {
    fault,
    node,
    moved: moved.size,
    seen: first.length,
    spreadMs: tN - t0,
    faultToFirstMs: t0 - at,
    faultToLastMs: tN - at,
    deathToLastMs: died === undefined ? undefined : tN - died,
    p50Ms: rank(0.5),
    p99Ms: rank(0.99),
    perOwner,
  };
  log(`takeover by ${fault} of ${node}: ${JSON.stringify(r)}`);
  // Back to three speakers, each with its share, before the next step.
  await s.d.fault(fault === 'kill-node' ? 'revive-node' : 'start-speaker', node);
  await announced(s, total, (c) => c.get(node) === counts.get(node), 90_000);
  return r;
}

/** Samples a pid's VmRSS every 100 ms until stopped; returns the peak (MiB). */
function peakRss(pid: number): { stop(): number } {
  let peak = 0;
  const iv = setInterval(() => {
    const v = vmRssMiB(pid);
    if (v > peak) peak = v;
  }, 100);
  return {
    stop() {
      clearInterval(iv);
      return peak;
    },
  };
}

/**
 * HERALDLB_BENCH_SPEAKER_HEAPSNAPSHOT=DIR, with the speakers started with
 * HERALDLB_LAB_SPEAKER_NODE_ARGS='--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=DIR': asks one
 * speaker for a V8 heap snapshot while it holds ~1/3 of the IPs, to see what its memory is.
 * Waits (bounded, 120 s) until the file stops growing. Give the speakers room (a larger
 * HERALDLB_BENCH_SPEAKER_MEMORY_MIB): writing a snapshot takes memory of its own.
 */
async function heapSnapshot(s: Session, node: string, dir: string, log: (l: string) => void): Promise<void> {
  const before = new Set(readdirSync(dir));
  process.kill(speakerPid(s.dir, node) as number, 'SIGUSR2');
  let last = -1;
  for (let i = 0; i < 120; i++) {
    await sleep(1000);
    const file = readdirSync(dir).find((f) => !before.has(f) && f.endsWith('.heapsnapshot'));
    const size = file ? statSync(join(dir, file)).size : -1;
    if (size > 0 && size === last) return log(`bulk: heap snapshot of ${node}: ${join(dir, file as string)}`);
    last = size;
  }
  log(`bulk: no complete heap snapshot from ${node} within 120 s`);
}

export async function bulk(s: Session, log: (l: string) => void) {
  const total = BULK_V4 + BULK_V6;
  const t0 = Date.now();
  await createBulk(s);
  const createdS = (Date.now() - t0) / 1000;
  await announced(s, total, () => true, 300_000, log);
  const announcedS = (Date.now() - t0) / 1000;
  log(
    `bulk: ${total} Services created in ${createdS.toFixed(1)} s, all announced at ${announcedS.toFixed(1)} s`,
  );
  await sleep(SETTLE_MS);
  const third = await memory(s, NODES, countByNode(await ownersByIp(s.a)));
  log(`memory with ~1/3 each: ${JSON.stringify(third)}`);
  const snapDir = process.env.HERALDLB_BENCH_SPEAKER_HEAPSNAPSHOT;
  if (snapDir) await heapSnapshot(s, NODES[0] as string, snapDir, log);
  const graceful = await takeover(s, 'stop-speaker', log);
  await sleep(5000);
  const kill = await takeover(s, 'kill-node', log);
  // All 1,000 on one speaker: the other two stop gracefully.
  const [keep, ...others] = NODES as [string, ...string[]];
  const keepGroup = findMemoryCgroup(speakerCgroupName(keep));
  if (keepGroup) resetPeak(keepGroup);
  const peak = peakRss(speakerPid(s.dir, keep) as number);
  let peakMiB = 0;
  let all: Memory[];
  try {
    for (const n of others) await s.d.fault('stop-speaker', n);
    // Its own count, not the status objects: a stopped speaker's objects are removed only as far
    // as its bounded goodbye got, the rest later by the new owner.
    await until(
      `${keep} announcing all ${total}`,
      async () => {
        const m = await metricsOf(keep);
        const owned =
          metric(m, 'heraldlb_speaker_owned_ips{family="IPv4"}') +
          metric(m, 'heraldlb_speaker_owned_ips{family="IPv6"}');
        return owned === total ? true : undefined;
      },
      120_000,
      500,
    );
    await sleep(SETTLE_MS);
    all = await memory(s, [keep], new Map([[keep, total]]));
  } finally {
    peakMiB = peak.stop(); // an interval left running would keep the bench alive after a failure
  }
  (all[0] as Memory).peakMiB = peakMiB;
  return { createdS, announcedS, third, graceful, kill, all };
}
