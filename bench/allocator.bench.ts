import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Family } from '../api/addresses.js';
import { Allocator } from '../controller/allocator.js';
import { type PoolModel, parsePools } from '../controller/pools.js';
import type { ServiceModel } from '../controller/service.js';
import { machineLine, median, quantile } from './stats.js';

/**
 * Allocator throughput and memory. Churn = release a random held Service, assign a new one
 * (it gets the lowest free address); both count as one op each. Pools: 198.18.0.0/16 (the
 * RFC 2544 benchmarking range) and 2001:db8:100::/64. Deterministic PRNG, so runs compare.
 */

const BATCHES = 20;
const OPS_PER_BATCH = 20_000;

function serviceModel(i: number, family: Family): ServiceModel {
  return {
    key: `bench/s${i}`,
    namespace: 'bench',
    labels: {},
    created: i,
    policy: 'SingleStack',
    families: [family],
    requestedIPs: [],
    requestedPool: undefined,
    requestError: undefined,
    sharingKey: undefined,
    ports: [{ port: 80, protocol: 'TCP' }],
    trafficPolicy: 'Cluster',
    selector: { app: `s${i}` },
    sharing: '',
    deleting: false,
    current: { ips: [], pools: [], sharingAdmitted: undefined },
  };
}

function xorshift(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const poolsOf = (addresses: string[]): PoolModel[] =>
  parsePools([{ metadata: { name: 'bench' }, spec: { addresses } }]).pools;

interface ChurnResult {
  opsPerSec: number[]; // per batch, wall clock
  opsPerCpuSec: number[]; // per batch, this process's CPU time: steadier on a shared machine
}

/** Fills `fill` Services, optionally frees `holes` at random, then measures churn batches. */
function churn(addresses: string[], family: Family, fill: number, holes: number): ChurnResult {
  const a = new Allocator();
  a.setPools(poolsOf(addresses));
  const total = fill + (BATCHES * OPS_PER_BATCH) / 2;
  const models = Array.from({ length: total }, (_, i) => serviceModel(i, family));
  const held: number[] = [];
  for (let i = 0; i < fill; i++) {
    if (!a.assign(models[i] as ServiceModel).ok) throw new Error(`fill failed at ${i}`);
    held.push(i);
  }
  const rnd = xorshift(42);
  const dropAt = (k: number) => {
    const j = held[k] as number;
    held[k] = held[held.length - 1] as number;
    held.pop();
    a.release((models[j] as ServiceModel).key);
  };
  for (let h = 0; h < holes; h++) dropAt(Math.floor(rnd() * held.length));
  let next = fill;
  const opsPerSec: number[] = [];
  const opsPerCpuSec: number[] = [];
  for (let b = 0; b < BATCHES; b++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    for (let op = 0; op < OPS_PER_BATCH; op += 2) {
      dropAt(Math.floor(rnd() * held.length));
      if (!a.assign(models[next] as ServiceModel).ok) throw new Error('churn assign failed');
      held.push(next++);
    }
    const cpu = process.cpuUsage(c0);
    opsPerSec.push(OPS_PER_BATCH / ((performance.now() - t0) / 1000));
    opsPerCpuSec.push(OPS_PER_BATCH / ((cpu.user + cpu.system) / 1e6));
  }
  return { opsPerSec, opsPerCpuSec };
}

function gcFunction(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** Heap growth of an allocator holding `n` assignments in the given pool (models pre-built). */
function heapFor(addresses: string[], family: Family, n: number, gc: () => void): number {
  const models = Array.from({ length: n }, (_, i) => serviceModel(i, family));
  gc();
  const before = process.memoryUsage().heapUsed;
  const a = new Allocator();
  a.setPools(poolsOf(addresses));
  for (const m of models) a.assign(m);
  gc();
  const after = process.memoryUsage().heapUsed;
  if (a.snapshot().length !== n) throw new Error('heap bench: not all assigned');
  return after - before;
}

export function benchAllocator(): string {
  const load = loadavg()[0] ?? Number.NaN;
  const v4 = ['198.18.0.0/16'];
  const v6 = ['2001:db8:100::/64'];
  const size16 = 65_536;
  const cases: [string, ChurnResult][] = [
    ['/16 IPv4, 90% full', churn(v4, 'IPv4', Math.floor(size16 * 0.9), 0)],
    [
      '/16 IPv4, 90% full, 10% random holes',
      churn(v4, 'IPv4', Math.floor(size16 * 0.9), Math.floor(size16 * 0.09)),
    ],
    ['/64 IPv6, 10k held', churn(v6, 'IPv6', 10_000, 0)],
    ['/64 IPv6, 100k held, 10% random holes', churn(v6, 'IPv6', 100_000, 10_000)],
  ];
  const gc = gcFunction();
  const n = 10_000;
  const mem: [string, number][] = [
    ['/8 IPv4, 0 assignments', heapFor(['10.0.0.0/8'], 'IPv4', 0, gc)],
    ['/64 IPv6, 0 assignments', heapFor(v6, 'IPv6', 0, gc)],
    [`/16 IPv4, ${n} assignments`, heapFor(v4, 'IPv4', n, gc)],
    [`/8 IPv4, ${n} assignments`, heapFor(['10.0.0.0/8'], 'IPv4', n, gc)],
    [`/64 IPv6, ${n} assignments`, heapFor(v6, 'IPv6', n, gc)],
    [`/64 IPv6, ${10 * n} assignments`, heapFor(v6, 'IPv6', 10 * n, gc)],
  ];
  const k = (x: number) => `${Math.round(x / 1000).toLocaleString('en-US')}k`;
  const lines = [
    `Allocator (\`npm run bench -- allocator\`), ${machineLine()}`,
    '',
    `Load average at start: ${load.toFixed(2)} on ${cpus().length} CPUs.`,
    '',
    '| churn: release random + assign lowest free | median ops/s | p99 batch (slowest) ops/s | median ops per CPU-second | batches × ops |',
    '|---|---|---|---|---|',
    ...cases.map(
      ([name, r]) =>
        `| ${name} | ${k(median(r.opsPerSec))} | ${k(quantile(r.opsPerSec, 0.01))} | ${k(median(r.opsPerCpuSec))} | ${BATCHES} × ${OPS_PER_BATCH.toLocaleString('en-US')} |`,
    ),
    '',
    '| heap growth of the allocator (after GC) | MiB | bytes / assignment |',
    '|---|---|---|',
    ...mem.map(([name, bytes]) => {
      const count = Number(/, (\d+) assignments/.exec(name)?.[1] ?? 0);
      return `| ${name} | ${(bytes / 2 ** 20).toFixed(2)} | ${count ? Math.round(bytes / count) : '–'} |`;
    }),
  ];
  return lines.join('\n');
}
