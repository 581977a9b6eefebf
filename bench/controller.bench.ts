/**
 * The controller end to end, as a real process against fresh real control planes (etcd +
 * kube-apiserver, started here). Ingress is observed through a watch (never by polling), so a
 * latency is "create call made" to "status with ingress reached a client".
 *
 * The controller runs as its ServiceAccount under the chart's RBAC, as in a cluster (an admin
 * client certificate would cost the API server a chain verification per request).
 *
 * Two control planes, so each phase starts from a known state:
 * A. serial create -> ingress latency (1,000 Services, one at a time), then a live burst:
 *    10,000 Services created 64 at a time while the controller runs -> all served. Creating
 *    them is bound by the API server (see docs/benchmarks.md), so this is end to end.
 * B. the burst target: 10,000 Services already exist, none served (created while no
 *    controller ran), then the controller starts -> all served; then its RSS; then a cold
 *    start of a new process with those 10,000 assigned (ready time, zero IP changes, RSS).
 *
 * HERALDLB_BENCH_SERIAL / _BULK change the counts, HERALDLB_BENCH_PHASES=B runs phase B alone,
 * HERALDLB_BENCH_MEMORY_LIMIT_MIB the controller's memory limit (default 256, 0 for none); see
 * controller-proc.ts for the Node binary and profiling flags.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { V1Service } from '@kubernetes/client-node';
import { CONTROLLER_NODE_FLAGS } from '../controller/launch.js';
import { kubeConfigConnection } from '../kube/connection.js';
import { applyObjects, CONTROLLER_SERVICE_ACCOUNT, renderedControllerRbac } from '../lab/chart-rbac.js';
import { type ControlPlane, startControlPlane } from '../lab/control-plane.js';
import { applyCrds } from '../lab/crds.js';
import { type KubeClients, loadKubeConfig, makeClients } from '../lab/kube-clients.js';
import { memoryCgroup, type Wrap } from '../lab/memory-cgroup.js';
import {
  CONTROLLER_NODE,
  NS,
  type Proc,
  readyAt,
  sampleRss,
  sleep,
  spawnController,
  stopController,
} from './controller-proc.js';
import { IngressWatch } from './ingress-watch.js';
import { machineLine, median, p99, rssMiB } from './stats.js';

const POOL = 'bench';
const POOL_RANGE = '2001:db8:180::/64';
const STEADY_WAIT_MS = 60_000;
// The memory limit the controller's container gets; V8 sizes its heap from it (memory-cgroup.ts).
const MEMORY_LIMIT_MIB = Number(process.env.HERALDLB_BENCH_MEMORY_LIMIT_MIB ?? 256);

// --- objects -------------------------------------------------------------------------------

function service(name: string): V1Service {
  return {
    metadata: { name, namespace: NS },
    spec: {
      type: 'LoadBalancer',
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

/** Waits until the controller has written nothing for `quietMs` (no decision logged). */
async function settle(p: Proc, quietMs = 3000): Promise<void> {
  for (;;) {
    const last = p.lines.at(-1)?.seenAt as number | undefined;
    if (last !== undefined && performance.now() - last >= quietMs) return;
    await sleep(250);
  }
}

/** Creates n Services named `${prefix}-i`, 64 calls in flight; returns the seconds taken. */
async function createMany(c: KubeClients, prefix: string, n: number): Promise<number> {
  const t0 = performance.now();
  await inParallel(n, 64, (i) =>
    retrying(() => c.core.createNamespacedService({ namespace: NS, body: service(`${prefix}-${i}`) })),
  );
  return (performance.now() - t0) / 1000;
}

/** Waits until the watch has seen `n` more Services served; seconds since `t0`. */
async function servedAll(watch: IngressWatch, before: number, n: number, t0: number): Promise<number> {
  await watch.count(before + n);
  return (performance.now() - t0) / 1000;
}

async function setUp(cp: ControlPlane) {
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
  // The controller runs as it does in a cluster: its ServiceAccount under the chart's RBAC.
  await applyObjects(kc, renderedControllerRbac(NS));
  const controllerKubeconfig = await cp.serviceAccountKubeconfig(NS, CONTROLLER_SERVICE_ACCOUNT);
  const watch = new IngressWatch(kubeConfigConnection(kc), NS);
  await watch.start();
  return { c, watch, controllerKubeconfig };
}

