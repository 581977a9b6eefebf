/**
 * Runs the real controller (`node dist/controller/main.js`) as a child process for
 * integration tests, plus the small polling and reading helpers those tests share.
 *
 * Logs: pino writes one JSON object per line to stdout; each line is appended to a file
 * under a temp dir (kept for post-mortems, path in `logFile`) and parsed into memory.
 * Every started process is tracked so a crashed test file cannot leak it: `stop()` in
 * afterAll is the normal path, and a process exit hook SIGKILLs whatever is left.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  CoreV1Api,
  type CoreV1Event,
  CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Service,
} from '@kubernetes/client-node';
import { CONTROLLER_NODE_FLAGS } from '../../controller/launch.js';
import { uniqueName } from './kube.js';
import { logDir } from './log-dirs.js';

const repoRoot = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', '..');
const mainJs = join(repoRoot, 'dist', 'controller', 'main.js');

export type LogLine = Record<string, unknown> & { msg?: string };

export interface ControllerHandle {
  readonly pid: number;
  readonly logFile: string;
  /** SIGTERM, then wait for exit (SIGKILL after `graceMs`); resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
  /** Every JSON log line so far, in order. */
  logs(): LogLine[];
  /** The first log line (already seen or still to come) matching `pred`. */
  waitForLog(pred: (l: LogLine) => boolean, ms?: number): Promise<LogLine>;
  /** Resolves once the process has exited. */
  readonly exited: Promise<number | null>;
  /** Non-JSON output (stderr, stray stdout), for failure messages. */
  stderr(): string;
}

// pid -> process, so an exit hook can SIGKILL anything a failed test left running.
const running = new Map<number, ChildProcess>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const child of running.values()) child.kill('SIGKILL');
  });
}

export interface StartOptions {
  kubeconfig: string;
  args?: readonly string[];
  /** Prefix of the temp dir holding the log file. */
  name?: string;
  /** The Node.js binary to run it with (default: the one running the tests). */
  node?: string;
}

