import { readFileSync } from 'node:fs';
import { cpus, release, totalmem, type } from 'node:os';

/** Summary statistics shared by the benchmarks: medians and tails, never means alone. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  // Nearest rank: with few samples p99 is the maximum, which is the honest answer.
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] as number;
}

export const median = (v: readonly number[]): number => quantile(v, 0.5);
export const p99 = (v: readonly number[]): number => quantile(v, 0.99);

export function machineLine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const mem = (totalmem() / 2 ** 30).toFixed(0);
  return `${cpus().length} × ${cpu}, ${mem} GiB, ${type()} ${release()}, Node ${process.version}`;
}

/** Resident set size of a process in MiB, from /proc. */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN) / 1024;
}
