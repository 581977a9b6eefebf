/**
 * The controller end to end, as a real process against a fresh real control plane (etcd +
 * kube-apiserver, started here): serial create -> ingress latency, a 10,000-Service burst,
 * cold start with 10,000 assigned Services (and zero IP changes), and the controller's RSS.
 * Ingress is observed through a watch (never by polling), so a latency is "create call made"
 * to "status with ingress reached a client".
 *
 * HERALDLB_BENCH_CPU_PROF=<dir> runs the controllers under `node --cpu-prof` (stopped with
 * SIGTERM instead of SIGKILL so the profile is written); HERALDLB_BENCH_NODE_ARGS adds node
 * flags to the controller (e.g. heap sizing). HERALDLB_BENCH_SERIAL / _BULK change the counts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { KubeConfig, V1Service } from '@kubernetes/client-node';
import { type KubeClients, loadKubeConfig, makeClients } from '../kube/client.js';
import { getJson, watchStream } from '../kube/rest.js';
import { startControlPlane } from '../lab/control-plane.js';
import { applyCrds } from '../lab/crds.js';
import { machineLine, median, p99, rssMiB } from './stats.js';

const NS = 'bench';
const POOL = 'bench';
const POOL_RANGE = '2001:db8:180::/64';
const IDENTITY = 'bench-controller';
const MAIN_JS = join(dirname(fileURLToPath(import.meta.url)), '..', 'controller', 'main.js');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// --- the controller as a process -------------------------------------------------------

interface Proc {
  child: ChildProcess;
  pid: number;
  started: number; // performance.now() just before spawn
  lines: Record<string, unknown>[];
  waitLog(msg: string, ms?: number): Promise<Record<string, unknown>>;
  port(): number | undefined;
  exited: Promise<void>;
}

function spawnController(kubeconfig: string): Proc {
  const prof = process.env.HERALDLB_BENCH_CPU_PROF;
  const extra = (process.env.HERALDLB_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const nodeArgs = [...extra, ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [])];
  const args = [
    ...nodeArgs,
    MAIN_JS,
    `--kubeconfig=${kubeconfig}`,
    `--identity=${IDENTITY}`, // a restarted pod keeps its name: it renews its own Lease at once
    `--lease-namespace=${NS}`,
    '--metrics-addr=127.0.0.1:0',
  ];
  const started = performance.now();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
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

async function stopController(p: Proc, signal: NodeJS.Signals): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill(process.env.HERALDLB_BENCH_CPU_PROF ? 'SIGTERM' : signal);
  await p.exited;
}

/** performance.now() at which /readyz first answered 200. */
async function readyAt(p: Proc, ms = 60_000): Promise<number> {
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

// --- watching ingress --------------------------------------------------------------------

/** Records, per Service name, when a watch first showed it with ingress, and the IP. */
class IngressWatch {
  readonly first = new Map<string, { at: number; ip: string }>(); // service name -> first ingress seen
  private readonly waiters = new Map<string, () => void>(); // service name -> resolve
  private countWaiter: { n: number; resolve: () => void } | undefined;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(private readonly kc: KubeConfig) {}

  async start(): Promise<void> {
    const path = `/api/v1/namespaces/${NS}/services`;
    let rv = '';
    const relist = async () => {
      const list = await getJson<{ items: V1Service[]; metadata: { resourceVersion: string } }>(
        this.kc,
        path,
        {},
        this.abort.signal,
      );
      for (const s of list.items) this.see(s);
      return list.metadata.resourceVersion;
    };
    rv = await relist();
    this.loop = (async () => {
      while (!this.abort.signal.aborted) {
        try {
          await watchStream(
            this.kc,
            path,
            { resourceVersion: rv, timeoutSeconds: 900 },
            this.abort.signal,
            (ev) => {
              const o = ev.object as V1Service;
              rv = o.metadata?.resourceVersion ?? rv;
              if (ev.type === 'ADDED' || ev.type === 'MODIFIED') this.see(o);
            },
          );
        } catch {
          if (!this.abort.signal.aborted) rv = await relist();
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  private see(s: V1Service): void {
    const name = s.metadata?.name ?? '';
    const ip = s.status?.loadBalancer?.ingress?.[0]?.ip;
    if (!ip || this.first.has(name)) return;
    this.first.set(name, { at: performance.now(), ip });
    this.waiters.get(name)?.();
    this.waiters.delete(name);
    if (this.countWaiter && this.first.size >= this.countWaiter.n) this.countWaiter.resolve();
  }

  served(name: string): Promise<number> {
    const seen = this.first.get(name);
    if (seen) return Promise.resolve(seen.at);
    return new Promise((r) => this.waiters.set(name, () => r((this.first.get(name) as { at: number }).at)));
  }

  /** Resolves once `n` Services in total have been seen with ingress. */
  count(n: number): Promise<void> {
    if (this.first.size >= n) return Promise.resolve();
    return new Promise((resolve) => {
      this.countWaiter = { n, resolve };
    });
  }
}

// --- objects -------------------------------------------------------------------------------

function service(name: string, loadBalancerClass?: string): V1Service {
  return {
    metadata: { name, namespace: NS },
    spec: {
      type: 'LoadBalancer',
      loadBalancerClass,
      // Node ports would run out (2,768 of them) long before 10,000 Services.
      allocateLoadBalancerNodePorts: false,
      ipFamilies: ['IPv6'],
      ipFamilyPolicy: 'SingleStack',
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
      selector: { app: name },
    },
  };
}

async function inParallel(n: number, limit: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
}

async function retrying<T>(call: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await call();
    } catch (err) {
      const code = (err as { code?: number }).code ?? 0;
      if (i >= 10 || !(code === 429 || code >= 500)) throw err;
      await sleep(50 * i);
    }
  }
}

async function ipsByName(c: KubeClients): Promise<Map<string, string>> {
  const list = await c.core.listNamespacedService({ namespace: NS });
  return new Map(
    list.items.map((s) => [s.metadata?.name ?? '', s.status?.loadBalancer?.ingress?.[0]?.ip ?? '']),
  );
}

// --- phases ------------------------------------------------------------------------------

/** Per Service: create call -> ingress seen (total), and its two parts: the create call itself
 * (API server) and create answered -> ingress seen (controller, its writes, watch delivery). */
async function serial(c: KubeClients, watch: IngressWatch, n: number) {
  const r = { total: [] as number[], create: [] as number[], rest: [] as number[] };
  for (let i = 0; i < n; i++) {
    const name = `serial-${i}`;
    const t0 = performance.now();
    await c.core.createNamespacedService({ namespace: NS, body: service(name) });
    const t1 = performance.now();
    const t2 = await watch.served(name);
    r.total.push(t2 - t0);
    r.create.push(t1 - t0);
    r.rest.push(Math.max(0, t2 - t1));
  }
  await inParallel(n, 32, (i) =>
    retrying(() => c.core.deleteNamespacedService({ namespace: NS, name: `serial-${i}` })),
  );
  return r;
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ (100)
}

function cpuSnapshot(pids: Record<string, number>): Record<string, number> {
  const u = process.cpuUsage();
  const out: Record<string, number> = {};
  for (const [name, pid] of Object.entries(pids)) out[name] = cpuSeconds(pid);
  out.bench = (u.user + u.system) / 1e6;
  return out;
}

/** The API server alone (no controller running): how fast can it create these Services here? */
async function baseline(c: KubeClients, n: number): Promise<number> {
  const t0 = performance.now();
  await inParallel(n, 64, (i) =>
    retrying(() =>
      c.core.createNamespacedService({ namespace: NS, body: service(`base-${i}`, 'example.com/none') }),
    ),
  );
  const rate = n / ((performance.now() - t0) / 1000);
  await inParallel(n, 32, (i) =>
    retrying(() => c.core.deleteNamespacedService({ namespace: NS, name: `base-${i}` })),
  );
  return rate;
}

async function bulk(c: KubeClients, watch: IngressWatch, n: number) {
  const before = watch.first.size;
  const t0 = performance.now();
  await inParallel(n, 64, (i) =>
    retrying(() => c.core.createNamespacedService({ namespace: NS, body: service(`bulk-${i}`) })),
  );
  const created = performance.now();
  await watch.count(before + n);
  const done = performance.now();
  return {
    createSeconds: (created - t0) / 1000,
    allSeconds: (done - t0) / 1000,
    lagSeconds: (done - created) / 1000,
  };
}

/** Waits until the controller has written nothing for `quietMs` (no decision logged). */
async function settle(p: Proc, quietMs = 3000): Promise<void> {
  for (;;) {
    const last = p.lines.at(-1)?.seenAt as number | undefined;
    if (last !== undefined && performance.now() - last >= quietMs) return;
    await sleep(250);
  }
}

// --- the bench -------------------------------------------------------------------------

interface Row {
  measure: string;
  p50: string;
  p99: string;
  target: string;
  pass: boolean | undefined;
}

export async function benchController(): Promise<string> {
  const nSerial = Number(process.env.HERALDLB_BENCH_SERIAL ?? 1000);
  const nBulk = Number(process.env.HERALDLB_BENCH_BULK ?? 10_000);
  const load0 = loadavg()[0] as number;
  const cp = await startControlPlane({ authorization: 'RBAC' });
  const procs: Proc[] = [];
  try {
    const kc = loadKubeConfig({ kubeconfigPath: cp.kubeconfigPath });
    const c = makeClients(kc);
    await applyCrds(kc);
    await c.core.createNamespace({ body: { metadata: { name: NS } } });
    await c.custom.createClusterCustomObject({
      group: 'heraldlb.io',
      version: 'v1beta1',
      plural: 'ipaddresspools',
      body: {
        apiVersion: 'heraldlb.io/v1beta1',
        kind: 'IPAddressPool',
        metadata: { name: POOL },
        spec: { addresses: [POOL_RANGE] },
      },
    });
    const baseRate = await baseline(c, Math.max(100, Math.round(nBulk / 10)));
    const watch = new IngressWatch(kc);
    await watch.start();

    const first = spawnController(cp.kubeconfigPath);
    procs.push(first);
    await first.waitLog('leading: existing assignments loaded');
    await readyAt(first);

    const lat = await serial(c, watch, nSerial);
    const pids = { 'kube-apiserver': cp.pids.apiserver, etcd: cp.pids.etcd, controller: first.pid };
    const cpu0 = cpuSnapshot(pids);
    const b = await bulk(c, watch, nBulk);
    const cpu1 = cpuSnapshot(pids);
    await settle(first);
    const rssFirst = rssMiB(first.pid);

    // Cold start: the same 10,000 assigned Services, a new process.
    const before = await ipsByName(c);
    await stopController(first, 'SIGKILL');
    const second = spawnController(cp.kubeconfigPath);
    procs.push(second);
    const loadedLine = await second.waitLog('leading: existing assignments loaded');
    const ready = await readyAt(second);
    const loadedS = ((loadedLine.seenAt as number) - second.started) / 1000;
    const readyS = (Math.max(ready, loadedLine.seenAt as number) - second.started) / 1000;
    await settle(second, 5000);
    const rssSecond = rssMiB(second.pid);
    const after = await ipsByName(c);
    let changed = 0;
    for (const [name, ip] of before) if (after.get(name) !== ip || ip === '') changed++;
    const rewritten = second.lines.filter((l) => l.msg === 'assigned').length;
    await stopController(second, 'SIGTERM');
    await watch.stop();

    const f = (n: number, d = 1) => n.toFixed(d);
    const rows: Row[] = [
      {
        measure: `serial create -> ingress, n=${nSerial} (ms)`,
        p50: f(median(lat.total)),
        p99: f(p99(lat.total)),
        target: 'p50 <= 15, p99 <= 60',
        pass: median(lat.total) <= 15 && p99(lat.total) <= 60,
      },
      {
        measure: '... of which the create call (ms)',
        p50: f(median(lat.create)),
        p99: f(p99(lat.create)),
        target: '',
        pass: undefined,
      },
      {
        measure: '... of which create answered -> ingress seen (ms)',
        p50: f(median(lat.rest)),
        p99: f(p99(lat.rest)),
        target: '',
        pass: undefined,
      },
      {
        measure: `bulk ${nBulk} Services (64 creates in flight) -> all ingress (s)`,
        p50: f(b.allSeconds),
        p99: '',
        target: '<= 30',
        pass: b.allSeconds <= 30,
      },
      {
        measure: `bulk create throughput (Services/s, creates alone took ${f(b.createSeconds)} s)`,
        p50: f(nBulk / b.createSeconds, 0),
        p99: '',
        target: '',
        pass: undefined,
      },
      {
        measure: 'API server alone, no controller: create throughput at 64 in flight (Services/s)',
        p50: f(baseRate, 0),
        p99: '',
        target: '',
        pass: undefined,
      },
      {
        measure: 'bulk: last create answered -> all ingress (s)',
        p50: f(b.lagSeconds, 2),
        p99: '',
        target: '',
        pass: undefined,
      },
      {
        measure: `bulk: CPU ms per Service (${Object.keys(cpu1).join(' / ')})`,
        p50: Object.keys(cpu1)
          .map((k) => f((((cpu1[k] as number) - (cpu0[k] as number)) * 1000) / nBulk, 2))
          .join(' / '),
        p99: '',
        target: '',
        pass: undefined,
      },
      {
        measure: `cold start -> "existing assignments loaded" (s; load itself ${loadedLine.ms} ms)`,
        p50: f(loadedS, 2),
        p99: '',
        target: '',
        pass: undefined,
      },
      {
        measure: `cold start -> loaded + /readyz 200, ${before.size} assigned Services (s)`,
        p50: f(readyS, 2),
        p99: '',
        target: '<= 5',
        pass: readyS <= 5,
      },
      {
        measure: `IP changes across the restart (of ${before.size}; re-assign decisions: ${rewritten})`,
        p50: String(changed),
        p99: '',
        target: '0',
        pass: changed === 0 && rewritten === 0,
      },
      {
        measure: `controller RSS at ${before.size} Services, first process / restarted (MiB)`,
        p50: `${f(rssFirst)} / ${f(rssSecond)}`,
        p99: '',
        target: '<= 150',
        pass: Math.max(rssFirst, rssSecond) <= 150,
      },
    ];
    const verdict = (p: boolean | undefined) => (p === undefined ? '' : p ? 'pass' : '**FAIL**');
    return [
      '| measure | p50 / value | p99 | target | result |',
      '|---|---|---|---|---|',
      ...rows.map((r) => `| ${r.measure} | ${r.p50} | ${r.p99} | ${r.target} | ${verdict(r.pass)} |`),
      '',
      `${machineLine()}; ${new Date().toISOString()}; load average ${f(load0, 2)} at start, ` +
        `${f(loadavg()[0] as number, 2)} at end (the controller, the API server, etcd and this client share the cores)`,
    ].join('\n');
  } finally {
    for (const p of procs) await stopController(p, 'SIGKILL');
    await cp.stop();
  }
}
