/**
 * The controller process, wired: informers (always running, so a standby replica takes over
 * warm), a Lease election, and per leadership term a fresh Reconciler + work queue. Nothing
 * here decides anything; it connects the pure parts to the API server. Its I/O comes in as a
 * ControllerIO (apiIO() is the real one), so tests drive it with fakes and a FakeClock.
 *
 * Terms, one at a time (kube/leader-election.ts, kube/term.ts):
 * - a term begins only after the caches are synced AND the Service cache has seen the last
 *   write of the previous term (the Lease names it), so nothing is allocated from a view that
 *   misses an assignment a previous leader made;
 * - a term ends by itself only: its queue drops what waits, its in-flight keys finish (their
 *   writes are fenced), and only then is `term` cleared; a late end can never clear the next one;
 * - /readyz and heraldlb_leader say whether a live term is handling events.
 */
import type { KubernetesObject, V1Namespace, V1Service } from '@kubernetes/client-node';
import cron from 'node-cron';
import type { Logger } from 'pino';
import { GROUP, IPADDRESSPOOL_PLURAL, type IPAddressPool, VERSION } from '../api/crd-types.js';
import { type Clock, systemClock } from '../kube/clock.js';
import type { Connection } from '../kube/connection.js';
import { classifyApiError, describeApiError, KubeError } from '../kube/errors.js';
import { type EventApi, EventRecorder, restEventApi } from '../kube/events.js';
import { HealthServer, splitHostPort } from '../kube/health-server.js';
import { Informer, type ListerWatcher, restListerWatcher } from '../kube/informer.js';
import { LeaderElector, type LeaseClient } from '../kube/leader-election.js';
import { restLeaseClient } from '../kube/lease-client.js';
import { LeadershipTerm } from '../kube/term.js';
import { trimObject } from '../kube/trim.js';
import { WorkQueue } from '../kube/workqueue.js';
import { apiEvents, apiWriter } from './api-writer.js';
import { controllerMetrics, metricsObserver } from './metrics.js';
import type { Options } from './options.js';
import { Reconciler, type Writer } from './reconciler.js';
import { serviceProjection } from './service-cache.js';

type Svc = V1Service & KubernetesObject;
type Pool = IPAddressPool & KubernetesObject;
type Ns = V1Namespace & KubernetesObject;

/** Everything the controller does to the outside world. */
export interface ControllerIO {
  services: ListerWatcher<Svc>;
  pools: ListerWatcher<Pool>;
  namespaces: ListerWatcher<Ns>;
  lease: LeaseClient;
  /** The writes of one term, fenced by it. */
  writer(term: LeadershipTerm): Writer;
  events: EventApi;
  clock: Clock;
  /** Runs `fn` on a cron schedule until stop(). */
  schedule(expression: string, fn: () => void): { stop(): void };
}

export function apiIO(conn: Connection, opts: Options): ControllerIO {
  return {
    services: restListerWatcher<Svc>(conn, { path: '/api/v1/services' }),
    pools: restListerWatcher<Pool>(conn, { path: `/apis/${GROUP}/${VERSION}/${IPADDRESSPOOL_PLURAL}` }),
    namespaces: restListerWatcher<Ns>(conn, { path: '/api/v1/namespaces' }),
    lease: restLeaseClient(conn, opts.leaseNamespace, opts.leaseName),
    writer: (term) => apiWriter(conn, term),
    events: restEventApi(conn),
    clock: systemClock,
    schedule: (expression, fn) => cron.schedule(expression, fn),
  };
}

interface Term {
  queue: WorkQueue;
  reconciler: Reconciler;
  loaded: boolean;
  /** Aborts when the term ends; its in-flight keys may still be finishing. */
  signal: AbortSignal;
}

const svcKey = (key: string) => `svc/${key}`;
// How long a new term waits for its cache to reach the previous term's last write before it
// lists afresh instead (a watch normally delivers it within milliseconds).
const CATCH_UP_MS = 10_000;
// A write the API refuses for good (422, 403) is retried this slowly, after a Warning Event.
export const PERMANENT_RETRY_MS = 60_000;

export class ControllerApp {
  readonly metrics = controllerMetrics();
  private readonly services: Informer<Svc>;
  private readonly pools: Informer<Pool>;
  private readonly namespaces: Informer<Ns>;
  private readonly recorder: EventRecorder;
  private elector: LeaderElector | undefined;
  private term: Term | undefined;
  private readonly poolGenerations = new Map<string, number>(); // pool name -> metadata.generation last routed