/** A: serial latency, then a burst created while the controller runs. */
async function phaseA(nSerial: number, nBulk: number, wrap: Wrap) {
  const cp = await startControlPlane({ authorization: 'RBAC' });
  const procs: Proc[] = [];
  try {
    const { c, watch, controllerKubeconfig } = await setUp(cp);
    const ctl = spawnController(controllerKubeconfig, wrap);
    procs.push(ctl);
    await ctl.waitLog('leading: existing assignments loaded');
    await readyAt(ctl);
    const lat = await serial(c, watch, nSerial);
    const t0 = performance.now();
    const before = watch.first.size;
    const createS = await createMany(c, 'live', nBulk);
    const allS = await servedAll(watch, before, nBulk, t0);
    await watch.stop();
    return { lat, live: { createS, allS, lagS: allS - createS } };
  } finally {
    for (const p of procs) await stopController(p, 'SIGKILL');
    await cp.stop();
  }
}

/** B: a backlog of n unserved Services, then the controller starts; then a cold restart. */
async function phaseB(n: number, wrap: Wrap) {
  const cp = await startControlPlane({ authorization: 'RBAC' });
  const procs: Proc[] = [];
  try {
    const { c, watch, controllerKubeconfig } = await setUp(cp);
    const createS = await createMany(c, 'backlog', n);
    const pids = { 'kube-apiserver': cp.pids.apiserver, etcd: cp.pids.etcd };
    const cpu0 = cpuSnapshot(pids);
    const first = spawnController(controllerKubeconfig, wrap);
    procs.push(first);
    const firstRss = sampleRss(first.pid);
    const serveS = await servedAll(watch, 0, n, first.started);
    const cpu1 = cpuSnapshot({ ...pids, controller: first.pid });
    await settle(first);
    const rssFirst = rssMiB(first.pid);
    // V8 gives memory back some tens of seconds after a burst (its memory reducer): the
    // steady state is what a cluster holding 10,000 Services lives with.
    await sleep(STEADY_WAIT_MS);
    const rssSteady = rssMiB(first.pid);
    const peakFirst = firstRss.peak();
    firstRss.stop();

    const before = await ipsByName(c);
    await stopController(first, 'SIGKILL');
    const second = spawnController(controllerKubeconfig, wrap);
    procs.push(second);
    const secondRss = sampleRss(second.pid);
    const loadedLine = await second.waitLog('leading: existing assignments loaded');
    const ready = await readyAt(second);
    await settle(second, 5000);
    const rssSecond = rssMiB(second.pid);
    await sleep(STEADY_WAIT_MS);
    const rssSecondSteady = rssMiB(second.pid);
    const peakSecond = secondRss.peak();
    secondRss.stop();
    const after = await ipsByName(c);
    let changed = 0;
    for (const [name, ip] of before) if (after.get(name) !== ip || ip === '') changed++;
    await stopController(second, 'SIGTERM');
    await watch.stop();
    const cpuMs: Record<string, number> = {};
    for (const k of Object.keys(cpu1)) cpuMs[k] = (((cpu1[k] ?? 0) - (cpu0[k] ?? 0)) * 1000) / n;
    return {
      createS,
      serveS,
      cpuMs,
      rssFirst,
      rssSteady,
      peakFirst,
      rssSecond,
      rssSecondSteady,
      peakSecond,
      assigned: before.size,
      changed,
      rewritten: second.lines.filter((l) => l.msg === 'assigned').length,
      loadedS: ((loadedLine.seenAt as number) - second.started) / 1000,
      loadMs: loadedLine.ms,
      readyS: (Math.max(ready, loadedLine.seenAt as number) - second.started) / 1000,
    };
  } finally {
    for (const p of procs) await stopController(p, 'SIGKILL');
    await cp.stop();
  }
}

interface Row {
  measure: string;
  value: string;
  p99?: string;
  target?: string;
  pass?: boolean;
}

type PhaseA = Awaited<ReturnType<typeof phaseA>>;
type PhaseB = Awaited<ReturnType<typeof phaseB>>;
const f = (n: number, d = 1) => n.toFixed(d);

function phaseARows(a: PhaseA, nSerial: number, nBulk: number): Row[] {
  return [
    {
      measure: `serial create -> ingress, n=${nSerial} (ms)`,
      value: f(median(a.lat.total)),
      p99: f(p99(a.lat.total)),
      target: 'p50 <= 15, p99 <= 60',
      pass: median(a.lat.total) <= 15 && p99(a.lat.total) <= 60,
    },
    {
      measure: '... of which the create call (ms)',
      value: f(median(a.lat.create)),
      p99: f(p99(a.lat.create)),
    },
    {
      measure: '... of which create answered -> ingress seen (ms)',
      value: f(median(a.lat.rest)),
      p99: f(p99(a.lat.rest)),
    },
    {
      measure: `live burst: ${nBulk} created 64 at a time while the controller runs -> all served (s)`,
      value: f(a.live.allS),
    },
    {
      measure: '... of which creating them (s); last create answered -> all served (s)',
      value: `${f(a.live.createS)}; ${f(a.live.lagS, 2)}`,
    },
  ];
}

