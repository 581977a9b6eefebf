/**
 * Speaker liveness, measured between network namespaces (bench/membership-net.ts): an observer
 * (node1), a third peer (node3) and a victim (node2) that is started, seen alive, and SIGKILLed,
 * again and again. Detection time = the observer worker's `dead` decision minus the kill, both
 * on the wall clock of this one machine; "main" is when the observer's main thread got it.
 *
 * Two phases of kills: idle, then loaded (stress-ng --cpu 2 on both cores and a 300 ms busy
 * stall of the observer's main thread every second). Then a soak: all three running, loaded,
 * every one of them stalling, for SOAK seconds; any `dead` there is a false death.
 *
 * HERALDLB_BENCH_MEMBERSHIP_KILLS (30) and HERALDLB_BENCH_MEMBERSHIP_SOAK_S (120) change the size.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Counters } from '../speaker/membership/protocol.js';
import { createNet, LineProc, type Net, type NetNode, type PeerEvent, tryKill } from './membership-net.js';
import { machineLine, quantile } from './stats.js';

const PEER_JS = new URL('./membership-peer.js', import.meta.url).pathname;
const PORT = 7948;
const KILLS = Number(process.env.HERALDLB_BENCH_MEMBERSHIP_KILLS ?? 30);
const SOAK_S = Number(process.env.HERALDLB_BENCH_MEMBERSHIP_SOAK_S ?? 120);
const STALL = { cmd: 'stall', everyMs: 1000, ms: 300 };

type Change = { node: string; state: string; at: number };
const changesOf = (e: PeerEvent) => (e.changes ?? []) as Change[];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Trials {
  worker: number[];
  main: number[];
  falseDeaths: number;
  rtt: number[];
  /** The observer's own loop: lateness forgiven (stall guard) and the worst lateness, ms. */
  forgivenMs: number;
  maxLateMs: number;
}

interface Soak {
  falseDeaths: number;
  flaps: number;
  rtt: number[];
  /** Every membership change during the soak, by whom. */
  detail: string[];
  /** Each process's worst lateness of its own worker loop over its life. */
  worstLate: string[];
}

class Bench {
  readonly procs = new Map<string, LineProc>(); // node name -> running peer process

  constructor(
    private readonly net: Net,
    private readonly keyFile: string,
  ) {}

  node(name: string): NetNode {
    return this.net.nodes.find((n) => n.name === name) as NetNode;
  }

  async start(name: string): Promise<LineProc> {
    const n = this.node(name);
    const peers = this.net.nodes
      .filter((p) => p !== n)
      .map((p) => `${p.name}=${p.ipv4}`)
      .join(',');
    const p = new LineProc(n.netns, [
      process.execPath,
      PEER_JS,
      name,
      this.keyFile,
      String(PORT),
      n.ipv4,
      peers,
    ]);
    this.procs.set(name, p);
    const e = await p.wait((x) => x.ev === 'ready' || x.ev === 'error', 30_000, 0, `${name} ready`);
    if (e.ev !== 'ready') throw new Error(`${name} did not start: ${JSON.stringify(e)}`);
    return p;
  }

  async killTrials(count: number): Promise<Trials> {
    const obs = this.procs.get('node1') as LineProc;
    const out: Trials = { worker: [], main: [], falseDeaths: 0, rtt: [], forgivenMs: 0, maxLateMs: 0 };
    const first = await this.stats(obs);
    const mark = obs.events.length;
    for (let i = 0; i < count; i++) {
      const from = obs.events.length;
      const victim = await this.start('node2');
      await obs.wait(
        (e) => e.ev === 'change' && changesOf(e).some((c) => c.node === 'node2' && c.state !== 'dead'),
        10_000,
        from,
        'node2 alive',
      );
      // Steady for a moment, then a kill at a random phase of the heartbeat period.
      await sleep(400 + Math.random() * 100);
      const killFrom = obs.events.length;
      const t = Date.now();
      victim.kill();
      const e = await obs.wait(
        (x) => x.ev === 'change' && changesOf(x).some((c) => c.node === 'node2' && c.state === 'dead'),
        10_000,
        killFrom,
        'node2 dead',
      );
      const c = changesOf(e).find((x) => x.node === 'node2') as Change;
      out.worker.push(c.at - t);
      out.main.push((e.seenAt as number) - t);
      await victim.exited;
    }
    out.falseDeaths = obs.events
      .slice(mark)
      .flatMap(changesOf)
      .filter((c) => c.node !== 'node2' && c.state === 'dead').length;
    const last = await this.stats(obs);
    out.rtt = last.rttMs;
    out.forgivenMs = last.counters.stallForgivenMs - first.counters.stallForgivenMs;
    out.maxLateMs = last.counters.maxLateMs;
    return out;
  }

  /** Fresh stats (they reach the main thread once a second); RTT samples since the last call. */
  async stats(p: LineProc): Promise<{ rttMs: number[]; counters: Counters }> {
    const from = p.events.length;
    await sleep(1100);
    p.send({ cmd: 'stats' });
    return (await p.wait((e) => e.ev === 'stats', 5000, from, 'stats')) as never;
  }

