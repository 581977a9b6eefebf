/**
 * The controller process, wired: informers (always running, so a standby replica takes over
 * warm), a Lease election, and per leadership term a fresh Reconciler + work queue. Nothing
 * here decides anything; it connects the pure parts to the API server.
 */
import type { KubernetesObject, V1Namespace, V1Service } from '@kubernetes/client-node';
import cron from 'node-cron';
import type { Logger } from 'pino';
import { GROUP, IPADDRESSPOOL_PLURAL, type IPAddressPool, VERSION } from '../api/crd-types.js';
import type { Connection } from '../kube/connection.js';
import { classifyApiError, describeApiError } from '../kube/errors.js';
import { EventRecorder, restEventSink } from '../kube/events.js';
import { HealthServer } from '../kube/http.js';
import { Informer, restListerWatcher } from '../kube/informer.js';
import { LeaderElector } from '../kube/leader-election.js';
import { restLeaseClient } from '../kube/lease-client.js';
import { trimObject } from '../kube/trim.js';
import { WorkQueue } from '../kube/workqueue.js';
import { apiEvents, apiWriter } from './api-writer.js';
import { controllerMetrics, metricsObserver } from './metrics.js';
import type { Options } from './options.js';
import { Reconciler } from './reconciler.js';
import { serviceProjection } from './service-cache.js';

interface Term {
  queue: WorkQueue;
  reconciler: Reconciler;
}

const svcKey = (key: string) => `svc/${key}`;

export class ControllerApp {
  private readonly metrics = controllerMetrics();
  private readonly services: Informer<V1Service & KubernetesObject>;
  private readonly pools: Informer<IPAddressPool & KubernetesObject>;
  private readonly namespaces: Informer<V1Namespace & KubernetesObject>;
  private readonly recorder: EventRecorder;
  private term: Term | undefined;
  private loaded = false;
  private readonly poolGenerations = new Map<string, number>(); // pool name -> metadata.generation last routed

  constructor(
    private readonly opts: Options,
    private readonly conn: Connection,
    private readonly log: Logger,
  ) {
    const informer = <T extends KubernetesObject>(name: string, path: string, transform: (o: T) => T) =>
      new Informer<T>({
        name,
        listerWatcher: restListerWatcher<T>(conn, { path }),
        transform,
        logger: log.child({ component: 'informer', informer: name }),
      });
    this.services = informer<V1Service>('services', '/api/v1/services', serviceProjection);
    this.pools = informer('ipaddresspools', `/apis/${GROUP}/${VERSION}/${IPADDRESSPOOL_PLURAL}`, trimObject);
    this.namespaces = informer<V1Namespace>('namespaces', '/api/v1/namespaces', trimObject);
    this.recorder = new EventRecorder({
      sink: restEventSink(conn),
      component: 'heraldlb-controller',
      instance: opts.identity,
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

  /** Runs until `signal` aborts; then releases the Lease so a standby takes over at once. */
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
    for (const i of [this.services, this.pools, this.namespaces]) i.start(signal);
    const resync = cron.schedule(this.opts.resyncSchedule, () => this.resync());
    try {
      if (!this.opts.leaderElect) await this.lead(signal);
      else await this.elect(signal);
    } finally {
      resync.stop();
      await Promise.all([this.services, this.pools, this.namespaces].map((i) => i.stop()));
      await this.recorder.flush();
      await health.stop();
    }
  }

  private readiness(): boolean | string {
    const synced = [this.services, this.pools, this.namespaces].every((i) => i.hasSynced());
    if (!synced) return 'caches not synced';
    if (this.term && !this.loaded) return 'loading existing assignments';
    return true;
  }

  private async elect(signal: AbortSignal): Promise<void> {
    const elector = new LeaderElector({
      lock: restLeaseClient(this.conn, this.opts.leaseNamespace, this.opts.leaseName),
      identity: this.opts.identity,
      logger: this.log.child({ component: 'leader-election' }),
      onStartedLeading: (termSignal) => this.lead(termSignal),
      onNewLeader: (id) => this.log.info({ leader: id, me: id === this.opts.identity }, 'leader observed'),
    });
    elector.start(signal);
    await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
    await elector.stop();
  }

  /** One leadership term: load what is held, then reconcile until the term ends. */
  private async lead(signal: AbortSignal): Promise<void> {
    this.metrics.leader.set(undefined, 1);
    this.log.info('leading: waiting for caches');
    const ready = await Promise.all(
      [this.services, this.pools, this.namespaces].map((i) => i.waitForSync(signal)),
    );
    if (!ready.every(Boolean)) return this.endTerm();
    const queue = new WorkQueue({ baseDelayMs: 200, maxDelayMs: 60_000 });
    const reconciler = this.reconciler(queue);
    this.loaded = false;
    this.term = { queue, reconciler };
    const t0 = Date.now();
    const keys = reconciler.load();
    this.loaded = true;
    this.log.info({ services: keys.length - 1, ms: Date.now() - t0 }, 'leading: existing assignments loaded');
    for (const k of keys) queue.add(k);
    try {
      await queue.run((key) => this.handle(reconciler, queue, key), { workers: this.opts.workers, signal });
    } finally {
      this.endTerm();
    }
  }

  private endTerm(): void {
    this.term = undefined;
    this.loaded = false;
    this.metrics.leader.set(undefined, 0);
    this.log.info('not leading');
  }

  private reconciler(queue: WorkQueue): Reconciler {
    return new Reconciler({
      caches: {
        service: (k) => this.services.get(k),
        services: () => this.services.list(),
        pools: () => this.pools.list(),
        namespaceLabels: (ns) => this.namespaces.get(ns)?.metadata?.labels ?? {},
      },
      writer: apiWriter(this.conn),
      events: apiEvents(this.recorder),
      observer: metricsObserver(this.metrics),
      enqueue: (k, delay) => (delay ? queue.addAfter(k, delay) : queue.add(k)),
      decide: (d) => this.log.info({ service: d.key, ...d, key: undefined }, d.action),
      now: () => new Date(),
      loadBalancerClass: this.opts.loadBalancerClass,
    });
  }

  private async handle(reconciler: Reconciler, queue: WorkQueue, key: string): Promise<void> {
    const kind = key.split('/')[0] ?? key;
    const t0 = performance.now();
    try {
      await reconciler.handle(key);
      queue.forget(key);
    } catch (err) {
      this.metrics.reconcileErrors.inc({ kind });
      const level = classifyApiError(err) === 'conflict' ? 'debug' : 'warn';
      this.log[level]({ key, err: describeApiError(err) }, 'reconcile failed; retrying with backoff');
      queue.addRateLimited(key);
    } finally {
      this.metrics.reconcile.observe({ kind }, (performance.now() - t0) / 1000);
    }
  }

  /** Safety net for missed events: every key again (a no-op where nothing differs). */
  private resync(): void {
    const q = this.term?.queue;
    if (!q) return;
    for (const k of this.services.keys()) q.add(svcKey(k));
    q.add('pools');
  }
}

function splitHostPort(addr: string): [string, number] {
  if (!addr) return ['127.0.0.1', 0];
  const i = addr.lastIndexOf(':');
  const host = addr.slice(0, i).replace(/^\[|\]$/g, '') || '0.0.0.0';
  return [host, Number(addr.slice(i + 1))];
}