  constructor(
    private readonly opts: Options,
    private readonly io: ControllerIO,
    private readonly log: Logger,
  ) {
    const informer = <T extends KubernetesObject>(
      name: string,
      lw: ListerWatcher<T>,
      transform: (o: T) => T,
    ) =>
      new Informer<T>({
        name,
        listerWatcher: lw,
        transform,
        clock: io.clock,
        logger: log.child({ component: 'informer', informer: name }),
      });
    this.services = informer<Svc>('services', io.services, serviceProjection);
    this.pools = informer('ipaddresspools', io.pools, trimObject);
    this.namespaces = informer<Ns>('namespaces', io.namespaces, trimObject);
    this.recorder = new EventRecorder({
      sink: io.events,
      component: 'heraldlb-controller',
      instance: opts.identity,
      clock: io.clock,
      normalPerSecond: opts.eventQps,
      normalBurst: opts.eventBurst,
      onDrop: (type, why) => this.metrics.eventsDropped.inc({ type, why }),
      logger: log.child({ component: 'events' }),
    });
    // Handlers only route keys; the current term (if leading) decides what they mean.
    this.services.onChange((k) => this.term?.queue.add(svcKey(k)));
    this.pools.onChange((k) => this.term?.queue.add(this.poolKey(k)));
    // Namespace labels matter only for Services not yet served (held IPs never move).
    this.namespaces.onChange(() => this.term?.queue.add('pending'));
  }

  /**
   * A pool's spec (generation) changed, or it came or went: 'pools' re-reads every pool and
   * re-checks every Service. Anything else is a status write (mostly our own, after each batch
   * of assignments): only that pool's status needs a look. Re-checking 10,000 Services after
   * each of our own status writes was most of the controller's CPU in a bulk create.
   */
  private poolKey(name: string): string {
    const gen = this.pools.get(name)?.metadata?.generation;
    const same = gen !== undefined && this.poolGenerations.get(name) === gen;
    if (gen === undefined) this.poolGenerations.delete(name);
    else this.poolGenerations.set(name, gen);
    return same ? `pool/${name}` : 'pools';
  }

  /** Runs until `signal` aborts; then ends the term and releases the Lease so a standby takes over at once. */
  async run(signal: AbortSignal): Promise<void> {
    const [host, port] = splitHostPort(this.opts.metricsAddr);
    const health = new HealthServer({
      host,
      port,
      registry: this.metrics.registry,
      ready: () => this.readiness(),
      logger: this.log.child({ component: 'http' }),
    });
    if (this.opts.metricsAddr) {
      const bound = await health.start(signal);
      this.log.info({ host, port: bound }, 'serving /metrics, /healthz, /readyz');
    }
    for (const i of this.informers()) i.start(signal);
    const resync = this.io.schedule(this.opts.resyncSchedule, () => this.resync());
    try {
      if (this.opts.leaderElect) await this.elect(signal);
      else await this.leadAlone(signal);
    } finally {
      resync.stop();
      await Promise.all(this.informers().map((i) => i.stop()));
      await this.recorder.flush();
      await health.stop();
    }
  }

  /** What /readyz answers: true, or why not. */
  readiness(): boolean | string {
    if (!this.informers().every((i) => i.hasSynced())) return 'caches not synced';
    const leading = this.opts.leaderElect ? this.elector?.isLeader() === true : true;
    if (leading && !this.term) return 'leading, but no term is handling events yet';
    if (this.term && !this.term.loaded) return 'loading existing assignments';
    if (this.term?.signal.aborted) return 'the leadership term is ending';
    return true;
  }

  /** True while a term has loaded what is held and handles events (heraldlb_leader). */
  handlingEvents(): boolean {
    return this.term?.loaded === true && !this.term.signal.aborted;
  }

  private informers() {
    return [this.services, this.pools, this.namespaces];
  }

  private async elect(signal: AbortSignal): Promise<void> {
    const elector = new LeaderElector({
      lock: this.io.lease,
      identity: this.opts.identity,
      leaseDurationMs: this.opts.leaseDurationMs,
      renewDeadlineMs: this.opts.renewDeadlineMs,
      retryPeriodMs: this.opts.retryPeriodMs,
      clock: this.io.clock,
      logger: this.log.child({ component: 'leader-election' }),
      onStartedLeading: (term) => this.lead(term),
      onNewLeader: (id) => this.log.info({ leader: id, me: id === this.opts.identity }, 'leader observed'),
    });
    this.elector = elector;
    elector.start(signal);
    await new Promise<void>((r) => {
      if (signal.aborted) r();
      else signal.addEventListener('abort', () => r(), { once: true });
    });
    await elector.stop();
  }

  /** --leader-elect=false: one term for the life of the process, never fenced by a Lease. */
  private async leadAlone(signal: AbortSignal): Promise<void> {
    const term = new LeadershipTerm(this.io.clock, Number.POSITIVE_INFINITY, '');
    const end = () => term.end(new KubeError('STOPPED', 'controller stopping'));
    if (signal.aborted) end();
    else signal.addEventListener('abort', end, { once: true });
    await this.lead(term);
  }

