/**
 * `npm run bench -- arp`: the link socket on the wire, between two namespaces of our own
 * (hn-bn-a: a responder answering ARP for 192.0.2.10; hn-bn-b: a sender). Times come from
 * tcpdump's kernel timestamps, not from JS.
 *
 * 1. Reply latency: the native fast path as the speaker runs it (setAnswers: the reader
 *    thread replies; answered frames only counted, never copied to JS), in
 *    HERALDLB_BENCH_ARP_TRIALS runs (default 3) with their pooled quantiles; for comparison
 *    once with answered frames still copied to JS (the event loop woken for each batch),
 *    and once the JS path (replies crafted in JS and sent through the event loop). The sender asks for 192.0.2.10 at 10,000 requests/s for 10 s, each
 *    request carrying a sequence number in its sender MAC (the reply echoes it as target
 *    MAC); tcpdump on the sender's veth gives request -> reply time. Loss = requests on
 *    the wire without a reply.
 *    Before them, bench/jitter.ts measures how long a busy thread goes without running on
 *    this machine: the floor under any tail measured here.
 * 2. Gratuitous ARP burst: 1,000 request+reply pairs in one sendBatch call; tcpdump on the
 *    far end gives the time from the call to the last frame arriving. Target <= 100 ms.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArp } from './arp-frames.js';
import { jitterLine, measureJitter, readCpuTimes, stealPercent } from './jitter.js';
import { LinkAgent } from './link-driver.js';
import { readPcap } from './pcap.js';
import { quantile } from './stats.js';
import { createVethPair, deleteVethPair } from './veth-pair.js';

const PREFIX = 'hn-bn';
const VIP = '192.0.2.10';
const GARP_IP = '192.0.2.20';
const RATE = 10_000;
const SECONDS = 10;
const GARP_PAIRS = 1000;

interface Capture {
  proc: ChildProcess;
  file: string;
  stderr: () => string;
}

/** tcpdump writing ARP frames with nanosecond timestamps; resolves once it listens. */
async function capture(netns: string, file: string): Promise<Capture> {
  // --immediate-mode: without it libpcap hands frames over in blocks, and the frames of
  // the last block are lost when tcpdump is stopped.
  const args = ['-i', 'veth0', '-w', file, '-U', '-s', '96', '-B', '32768', '--immediate-mode'];
  const proc = spawn('ip', [
    'netns',
    'exec',
    netns,
    'tcpdump',
    ...args,
    '--time-stamp-precision=nano',
    'arp',
  ]);
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const deadline = Date.now() + 5000;
  while (!stderr.includes('listening on') && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  if (!stderr.includes('listening on')) throw new Error(`tcpdump did not start: ${stderr}`);
  return { proc, file, stderr: () => stderr };
}

async function stopCapture(c: Capture): Promise<string> {
  const exited = new Promise((r) => c.proc.once('exit', r));
  c.proc.kill('SIGINT');
  await exited;
  return /(\d+) packets? dropped by kernel/.exec(c.stderr())?.[1] ?? '?';
}

const ms = (ns: bigint): number => Number(ns) / 1e6;
const fmt = (x: number): string => x.toFixed(3);

type Path = 'native' | 'native, frames to JS' | 'js';

/** One latency row: a responder on `path`, a fresh sender. Returns the row and its latencies. */
async function latency(
  pair: { a: string; b: string; macA: string; macB: string },
  dir: string,
  path: Path,
  rate: number,
  seconds: number,
): Promise<{ row: string; latencies: number[] }> {
  const native = path === 'js' ? [] : path === 'native' ? ['--native'] : ['--native', '--deliver-answered'];
  const responder = new LinkAgent(pair.a, ['veth0', '--respond', VIP, '--mac', pair.macA, ...native]);
  const sender = new LinkAgent(pair.b, ['veth0', '--quiet']);
  try {
    await responder.waitFor((e) => e.ev === 'open');
    await sender.waitFor((e) => e.ev === 'open');
    const at0 = responder.events.length;
    responder.command({ op: 'stats' });
    const cpu0 = Number((await responder.waitFor((e) => e.ev === 'stats', 5000, at0)).cpuMs);
    const load0 = loadavg()[0] ?? 0;
    const times0 = readCpuTimes();
    const cap = await capture(pair.b, join(dir, 'load.pcap'));
    sender.command({ op: 'load', rate, seconds, ip: VIP, mac: pair.macB });
    const sent = await sender.waitFor((e) => e.ev === 'sent', (seconds + 20) * 1000);
    await new Promise((r) => setTimeout(r, 1000)); // let tcpdump write what it has read
    const capDrops = await stopCapture(cap);
    const steal = stealPercent(times0, readCpuTimes());
    const at = responder.events.length;
    responder.command({ op: 'stats' });
    const rstats = await responder.waitFor((e) => e.ev === 'stats', 5000, at);

    const requestAt = new Map<string, number>(); // seq MAC -> wire time of the request (epoch ms)
    const latencies: number[] = [];
    for (const f of readPcap(readFileSync(cap.file))) {
      const arp = parseArp(f.frame);
      if (arp?.op === 1 && arp.src === pair.macB && arp.tpa === VIP) requestAt.set(arp.sha, f.t);
      else if (arp?.op === 2 && arp.spa === VIP) {
        const t = requestAt.get(arp.tha);
        if (t !== undefined) latencies.push(f.t - t);
      }
    }
    const lost = requestAt.size - latencies.length;
    const pct = ((100 * lost) / Math.max(1, requestAt.size)).toFixed(2);
    const row = `| ${path} | ${load0.toFixed(1)} | ${requestAt.size} (agent sent ${sent.n}, ${sent.failed} refused) | ${latencies.length} | ${lost} (${pct} %) | ${fmt(quantile(latencies, 0.5))} | ${fmt(quantile(latencies, 0.99))} | ${fmt(quantile(latencies, 1))} | ${rstats.dropped} | ${capDrops} | ${(Number(rstats.cpuMs) - cpu0).toFixed(0)} | ${steal.toFixed(2)} |`;
    rmSync(cap.file, { force: true });
    return { row, latencies };
  } finally {
    await responder.stop();
    await sender.stop();
  }
}

export async function benchArp(rate = RATE, seconds = SECONDS): Promise<string> {
  const missing = ['tcpdump', 'ip'].filter((c) => {
    try {
      execFileSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
  if (process.getuid?.() !== 0 || missing.length > 0)
    throw new Error(`the arp bench needs root and ${missing.join(', ') || 'nothing else'}`);
  const jitter = await measureJitter(10);
  const pair = createVethPair(PREFIX);
  const dir = mkdtempSync(join(tmpdir(), 'hn-arp-bench-'));
  const agents: LinkAgent[] = [];
  try {
    const trials = Math.max(1, Number(process.env.HERALDLB_BENCH_ARP_TRIALS ?? 3));
    const rows: string[] = [];
    const pooled: number[] = [];
    for (let i = 0; i < trials; i++) {
      const r = await latency(pair, dir, 'native', rate, seconds);
      rows.push(r.row);
      pooled.push(...r.latencies);
    }
    const pooledRow = `| native, ${trials} runs pooled | | ${trials * rate * seconds} sent | ${pooled.length} | | ${fmt(quantile(pooled, 0.5))} | ${fmt(quantile(pooled, 0.99))} | ${fmt(quantile(pooled, 1))} | | | | |`;
    rows.push(pooledRow);
    rows.push((await latency(pair, dir, 'native, frames to JS', rate, seconds)).row);
    rows.push((await latency(pair, dir, 'js', rate, seconds)).row);
    const sender = new LinkAgent(pair.b, ['veth0', '--quiet']);
    agents.push(sender);
    await sender.waitFor((e) => e.ev === 'open');

    // 2. 1,000 gratuitous ARP pairs in one sendBatch
    const cap2 = await capture(pair.a, join(dir, 'garp.pcap'));
    const at2 = sender.events.length;
    sender.command({ op: 'garp', count: GARP_PAIRS, ip: GARP_IP, mac: pair.macB });
    const garp = await sender.waitFor((e) => e.ev === 'sent', 10_000, at2);
    await new Promise((r) => setTimeout(r, 1000)); // let tcpdump write what it has read
    const cap2Drops = await stopCapture(cap2);
    const garpFrames = readPcap(readFileSync(cap2.file)).filter((f) => parseArp(f.frame)?.spa === GARP_IP);
    const first = BigInt(Math.round((garpFrames[0]?.t ?? 0) * 1e6));
    const last = BigInt(Math.round((garpFrames.at(-1)?.t ?? 0) * 1e6));
    const startedNs = BigInt(Math.round(Number(garp.startedAtMs) * 1e6));

    const cpu = cpus()[0]?.model ?? '?';
    return [
      `Machine: ${cpus().length} × ${cpu}, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}; 1-min load average before each row in the table.`,
      '',
      jitterLine(jitter),
      '',
      `Reply latency on the wire, ${rate.toLocaleString('en')} requests/s for ${seconds} s (tcpdump on the sender's veth, kernel timestamps):`,
      '',
      '| path | load avg | requests on the wire | replies matched | lost | p50 ms | p99 ms | max ms | responder dropped | capture dropped | responder CPU ms | CPU stolen by the hypervisor % |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|',
      ...rows,
      '',
      `Gratuitous ARP: ${GARP_PAIRS} request+reply pairs (${2 * GARP_PAIRS} frames) in one sendBatch call; tcpdump on the far end:`,
      '',
      '| frames accepted | frames captured | sendBatch call ms | call start -> last frame captured ms | first -> last frame ms | capture dropped |',
      '|---|---|---|---|---|---|',
      `| ${garp.n} | ${garpFrames.length} | ${fmt(Number(garp.ms))} | ${fmt(ms(last - startedNs))} | ${fmt(ms(last - first))} | ${cap2Drops} |`,
      '',
    ].join('\n');
  } finally {
    for (const a of agents) await a.stop();
    deleteVethPair(PREFIX);
    rmSync(dir, { recursive: true, force: true });
  }
}