export function startController(o: StartOptions): ControllerHandle {
  if (!existsSync(mainJs)) throw new Error(`${mainJs} missing: run "npm run -s build" first`);
  hookExit();
  const dir = logDir(o.name ?? 'heraldlb-controller');
  const logFile = join(dir, 'controller.log');
  const file: WriteStream = createWriteStream(logFile);
  const argv = [...CONTROLLER_NODE_FLAGS, mainJs, '--kubeconfig', o.kubeconfig, ...(o.args ?? [])];
  const child = spawn(o.node ?? process.execPath, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, HERALDLB_LOG_LEVEL: process.env.HERALDLB_LOG_LEVEL ?? 'info' },
  });
  if (child.pid === undefined) throw new Error('controller did not start');
  const pid = child.pid;
  running.set(pid, child);
  const lines: LogLine[] = [];
  const waiters = new Set<{ pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }>();
  let other = '';
  let partial = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    file.write(chunk);
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const text of parts) {
      if (!text.trim()) continue;
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        other += `${text}\n`;
        continue;
      }
      lines.push(line);
      for (const w of waiters) {
        if (w.pred(line)) {
          waiters.delete(w);
          w.resolve(line);
        }
      }
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    file.write(chunk);
    other += chunk;
  });
  const exited = new Promise<number | null>((res) => {
    child.once('exit', (code) => {
      running.delete(pid);
      file.end();
      res(code);
    });
  });

  const waitForLog = (pred: (l: LogLine) => boolean, ms = 15_000): Promise<LogLine> => {
    const seen = lines.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((res, rej) => {
      const w = {
        pred,
        resolve: (l: LogLine) => {
          clearTimeout(timer);
          res(l);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(w);
        rej(new Error(`no matching controller log line within ${ms} ms (log: ${logFile})\n${other}`));
      }, ms);
      waiters.add(w);
    });
  };

  const isRunning = () => running.has(pid);
  return {
    pid,
    logFile,
    exited,
    logs: () => [...lines],
    stderr: () => other,
    waitForLog,
    async stop(graceMs = 10_000) {
      if (!isRunning()) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    async kill() {
      if (isRunning()) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Starts a controller and waits until it has loaded existing assignments (it leads). */
export async function startLeadingController(o: StartOptions): Promise<ControllerHandle> {
  const c = startController(o);
  try {
    await c.waitForLog((l) => l.msg === 'leading: existing assignments loaded', 30_000);
  } catch (err) {
    await c.kill();
    throw err;
  }
  return c;
}

/** The port the controller's /metrics, /healthz, /readyz server bound (from its log). */
export async function metricsPort(c: ControllerHandle): Promise<number> {
  const l = await c.waitForLog((x) => x.msg === 'serving /metrics, /healthz, /readyz');
  return l.port as number;
}

/**
 * Polls `fn` until it returns something other than undefined/null/false without throwing;
 * returns that value. On timeout, throws the last error (an expect() failure reads best).
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  timeoutMs = 15_000,
  intervalMs = 100,
): Promise<Exclude<T, undefined | null | false>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== null && v !== false) return v as Exclude<T, undefined | null | false>;
      last = new Error(`condition still ${String(v)} after ${timeoutMs} ms`);
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) throw last;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The ingress IPs of a Service's status, in order. */
export function ingressIPs(svc: V1Service | undefined): string[] {
  return (svc?.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? '');
}

/**
 * The Events heraldlb's controller wrote about `name` in `namespace` (pool Events: namespace
 * "default"), oldest first. Only ours: kube-apiserver
 * writes its own about Services (e.g. ClusterIPAllocation "…is not allocated; repairing" when
 * its repair loop races a create), and a test asserting "no Event" means none from us.
 */
export async function eventsFor(core: CoreV1Api, namespace: string, name: string): Promise<CoreV1Event[]> {
  const list = await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` });
  const at = (e: CoreV1Event) => new Date(e.lastTimestamp ?? e.eventTime ?? 0).getTime();
  return list.items
    .filter((e) => (e.reportingComponent ?? e.source?.component) === 'heraldlb-controller')
    .sort((a, b) => at(a) - at(b));
}

/** GET on the controller's health server: [status, body]. */
export async function httpGet(port: number, path: string): Promise<[number, string]> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return [res.status, await res.text()];
}

/** The value of one Prometheus sample (`name{labels}` exactly as rendered), if present. */
export function metricValue(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    if (i > 0 && line.slice(0, i) === series) return Number(line.slice(i + 1));
  }
  return undefined;
}

// --- objects ---------------------------------------------------------------------------

export interface ServiceSpecOptions {
  loadBalancerClass?: string | null;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  /** Port numbers (TCP unless given as "53/UDP"). */
  ports?: readonly (number | string)[];
  families?: readonly ('IPv4' | 'IPv6')[];
  policy?: 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';
  trafficPolicy?: 'Cluster' | 'Local';
  selector?: Record<string, string>;
  loadBalancerIP?: string;
  type?: 'LoadBalancer' | 'ClusterIP' | 'NodePort';
}

/** A Service body; LoadBalancer without node ports unless `type` says otherwise. */
export function serviceBody(name: string, o: ServiceSpecOptions = {}): V1Service {
  const type = o.type ?? 'LoadBalancer';
  const lb = type === 'LoadBalancer';
  return {
    metadata: { name, annotations: o.annotations, labels: o.labels },
    spec: {
      type,
      loadBalancerClass: lb ? (o.loadBalancerClass ?? undefined) : undefined,
      allocateLoadBalancerNodePorts: lb ? false : undefined,
      ports: (o.ports ?? [80]).map((p) => {
        const [port, protocol] = String(p).split('/');
        return {
          name: `p${port}-${(protocol ?? 'TCP').toLowerCase()}`,
          port: Number(port),
          protocol: protocol ?? 'TCP',
        };
      }),
      selector: o.selector ?? { app: name },
      ipFamilies: o.families ? [...o.families] : undefined,
      ipFamilyPolicy: o.policy,
      externalTrafficPolicy: lb || type === 'NodePort' ? o.trafficPolicy : undefined,
      loadBalancerIP: o.loadBalancerIP,
    },
  };
}

const POOLS = { group: 'heraldlb.io', version: 'v1beta1', plural: 'ipaddresspools' } as const;
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface PoolObject {
  metadata: { name: string; creationTimestamp?: string; uid?: string };
  spec: Record<string, unknown>;
  status?: {
    assignedIPv4?: number;
    availableIPv4?: number;
    assignedIPv6?: number;
    availableIPv6?: number | string;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

const isNotFound = (err: unknown) => (err as { code?: number }).code === 404;

/**
 * Creates and reads the objects a controller test needs, remembering what it created so
 * `cleanup()` (afterAll/afterEach) deletes every pool and Service it made.
 */
export class TestObjects {
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;
  private readonly pools = new Set<string>(); // pool names created here
  private readonly services = new Set<string>(); // ns/name of Services created here

  constructor(kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
  }

  async namespace(prefix: string, labels?: Record<string, string>): Promise<string> {
    const name = uniqueName(prefix);
    await this.core.createNamespace({ body: { metadata: { name, labels } } });
    return name;
  }

  async labelNamespace(name: string, labels: Record<string, string | null>): Promise<void> {
    await this.core.patchNamespace({ name, body: { metadata: { labels } } }, mergePatch);
  }

  async createPool(name: string, spec: Record<string, unknown>): Promise<PoolObject> {
    this.pools.add(name);
    return (await this.custom.createClusterCustomObject({
      ...POOLS,
      body: {
        apiVersion: `${POOLS.group}/${POOLS.version}`,
        kind: 'IPAddressPool',
        metadata: { name },
        spec,
      },
    })) as PoolObject;
  }

  async patchPool(name: string, spec: Record<string, unknown>): Promise<void> {
    await this.custom.patchClusterCustomObject({ ...POOLS, name, body: { spec } }, mergePatch);
  }

  async getPool(name: string): Promise<PoolObject> {
    return (await this.custom.getClusterCustomObject({ ...POOLS, name })) as PoolObject;
  }

  async deletePool(name: string): Promise<void> {
    this.pools.delete(name);
    await this.custom.deleteClusterCustomObject({ ...POOLS, name }).catch((err) => {
      if (!isNotFound(err)) throw err;
    });
  }

  /** Polls the pool until `check` passes (it may throw expect() failures); returns the pool. */
  async poolWhere(name: string, check: (p: PoolObject) => void, ms = 15_000): Promise<PoolObject> {
    return waitFor(async () => {
      const p = await this.getPool(name);
      check(p);
      return p;
    }, ms);
  }

  async createService(namespace: string, name: string, o: ServiceSpecOptions = {}): Promise<V1Service> {
    this.services.add(`${namespace}/${name}`);
    return this.core.createNamespacedService({ namespace, body: serviceBody(name, o) });
  }

  async getService(namespace: string, name: string): Promise<V1Service> {
    return this.core.readNamespacedService({ namespace, name });
  }

  async patchService(namespace: string, name: string, body: object): Promise<V1Service> {
    return this.core.patchNamespacedService({ namespace, name, body }, mergePatch);
  }

  async patchServiceStatus(namespace: string, name: string, body: object): Promise<V1Service> {
    return this.core.patchNamespacedServiceStatus({ namespace, name, body }, mergePatch);
  }

  async deleteService(namespace: string, name: string): Promise<void> {
    this.services.delete(`${namespace}/${name}`);
    await this.core.deleteNamespacedService({ namespace, name }).catch((err) => {
      if (!isNotFound(err)) throw err;
    });
  }

  /**
   * Waits until the Service's ingress has `count` IPs and the pool annotation is written (the
   * controller patches status first, then metadata); returns the Service.
   */
  async served(namespace: string, name: string, count = 1, ms = 15_000): Promise<V1Service> {
    return waitFor(async () => {
      const s = await this.getService(namespace, name);
      const annotated = s.metadata?.annotations?.['heraldlb.io/ip-allocated-from-pool'] !== undefined;
      return ingressIPs(s).length === count && annotated ? s : undefined;
    }, ms);
  }

  /** Waits for an Event with this reason (and message match) about the object; returns it. */
  async event(
    namespace: string,
    name: string,
    reason: string,
    message?: RegExp | string,
    ms = 15_000,
  ): Promise<CoreV1Event> {
    return waitFor(async () => {
      const evs = await eventsFor(this.core, namespace, name);
      return evs.find(
        (e) =>
          e.reason === reason &&
          (message === undefined ||
            (typeof message === 'string' ? e.message === message : message.test(e.message ?? ''))),
      );
    }, ms);
  }

  /** Deletes every Service and pool created through this object (missing ones are fine). */
  async cleanup(): Promise<void> {
    for (const key of [...this.services]) {
      const [ns, name] = key.split('/') as [string, string];
      await this.deleteService(ns, name);
    }
    for (const name of [...this.pools]) await this.deletePool(name);
  }
}