  /** Everyone up and stalling, under load: every `dead` is a false death. */
  async soak(seconds: number): Promise<Soak> {
    // node2 is dead after the kills: start it again and wait until everyone sees all three.
    const before = new Map([...this.procs].map(([name, p]) => [name, p.events.length]));
    await this.start('node2');
    before.set('node2', 0);
    const all = [...this.procs.values()];
    for (const [name, p] of this.procs) {
      await p.wait((e) => e.ev === 'change' && (e.alive as string[]).length === 3, 10_000, before.get(name));
    }
    for (const p of all) p.send(STALL);
    const marks = all.map((p) => p.events.length);
    const t0 = Date.now();
    await this.stats(all[0] as LineProc); // drop samples from before the soak
    await sleep(seconds * 1000);
    const names = [...this.procs.keys()];
    const changes = all.flatMap((p, i) =>
      p.events.slice(marks[i]).flatMap((e) => changesOf(e).map((c) => ({ ...c, by: names[i] }))),
    );
    const worstLate: string[] = [];
    let rtt: number[] = [];
    for (const [i, p] of all.entries()) {
      const st = await this.stats(p);
      if (i === 0) rtt = st.rttMs;
      worstLate.push(`${names[i]} ${st.counters.maxLateMs.toFixed(0)} ms`);
    }
    return {
      falseDeaths: changes.filter((c) => c.state === 'dead').length,
      flaps: changes.length,
      rtt,
      detail: changes.map((c) => `${c.by} saw ${c.node} ${c.state} at +${((c.at - t0) / 1000).toFixed(1)} s`),
      worstLate,
    };
  }
}

export async function benchMembership(): Promise<string> {
  if (process.getuid?.() !== 0) throw new Error('the membership bench needs root (network namespaces)');
  const dir = mkdtempSync(join(tmpdir(), 'hm-bench-'));
  const keyFile = join(dir, 'keys');
  writeFileSync(keyFile, `k1:${randomBytes(32).toString('base64')}\n`);
  const net = await createNet('hm-b-', 3);
  const b = new Bench(net, keyFile);
  let stress: ChildProcess | undefined;
  const started = new Date().toISOString().slice(0, 16);
  try {
    await b.start('node1');
    await b.start('node3');
    process.stderr.write(`membership: ${KILLS} kills idle\n`);
    const idle = await b.killTrials(KILLS);
    stress = spawn('stress-ng', ['--cpu', '2', '--timeout', `${KILLS * 6 + SOAK_S + 120}s`], {
      stdio: 'ignore',
    });
    await sleep(1000);
    (b.procs.get('node1') as LineProc).send(STALL);
    process.stderr.write(`membership: ${KILLS} kills loaded\n`);
    const loaded = await b.killTrials(KILLS);
    process.stderr.write(`membership: ${SOAK_S} s soak loaded\n`);
    const soak = await b.soak(SOAK_S);
    return report(started, idle, loaded, soak);
  } finally {
    if (stress?.pid) tryKill(stress.pid, 'SIGTERM');
    for (const p of b.procs.values()) p.kill();
    await net.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

function row(name: string, v: number[]): string {
  const f = (q: number) => quantile(v, q).toFixed(0);
  return `| ${name} | ${v.length} | ${f(0.5)} | ${f(0.95)} | ${f(0.99)} | ${Math.max(...v).toFixed(0)} |`;
}

function report(started: string, idle: Trials, loaded: Trials, soak: Soak) {
  const rtt = (v: number[]) =>
    v.length === 0
      ? 'no samples'
      : `p50 ${quantile(v, 0.5).toFixed(2)} ms, p99 ${quantile(v, 0.99).toFixed(2)} ms`;
  return [
    `Machine: ${machineLine()}; ${started}Z; load average at the end ${loadavg()
      .map((l) => l.toFixed(1))
      .join(
        ' / ',
      )} (1/5/15 min, this bench's stress-ng included). Heartbeat every 100 ms, dead after 450 ms of silence.`,
    '',
    'SIGKILL of a peer process -> the observer calls it dead (ms after the kill):',
    '',
    '| phase | kills | p50 | p95 | p99 | max |',
    '|---|---|---|---|---|---|',
    row('idle, worker decision', idle.worker),
    row('idle, main thread told', idle.main),
    row('loaded + 300 ms stalls, worker decision', loaded.worker),
    row('loaded + 300 ms stalls, main thread told', loaded.main),
    '',
    `False deaths of the live third peer during the kills: idle ${idle.falseDeaths}, loaded ${loaded.falseDeaths}.`,
    `Soak, ${SOAK_S} s, stress-ng --cpu 2 and a 300 ms main-thread stall every second in all three processes: ` +
      `${soak.falseDeaths} false deaths, ${soak.flaps} membership changes in all` +
      (soak.detail.length > 0 ? ` (${soak.detail.join('; ')})` : '') +
      `; worst worker lateness ${soak.worstLate.join(', ')}.`,
    `Observer's own loop: lateness forgiven by the stall guard idle ${idle.forgivenMs.toFixed(0)} ms ` +
      `(worst ${idle.maxLateMs.toFixed(0)} ms), loaded ${loaded.forgivenMs.toFixed(0)} ms (worst ${loaded.maxLateMs.toFixed(0)} ms).`,
    `RTT samples (observer): idle ${rtt(idle.rtt)}; loaded ${rtt(loaded.rtt)}; soak ${rtt(soak.rtt)}.`,
  ].join('\n');
}
