/**
 * How long a runnable thread can go without running on this machine: one busy thread per
 * CPU reads the clock in a loop for `seconds` and records every gap. On a virtual machine
 * a gap is mostly the hypervisor running someone else (the guest cannot see or avoid it);
 * on an idle host it is interrupts. Any latency benchmark's tail on this machine includes
 * such gaps, so the ARP bench reports them beside its own figures.
 *
 *   measureJitter(seconds) -> { perCpu: [{ gaps1ms, gaps4ms, maxMs, lostMs }], seconds }
 */
import { cpus } from 'node:os';
import { Worker } from 'node:worker_threads';

export interface Jitter {
  seconds: number;
  perCpu: { gaps1ms: number; gaps4ms: number; maxMs: number; lostMs: number }[];
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
  return { seconds, perCpu };
}

export function jitterLine(j: Jitter): string {
  const parts = j.perCpu.map(
    (c, i) =>
      `thread ${i}: ${c.gaps1ms} gaps ≥ 1 ms (${c.gaps4ms} ≥ 4 ms), longest ${c.maxMs.toFixed(1)} ms, ${((100 * c.lostMs) / (j.seconds * 1000)).toFixed(2)} % of the time`,
  );
  return `Machine jitter before the runs (one busy thread per CPU for ${j.seconds} s, nothing else of ours running): ${parts.join('; ')}.`;
}
