import { performance } from 'node:perf_hooks';
import { startControlPlane } from '../lab/control-plane.js';
import { median, p99, rssMiB } from './stats.js';

/** Warm start of etcd + kube-apiserver to /readyz (binaries cached), and their idle RSS. */
export async function benchControlPlane(runs = 5, idleSeconds = 10): Promise<string> {
  const starts: number[] = [];
  const rss: { etcd: number[]; apiserver: number[] } = { etcd: [], apiserver: [] };
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const cp = await startControlPlane();
    starts.push((performance.now() - t0) / 1000);
    if (i === 0) {
      await new Promise((r) => setTimeout(r, idleSeconds * 1000));
      rss.etcd.push(rssMiB(cp.pids.etcd));
      rss.apiserver.push(rssMiB(cp.pids.apiserver));
    }
    await cp.stop();
  }
  const f = (n: number) => n.toFixed(2);
  return [
    '| measure | p50 | p99 (max) | runs |',
    '|---|---|---|---|',
    `| warm control-plane start to /readyz (s) | ${f(median(starts))} | ${f(p99(starts))} | ${runs} |`,
    `| etcd RSS idle after ${idleSeconds} s (MiB) | ${f(median(rss.etcd))} | | 1 |`,
    `| kube-apiserver RSS idle after ${idleSeconds} s (MiB) | ${f(median(rss.apiserver))} | | 1 |`,
  ].join('\n');
}
