/**
 * The speaker in the lab (`npm run bench -- speaker`, as root): three labs in turn, each under
 * the shared lab lock and taken down after (none held longer than ~15 minutes):
 * 1. failover as a client sees it: HERALDLB_BENCH_TRIALS (30) hard kills of the announcing
 *    node and as many graceful speaker stops (speaker-failover.ts);
 * 2. a soak with both cores busy, HERALDLB_BENCH_SOAK_S seconds (600): no false failovers
 *    (speaker-soak.ts);
 * 3. 1,000 VIPs on speakers running Node 24: takeover on the wire and RSS (speaker-bulk.ts).
 * HERALDLB_BENCH_SPEAKER_PHASES=failover,soak,bulk picks phases. Throws when not root or when
 * a lab cannot start.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BULK_V4, BULK_V6, bulk, type Memory, type Takeover } from './speaker-bulk.js';
import { benchPool, failoverTrials, type Trial } from './speaker-failover.js';
import { LAB_DIR, NODES, type Session, withLab } from './speaker-lab.js';
import { type Soak, soak } from './speaker-soak.js';
import { machineLine, median, quantile } from './stats.js';

const log = (l: string) => process.stderr.write(`[speaker bench] ${l}\n`);
const f = (n: number | undefined, d = 0) => (n === undefined || Number.isNaN(n) ? 'n/a' : n.toFixed(d));
const verdict = (ok: boolean) => (ok ? 'pass' : '**FAIL**');

interface Phase<T> {
  result: T;
  /** 1-minute load average, sampled every 5 s while the lab was up: mean, max. */
  load: [number, number];
  at: string;
}

async function phase<T>(what: string, fn: (s: Session) => Promise<T>): Promise<Phase<T>> {
  const loads: number[] = [];
  let at = '';
  let iv: NodeJS.Timeout | undefined;
  try {
    const result = await withLab(what, async (s) => {
      at = new Date().toISOString().slice(0, 16);
      loads.push(loadavg()[0] as number);
      iv = setInterval(() => loads.push(loadavg()[0] as number), 5000);
      await benchPool(s.a);
      return fn(s);
    });
    const mean = loads.reduce((x, y) => x + y, 0) / loads.length;
    return { result, load: [mean, Math.max(...loads)], at };
  } finally {
    clearInterval(iv);
  }
}

function failoverRows(kind: string, trials: Trial[], target: { p50?: number; p99: number }): string[] {
  const got = trials.filter((t) => t.outageMs !== undefined).map((t) => t.outageMs as number);
  const lost = trials.length - got.length;
  const q = (p: number) => quantile(got, p);
  const owners = NODES.map((n) => `${n} ${trials.filter((t) => t.owner === n).length}`).join(', ');
  const zero = got.filter((x) => x === 0).length;
  const ok = lost === 0 && q(0.99) <= target.p99 && (target.p50 === undefined || median(got) <= target.p50);
  const tgt = `${target.p50 !== undefined ? `p50 <= ${target.p50}, ` : ''}p99 <= ${target.p99}`;
  return [
    `| ${kind} | ${trials.length} | ${f(median(got))} | ${f(q(0.95))} | ${f(q(0.99))} | ${f(Math.max(...got))} | ${tgt} | ${verdict(ok)} |`,
    `| ... owners (trials each); trials with no failed attempt; not restored within the window | ${owners}; ${zero}; ${lost} | | | | | | |`,
  ];
}

function renderFailover(p: Phase<{ kill: Trial[]; stop: Trial[] }>): string {
  return [
    '| fault of the announcing node | trials | p50 (ms) | p95 | p99 | max | target (ms) | result |',
    '|---|---|---|---|---|---|---|---|',
    ...failoverRows('hard kill (`kill-node`: processes SIGKILLed, link down)', p.result.kill, {
      p50: 500,
      p99: 1000,
    }),
    ...failoverRows('graceful (`stop-speaker`: SIGTERM)', p.result.stop, { p99: 100 }),
    '',
    `Outage per trial: from the client's last success before its first failed attempt to its next success (fresh TCP connection + HTTP request every 20 ms, 100 ms deadline, from the client namespace); 0 = no attempt failed. ` +
      `Before each trial the previous node was brought back (\`revive-node\` / \`start-speaker\`) and had won its IP back, so past the 3 s hold-down; ` +
      `median time from that command to the IP back on its node: kill ${f(median(p.result.kill.map((t) => t.restoreMs)))} ms, stop ${f(median(p.result.stop.map((t) => t.restoreMs)))} ms. ` +
      `${p.at}Z, load average (1 min, sampled every 5 s) mean ${f(p.load[0], 1)}, max ${f(p.load[1], 1)}.`,
  ].join('\n');
}

