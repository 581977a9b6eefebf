/**
 * No false failovers under CPU pressure: a few Services, every node healthy, both cores kept
 * busy by `stress-ng --cpu 2`, for HERALDLB_BENCH_SOAK_S seconds (default 600). Counted: changes
 * of the announcing node seen in the L2Announcement objects (polled), `announcing` / `stopped
 * announcing` lines in the speakers' logs, heraldlb_speaker_failovers_total and _releases_total
 * on every speaker, and failed client attempts (fresh connections every 20 ms, 100 ms deadline).
 */
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import type { Attempt } from '../lab/probe.js';
import { ipOf, ownerOf, service, urlOf } from '../lab/speaker-scenarios.js';
import { POOL } from './speaker-failover.js';
import { metric, metricsOf, NODES, ownersByIp, type Session, sleep, speakerLog } from './speaker-lab.js';

export interface Soak {
  seconds: number;
  services: number;
  ownerChanges: number;
  /** A poll that saw an IP with no announcer or two. */
  badPolls: number;
  logLines: number;
  failovers: number;
  releases: number;
  attempts: number;
  failed: number;
  /** Longest run without a success that contains a failure (ms). */
  longestGapMs: number;
  load: { mean: number; max: number };
}

async function counters(): Promise<{ failovers: number; releases: number }> {
  let failovers = 0;
  let releases = 0;
  for (const n of NODES) {
    const m = await metricsOf(n);
    if (m.size === 0) throw new Error(`the speaker on ${n} serves no /metrics`);
    failovers +=
      metric(m, 'heraldlb_speaker_failovers_total{cause="failover"}') +
      metric(m, 'heraldlb_speaker_failovers_total{cause="new"}');
    releases += metric(m, 'heraldlb_speaker_releases_total');
  }
  return { failovers, releases };
}

function gaps(attempts: readonly Attempt[]): { failed: number; longest: number } {
  let failed = 0;
  let longest = 0;
  let lastOk: number | undefined;
  let failing = false;
  for (const a of attempts) {
    if (!a.ok) {
      failed++;
      failing = true;
    } else {
      if (failing && lastOk !== undefined) longest = Math.max(longest, a.t - lastOk);
      failing = false;
      lastOk = a.t;
    }
  }
  return { failed, longest };
}

export async function soak({ d, a, dir }: Session, seconds: number, log: (l: string) => void): Promise<Soak> {
  const names = ['soak-v4-0', 'soak-v4-1', 'soak-v4-2', 'soak-v6-0', 'soak-v6-1', 'soak-v6-2'];
  for (const [i, name] of names.entries())
    await service(a, name, { pool: POOL, ...(name.includes('v6') ? { ip: `2001:db8:1::2${i}0` } : {}) });
  const ips: string[] = [];
  for (const name of names) {
    ips.push(await ipOf(a, name));
    await ownerOf(a, name, 'default', undefined, 30_000);
  }
  await sleep(5000); // past any first announcement's repeats
  const before = await ownersByIp(a);
  log(`soak: ${names.length} Services on ${[...new Set([...before.values()].flat())].join(', ')}`);
  const c0 = await counters();
  const t0 = Date.now();
  const stress = spawn('stress-ng', ['--cpu', '2', '--timeout', `${seconds}s`, '--quiet'], {
    stdio: 'ignore',
  });
  const stressed = new Promise<void>((r) => stress.once('exit', () => r()));
  const probeMs = seconds * 1000;
  // One IPv4 and one IPv6 VIP probed for the whole soak.
  const probes = [ips[0] as string, ips[3] as string].map((ip) => d.probe(urlOf(ip), probeMs));
  let ownerChanges = 0;
  let badPolls = 0;
  const loads: number[] = [];
  let last = before;
  try {
    for (let i = 0; i < seconds + 10 && Date.now() - t0 < probeMs; i++) {
      await sleep(1000);
      loads.push(loadavg()[0] as number);
      const now = await ownersByIp(a).catch(() => undefined);
      if (!now) continue;
      for (const ip of ips) {
        const o = now.get(ip) ?? [];
        if (o.length !== 1) badPolls++;
        if ((o[0] ?? '') !== (last.get(ip)?.[0] ?? '')) ownerChanges++;
      }
      last = now;
    }
  } finally {
    stress.kill('SIGTERM');
    await Promise.race([stressed, sleep(5000)]);
  }
  const attempts = (await Promise.all(probes)).flat();
  const c1 = await counters();
  const logLines = NODES.flatMap((n) => speakerLog(dir, n, t0)).filter(
    (l) => l.msg === 'announcing' || l.msg === 'stopped announcing',
  ).length;
  const g = gaps(attempts);
  return {
    seconds,
    services: names.length,
    ownerChanges,
    badPolls,
    logLines,
    failovers: c1.failovers - c0.failovers,
    releases: c1.releases - c0.releases,
    attempts: attempts.length,
    failed: g.failed,
    longestGapMs: Math.round(g.longest),
    load: { mean: loads.reduce((x, y) => x + y, 0) / Math.max(1, loads.length), max: Math.max(...loads) },
  };
}