  /** One leadership term: catch up, load what is held, then reconcile until the term ends. */
  private async lead(lt: LeadershipTerm): Promise<void> {
    const signal = lt.signal;
    this.log.info('leading: waiting for caches');
    const synced = await Promise.all(this.informers().map((i) => i.waitForSync(signal)));
    if (!synced.every(Boolean) || signal.aborted) return;
    await this.catchUp(lt);
    if (signal.aborted) return;
    const queue = new WorkQueue({ baseDelayMs: 200, maxDelayMs: 60_000, clock: this.io.clock });
    const reconciler = this.reconciler(queue, lt);
    const me: Term = { queue, reconciler, loaded: false, signal };
    this.term = me;
    // The moment the term ends it handles nothing more (its queue drops what waits).
    signal.addEventListener('abort', () => this.metrics.leader.set(undefined, 0), { once: true });
    const t0 = this.io.clock.now();
    const keys = reconciler.load();
    me.loaded = true;
    this.metrics.leader.set(undefined, 1);
    this.log.info(
      { services: keys.length - 1, ms: this.io.clock.now() - t0 },
      'leading: existing assignments loaded',
    );
    for (const k of keys) queue.add(k);
    try {
      await queue.run((key) => this.handle(reconciler, key), {
        workers: this.opts.workers,
        signal,
        onError: (key, err) => this.failed(reconciler, key, err),
      });
    } finally {
      // Only this term's own end clears it: the next term may already be set.
      if (this.term === me) {
        this.term = undefined;
        this.metrics.leader.set(undefined, 0);
        this.log.info('not leading');
      }
    }
  }

  /** Waits until the Service cache has seen the previous term's last write (or lists afresh). */
  private async catchUp(lt: LeadershipTerm): Promise<void> {
    const rv = lt.previousWrittenThrough;
    if (rv === '' || (await this.services.waitForResourceVersion(rv, CATCH_UP_MS, lt.signal))) return;
    if (lt.signal.aborted) return;
    this.log.warn(
      { writtenThrough: rv },
      "the cache has not seen the previous leader's last write: listing afresh",
    );
    await this.services.relistNow();
  }

  private reconciler(queue: WorkQueue, lt: LeadershipTerm): Reconciler {
    return new Reconciler({
      caches: {
        service: (k) => this.services.get(k),
        services: () => this.services.list(),
        pools: () => this.pools.list(),
        namespaceLabels: (ns) => this.namespaces.get(ns)?.metadata?.labels ?? {},
      },
      writer: this.io.writer(lt),
      events: apiEvents(this.recorder),
      observer: metricsObserver(this.metrics),
      enqueue: (k, delay) => (delay ? queue.addAfter(k, delay) : queue.add(k)),
      decide: (d) => this.log.info({ service: d.key, ...d, key: undefined }, d.action),
      now: () => new Date(this.io.clock.wall()),
      loadBalancerClass: this.opts.loadBalancerClass,
    });
  }

  private async handle(reconciler: Reconciler, key: string): Promise<void> {
    const t0 = performance.now();
    try {
      await reconciler.handle(key);
      reconciler.succeeded(key);
    } finally {
      this.metrics.reconcile.observe({ kind: kindOf(key) }, (performance.now() - t0) / 1000);
    }
  }

  /** A key failed; the queue retries it after its backoff, or after the returned floor. */
  private failed(reconciler: Reconciler, key: string, err: unknown): number | undefined {
    const kind = kindOf(key);
    if (err instanceof KubeError && err.code === 'FENCED') return undefined; // the term is over
    const cls = classifyApiError(err);
    const detail = describeApiError(err);
    if (cls === 'conflict') {
      // Normal: the object changed since the decision; the retry decides on the newer one.
      this.metrics.conflicts.inc({ kind });
      this.log.debug({ key, err: detail }, 'object changed meanwhile; deciding again');
      return undefined;
    }
    this.metrics.reconcileErrors.inc({ kind });
    if (cls === 'invalid' || cls === 'forbidden') {
      reconciler.writeFailed(key, detail);
      this.log.warn({ key, err: detail, class: cls }, 'write refused; retrying slowly');
      return PERMANENT_RETRY_MS;
    }
    this.log.warn({ key, err: detail, class: cls }, 'reconcile failed; retrying with backoff');
    return undefined;
  }

  /** Safety net for missed events: every key again (a no-op where nothing differs). */
  private resync(): void {
    const q = this.term?.queue;
    if (!q) return;
    for (const k of this.services.keys()) q.add(svcKey(k));
    q.add('pools');
  }
}

const kindOf = (key: string) => key.split('/')[0] ?? key;
