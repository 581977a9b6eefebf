/**
 * The controller as a child process for benchmarks: its JSON log lines parsed as they come,
 * waiting for a log message, for /readyz, and stopping it.
 *
 * HERALDLB_BENCH_CPU_PROF=<dir> runs it under `node --cpu-prof` (stopped with SIGTERM instead
 * of SIGKILL so the profile is written); HERALDLB_BENCH_NODE_ARGS adds node flags to
 * the product's own (controller/launch.ts);
 * HERALDLB_BENCH_NODE picks the node binary (the container image runs Node 24, this machine 20).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { CONTROLLER_NODE_FLAGS } from '../controller/launch.js';
import type { Wrap } from '../lab/memory-cgroup.js';
import { rssMiB } from './stats.js';

export const NS = 'bench';
const IDENTITY = 'bench-controller';
const MAIN_JS = join(dirname(fileURLToPath(import.meta.url)), '..', 'controller', 'main.js');
export const CONTROLLER_NODE = process.env.HERALDLB_BENCH_NODE || process.execPath;
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface Proc {
  child: ChildProcess;
  pid: number;
  started: number; // performance.now() just before spawn
  lines: Record<string, unknown>[];
  waitLog(msg: string, ms?: number): Promise<Record<string, unknown>>;
  port(): number | undefined;
  exited: Promise<void>;
}

/** `wrap` starts the process inside something first (a memory cgroup: memory-cgroup.ts). */
export function spawnController(kubeconfig: string, wrap: Wrap = (c, a) => [c, a]): Proc {
  const prof = process.env.HERALDLB_BENCH_CPU_PROF;
  const extra = (process.env.HERALDLB_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const nodeArgs = [
    ...CONTROLLER_NODE_FLAGS,
    ...extra,
    ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []),
  ];
  const args = [
    ...nodeArgs,
    MAIN_JS,
    `--kubeconfig=${kubeconfig}`,
    `--identity=${IDENTITY}`, // a restarted pod keeps its name: it renews its own Lease at once
    `--lease-namespace=${NS}`,
    '--metrics-addr=127.0.0.1:0',
  ];
  const started = performance.now();
  const child = spawn(...wrap(CONTROLLER_NODE, args), { stdio: ['ignore', 'pipe', 'inherit'] });
  if (child.pid === undefined) throw new Error('controller did not start');
  const lines: Record<string, unknown>[] = [];
  const waiters: { msg: string; resolve: (l: Record<string, unknown>) => void }[] = [];
  let partial = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const text of parts) {
      let line: Record<string, unknown>;
      try {
        line = { ...JSON.parse(text), seenAt: performance.now() };
      } catch {
        continue;
      }
      lines.push(line);
      for (const w of waiters.splice(0)) {
        if (w.msg === line.msg) w.resolve(line);
        else waiters.push(w);
      }
    }
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    child,
    pid: child.pid,
    started,
    lines,
    exited,
    port: () =>
      lines.find((l) => l.msg === 'serving /metrics, /healthz, /readyz')?.port as number | undefined,
    waitLog(msg, ms = 60_000) {
      const seen = lines.find((l) => l.msg === msg);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`controller never logged "${msg}"`)), ms);
        waiters.push({
          msg,
          resolve: (l) => {
            clearTimeout(t);
            resolve(l);
          },
        });
      });
    },
  };
}

export async function stopController(p: Proc, signal: NodeJS.Signals): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill(process.env.HERALDLB_BENCH_CPU_PROF ? 'SIGTERM' : signal);
  await p.exited;
}

/** performance.now() at which /readyz first answered 200. */
export async function readyAt(p: Proc, ms = 60_000): Promise<number> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    const port = p.port();
    if (port) {
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) return performance.now();
    }
    await sleep(10);
  }
  throw new Error('/readyz never answered 200');
}

/** Samples a process's RSS every 250 ms until stopped; the peak is what a memory limit must allow. */
export function sampleRss(pid: number): { peak(): number; stop(): void } {
  let peak = 0;
  const take = () => {
    try {
      peak = Math.max(peak, rssMiB(pid));
    } catch {
      // the process is gone: keep the peak seen so far
    }
  };
  take();
  const timer = setInterval(take, 250);
  return {
    peak() {
      take();
      return peak;
    },
    stop: () => clearInterval(timer),
  };
}