function phaseBRows(b: PhaseB, nBulk: number): Row[] {
  return [
    {
      measure: `burst: ${nBulk} unserved Services exist, controller starts -> all served (s)`,
      value: f(b.serveS),
      target: '<= 30',
      pass: b.serveS <= 30,
    },
    {
      measure: `... CPU ms per Service while serving (${Object.keys(b.cpuMs).join(' / ')})`,
      value: Object.values(b.cpuMs)
        .map((v) => f(v, 2))
        .join(' / '),
    },
    {
      measure: `... creating those ${nBulk} with no controller running (s; Services/s)`,
      value: `${f(b.createS)}; ${f(nBulk / b.createS, 0)}`,
    },
    {
      measure: `cold start -> "existing assignments loaded" (s; load itself ${b.loadMs} ms)`,
      value: f(b.loadedS, 2),
    },
    {
      measure: `cold start -> loaded + /readyz 200, ${b.assigned} assigned Services (s)`,
      value: f(b.readyS, 2),
      target: '<= 5',
      pass: b.readyS <= 5,
    },
    {
      measure: `IP changes across the restart (of ${b.assigned}; re-assign decisions: ${b.rewritten})`,
      value: String(b.changed),
      target: '0',
      pass: b.changed === 0 && b.rewritten === 0,
    },
    {
      measure: `controller RSS holding ${b.assigned} Services, ${STEADY_WAIT_MS / 1000} s after serving the burst / after a restart (MiB)`,
      value: `${f(b.rssSteady)} / ${f(b.rssSecondSteady)}`,
      target: '<= 150',
      pass: Math.max(b.rssSteady, b.rssSecondSteady) <= 150,
    },
    {
      measure: '... serving the burst: peak / right after it (MiB)',
      value: `${f(b.peakFirst)} / ${f(b.rssFirst)}`,
    },
    {
      measure: '... restarted process: peak / right after loading (MiB)',
      value: `${f(b.peakSecond)} / ${f(b.rssSecond)}`,
    },
  ];
}

/** HERALDLB_BENCH_PHASES=B runs only the backlog, restart and memory phase. */
export async function benchController(): Promise<string> {
  const nSerial = Number(process.env.HERALDLB_BENCH_SERIAL ?? 1000);
  const nBulk = Number(process.env.HERALDLB_BENCH_BULK ?? 10_000);
  const phases = process.env.HERALDLB_BENCH_PHASES ?? 'AB';
  const load0 = loadavg()[0] as number;
  const rows: Row[] = [];
  const cg = MEMORY_LIMIT_MIB > 0 ? memoryCgroup(MEMORY_LIMIT_MIB, 'heraldlb-bench-controller') : undefined;
  let limitNote = 'controller with no memory limit';
  let wrap: Wrap = (c, a) => [c, a];
  if (cg && 'why' in cg) {
    // Loud, and in the result: memory figures without the limit are not the deployed case.
    process.stderr.write(`\n!! controller runs WITHOUT a memory limit: ${cg.why}\n\n`);
    limitNote = `controller with NO memory limit (${cg.why})`;
  } else if (cg) {
    wrap = cg.wrap;
    limitNote = `controller in a memory cgroup limited to ${cg.limitMiB} MiB, as in its container`;
  }
  try {
    if (phases.includes('A')) rows.push(...phaseARows(await phaseA(nSerial, nBulk, wrap), nSerial, nBulk));
    if (phases.includes('B')) rows.push(...phaseBRows(await phaseB(nBulk, wrap), nBulk));
  } finally {
    if (cg && !('why' in cg)) cg.remove();
  }
  const verdict = (p: boolean | undefined) => (p === undefined ? '' : p ? 'pass' : '**FAIL**');
  return [
    '| measure | p50 / value | p99 | target | result |',
    '|---|---|---|---|---|',
    ...rows.map(
      (r) => `| ${r.measure} | ${r.value} | ${r.p99 ?? ''} | ${r.target ?? ''} | ${verdict(r.pass)} |`,
    ),
    '',
    `${machineLine()}; ${new Date().toISOString()}; load average ${f(load0, 2)} at start, ` +
      `${f(loadavg()[0] as number, 2)} at end (the controller, the API server, etcd and this client share the cores); ` +
      `${limitNote}; controller on Node ${execFileSync(CONTROLLER_NODE, ['--version'], { encoding: 'utf8' }).trim()} ` +
      [...CONTROLLER_NODE_FLAGS, process.env.HERALDLB_BENCH_NODE_ARGS ?? ''].join(' ').trim(),
  ].join('\n');
}