function renderSoak(p: Phase<Soak>): string {
  const s = p.result;
  const zero = s.ownerChanges === 0 && s.logLines === 0 && s.failovers === 0 && s.releases === 0;
  return [
    '| measure | value | target | result |',
    '|---|---|---|---|',
    `| announcing-node changes of ${s.services} Services in L2Announcements (polled every 1 s; polls with no or two announcers: ${s.badPolls}) | ${s.ownerChanges} | 0 | ${verdict(s.ownerChanges === 0 && s.badPolls === 0)} |`,
    `| \`announcing\` / \`stopped announcing\` log lines, all speakers | ${s.logLines} | 0 | ${verdict(s.logLines === 0)} |`,
    `| heraldlb_speaker_failovers_total (both causes) / _releases_total, increase over all speakers | ${s.failovers} / ${s.releases} | 0 / 0 | ${verdict(zero)} |`,
    `| client attempts to one IPv4 and one IPv6 VIP: failed of total; longest gap around a failure (ms) | ${s.failed} of ${s.attempts}; ${s.longestGapMs} | 0 | ${verdict(s.failed === 0)} |`,
    '',
    `${s.seconds} s with \`stress-ng --cpu 2\` on the 2 cores (load average during the soak: mean ${f(s.load.mean, 1)}, max ${f(s.load.max, 1)}); ${p.at}Z.`,
  ].join('\n');
}

function takeoverRow(t: Takeover): string {
  // The target is a speaker's own batch ("bulk takeovers batched"): each new owner's first ->
  // last. The overall spread adds the gap between two speakers' reactions to the death,
  // which is the failover time's business (its own rows), and is shown beside it.
  const ok = t.seen === t.moved && t.perOwner.every((o) => o.spreadMs <= 100);
  const owners = t.perOwner
    .map((o) => `${o.node}: ${o.ips} IPs from +${f(o.startMs, 1)}, ${f(o.spreadMs, 1)}`)
    .join('; ');
  return `| ${t.fault} of ${t.node} | ${t.moved} | ${t.seen} | ${f(t.spreadMs, 1)} | ${owners} | ${f(t.p50Ms, 1)} / ${f(t.p99Ms, 1)} | ${f(t.faultToFirstMs)} / ${f(t.faultToLastMs)} | ${f(t.deathToLastMs)} | <= 100 | ${verdict(ok)} |`;
}

/**
 * The target is the container's: under the chart's memory limit the speaker must not be
 * OOM-killed nor thrash (major faults: file pages evicted and read back). Its own memory is the
 * anonymous part; VmRSS also counts pages of the 120 MiB Node binary it maps shared and clean,
 * which the kernel reclaims under a limit instead of killing. Both are shown.
 */
function memRow(m: Memory, when: string): string {
  const g = m.cgroup;
  // Under a limit the charge's peak is the figure a container lives by: above the target,
  // a pod limited to the target would have been OOM-killed (it was, at 64 MiB: docs/benchmarks.md).
  const ok = g
    ? g.oomKills === 0 && g.peakMiB <= LIMIT_MIB && m.rssAnonMiB <= LIMIT_MIB
    : m.vmRssMiB <= LIMIT_MIB && (m.peakMiB ?? 0) <= LIMIT_MIB;
  const cg = g
    ? `${f(g.currentMiB, 1)} / ${f(g.peakMiB, 1)} (anon ${f(g.anonMiB, 1)}, file ${f(g.fileMiB, 1)}); ${g.oomKills}`
    : 'no limit';
  return `| ${m.node}, ${when} | ${m.owned} | ${f(m.vmRssMiB, 1)} | ${f(m.rssAnonMiB, 1)} / ${f(m.rssFileMiB, 1)} | ${cg} | ${m.majorFaults} | ${f(m.heapUsedMiB, 1)} | ${m.peakMiB === undefined ? '' : f(m.peakMiB, 1)} | <= ${LIMIT_MIB} | ${verdict(ok)} |`;
}
const LIMIT_MIB = 64;

