/**
 * How long a runnable thread can go without running on this machine: one busy thread per
 * CPU reads the clock in a loop for `seconds` and records every gap. On a virtual machine
 * a gap is mostly the hypervisor running someone else (the guest cannot see or avoid it);
 * on an idle host it is interrupts. Any latency benchmark's tail on this machine includes
 * such gaps, so the ARP bench reports them beside its own figures.
 *
 *   measureJitter(seconds) -> { perCpu: [{ gaps1ms, gaps4ms, maxMs, lostMs }], seconds, stealPct }
 *   readCpuTimes() / stealPercent(a, b) -> % of CPU time the hypervisor took between two readings
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { Worker } from 'node:worker_threads';

export interface Jitter {
  seconds: number;
  perCpu: { gaps1ms: number; gaps4ms: number; maxMs: number; lostMs: number }[];
  /** CPU time stolen by the hypervisor meanwhile, % of all CPUs' time (/proc/stat). */
  stealPct: number;
}

// Runs in each worker: spin, count gaps >= 1 ms and >= 4 ms, sum the time lost in them.
const SPIN = `
const { parentPort, workerData } = require('node:worker_threads');
const { performance } = require('node:perf_hooks');
const end = performance.now() + workerData * 1000;
let prev = performance.now(), gaps1ms = 0, gaps4ms = 0, maxMs = 0, lostMs = 0;
while (prev < end) {
  const t = performance.now(), g = t - prev;
  prev = t;
  if (g >= 1) { gaps1ms++; lostMs += g; if (g >= 4) gaps4ms++; if (g > maxMs) maxMs = g; }
}
parentPort.postMessage({ gaps1ms, gaps4ms, maxMs, lostMs });
`;

export async function measureJitter(seconds = 10): Promise<Jitter> {
  const t0 = readCpuTimes();
  const perCpu = await Promise.all(
    cpus().map(
      () =>
        new Promise<Jitter['perCpu'][number]>((resolve, reject) => {
          const w = new Worker(SPIN, { eval: true, workerData: seconds });
          w.once('message', resolve);
          w.once('error', reject);
        }),
    ),
  );
  return { seconds, perCpu, stealPct: stealPercent(t0, readCpuTimes()) };
}

export function jitterLine(j: Jitter): string {
  const parts = j.perCpu.map(
    (c, i) =>
      `thread ${i}: ${c.gaps1ms} gaps ≥ 1 ms (${c.gaps4ms} ≥ 4 ms), longest ${c.maxMs.toFixed(1)} ms, ${((100 * c.lostMs) / (j.seconds * 1000)).toFixed(2)} % of the time`,
  );
  return `Machine jitter before the runs (one busy thread per CPU for ${j.seconds} s, nothing else of ours running): ${parts.join('; ')}; CPU time stolen by the hypervisor meanwhile ${j.stealPct.toFixed(2)} %.`;
}

/** The kernel's CPU-time counters summed over every CPU (/proc/stat, in USER_HZ ticks). */
export interface CpuTimes {
  steal: number;
  total: number;
}

export function readCpuTimes(stat = '/proc/stat'): CpuTimes {
  const line = readFileSync(stat, 'utf8').split('\n')[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user)
  const total = f.slice(0, 8).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
  return { steal: f[7] ?? 0, total };
}

/**
 * Share of CPU time the hypervisor gave to someone else between two readings, in %: time our
 * threads were runnable but no vCPU ran them. A tail latency above ~1 ms is expected in
 * runs where this share is near or above the tail's percentile (1 % for p99).
 */
export function stealPercent(a: CpuTimes, b: CpuTimes): number {
  const total = b.total - a.total;
  return total > 0 ? (100 * (b.steal - a.steal)) / total : 0;
}