function renderBulk(p: Phase<Awaited<ReturnType<typeof bulk>>>, node24: string, limit: string): string {
  const b = p.result;
  return [
    `${BULK_V4 + BULK_V6} LoadBalancer Services (${BULK_V4} IPv4 from 203.0.113.0/24, ${BULK_V6} IPv6 from 2001:db8:1::1:0/112): created in ${f(b.createdS, 1)} s, all announced ${f(b.announcedS, 1)} s after the first create.`,
    '',
    '| takeover (the node holding most) | IPs moved | seen on the wire | first -> last new owner\u2019s first GARP/NA (ms) | each new owner: IPs, its first after the first, **its own first -> last** (ms) | p50 / p99 after the first (ms) | fault command -> first / last (ms) | old speaker gone -> last (ms) | target: each owner\u2019s own (ms) | result |',
    '|---|---|---|---|---|---|---|---|---|---|',
    takeoverRow(b.graceful),
    takeoverRow(b.kill),
    '',
    'Captured with `tcpdump -i eth0` in the client namespace; per moved IP its first gratuitous ARP or unsolicited NA from a surviving node after the fault command started. "Old speaker gone" is when its process was seen gone (polled every ms); for a graceful stop the speaker tells its peers before it exits, so that time can come after the announcements (negative).',
    '',
    `| speaker memory on ${node24}, ${limit} | IPs owned | VmRSS (MiB) | RssAnon / RssFile (MiB) | cgroup charge now / peak (MiB); OOM kills | major faults | heap used (MiB) | peak VmRSS while taking over all (MiB) | target (MiB) | result |`,
    '|---|---|---|---|---|---|---|---|---|---|',
    ...b.third.map((m) => memRow(m, `${SETTLE_S} s after all announced`)),
    ...b.all.map((m) => memRow(m, `alone, ${SETTLE_S} s after the other two stopped`)),
    '',
    `${p.at}Z, load average (1 min, sampled every 5 s) mean ${f(p.load[0], 1)}, max ${f(p.load[1], 1)}.`,
  ].join('\n');
}
const SETTLE_S = 20;

function restore(key: string, value: string | undefined): void {
  if (value === undefined) delete process.env[key];
  else process.env[key] = value;
}

function cpuModel(): string {
  const m = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
  return m?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown';
}

export async function benchSpeaker(): Promise<string> {
  if (process.getuid?.() !== 0) throw new Error('the speaker benchmark needs root (network namespaces)');
  const trials = Number(process.env.HERALDLB_BENCH_TRIALS ?? 30);
  const soakS = Number(process.env.HERALDLB_BENCH_SOAK_S ?? 600);
  const phases = (process.env.HERALDLB_BENCH_SPEAKER_PHASES ?? 'failover,soak,bulk').split(',');
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const out: string[] = [
    `Machine: ${machineLine()}; nproc ${cpus().length}, CPU "${cpuModel()}"; lab dir ${LAB_DIR}; 3 nodes, IPv6 on. ` +
      `Command, as root: \`npm run bench -- speaker\` (HERALDLB_BENCH_TRIALS=${trials}, HERALDLB_BENCH_SOAK_S=${soakS}).`,
  ];
  if (phases.includes('failover')) {
    const p = await phase('failover', async (s) => ({
      kill: await failoverTrials(s.d, s.a, 'kill-node', trials, log),
      stop: await failoverTrials(s.d, s.a, 'stop-speaker', trials, log),
    }));
    out.push('', '### Failover as a client sees it', '', renderFailover(p));
    log(`section done:\n${out.at(-1)}`); // kept even if a later phase fails
  }
  if (phases.includes('soak')) {
    const p = await phase('soak', (s) => soak(s, soakS, log));
    out.push('', '### No false failovers with both cores busy', '', renderSoak(p));
    log(`section done:\n${out.at(-1)}`); // kept even if a later phase fails
  }
  if (phases.includes('bulk')) {
    // The image's runtime for the speakers of this lab (memory differs between Node majors).
    const node =
      process.env.HERALDLB_LAB_NODE ||
      execFileSync('bash', [join(root, 'lab', 'bin', 'node24.sh')], { encoding: 'utf8' }).trim();
    const version = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
    // Each speaker under the memory limit the chart gives its container (0: none).
    const limitMiB = Number(process.env.HERALDLB_BENCH_SPEAKER_MEMORY_MIB ?? LIMIT_MIB);
    const saved = [process.env.HERALDLB_LAB_NODE, process.env.HERALDLB_LAB_SPEAKER_MEMORY_MIB] as const;
    process.env.HERALDLB_LAB_NODE = node;
    process.env.HERALDLB_LAB_SPEAKER_MEMORY_MIB = String(limitMiB);
    try {
      const p = await phase('bulk', (s) => bulk(s, log));
      const limit = limitMiB ? `each in a memory cgroup limited to ${limitMiB} MiB` : 'no memory limit';
      out.push(
        '',
        '### 1,000 VIPs: takeover on the wire, memory',
        '',
        renderBulk(p, `Node ${version}`, limit),
      );
      log(`section done:\n${out.at(-1)}`);
    } finally {
      restore('HERALDLB_LAB_NODE', saved[0]);
      restore('HERALDLB_LAB_SPEAKER_MEMORY_MIB', saved[1]);
    }
  }
  return out.join('\n');
}
