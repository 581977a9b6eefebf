// A list+watch cache for one resource. Handlers receive only KEYS ("ns/name" or "name"):
// consumers are level-triggered and read the current object from the store when they work.
//
// Why our own loop instead of client-node's makeInformer/ListWatch (1.4.0): ListWatch stops
// for good on any non-410 watch or list error (it only emits 'error' and never retries), can
// start a new watch after stop() if a list was in flight, has no backoff, no hasSynced, and mixes
// typed list items (Dates) with raw watch objects (strings). Here: list -> watch from the list's
// resourceVersion -> rewatch from the last seen version when the server ends the stream ->
// relist on 410 Expired or any error, with bounded exponential backoff; stop() cancels
// everything in flight and leaves no timers.
import type { KubernetesObject } from '@kubernetes/client-node';
import { objectKey } from '../api/object-key.js';
import { backoffDelay } from './backoff.js';
import { type Clock, sleepUnlessAborted, systemClock } from './clock.js';
import type { Connection } from './connection.js';
import { classifyApiError, describeApiError, httpStatusOf, KubeError } from './errors.js';
import { type Logger, silentLogger } from './log.js';
import { ApiStatusError, getJson, type Query, type RawWatchEvent, watchStream } from './rest.js';

export interface WatchEvent<T> {
  type: RawWatchEvent['type'];
  object: T;
}

/** The I/O an informer needs; restListerWatcher() talks to the API server, tests fake it. */
export interface ListerWatcher<T> {
  /** The whole collection. `each`, when given, is applied to every item as it arrives (page
   * by page) and the items returned are its results, so what the cache would drop never piles
   * up in memory. */
  list(signal: AbortSignal, each?: (obj: T) => T): Promise<{ items: T[]; resourceVersion: string }>;
  /** Resolves when the server ends the stream normally; rejects on errors (410 included). */
  watch(resourceVersion: string, signal: AbortSignal, onEvent: (ev: WatchEvent<T>) => void): Promise<void>;
}

export interface RestListerWatcherOptions {
  /** Collection path, e.g. /api/v1/services or /apis/heraldlb.io/v1beta1/ipaddresspools. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Objects per list page (default 500). */
  pageSize?: number;
  /**
   * Server-side watch timeout; the watch is then resumed from the last resourceVersion.
   * Default: a random 60-120 s per watch (spread, as client-go spreads its 5-10 min), short
   * because silence longer than this plus a grace is how a dead connection is noticed.
   */
  watchTimeoutSeconds?: number;
  /** Silence beyond the server timeout before a watch counts as dead (default 15 s). */
  watchGraceSeconds?: number;
  /** For the jitter of the default timeout (tests pass a fixed one). */
  random?: () => number;
}

export function restListerWatcher<T extends KubernetesObject>(
  conn: Connection,
  opts: RestListerWatcherOptions,
): ListerWatcher<T> {
  const selectors: Query = { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector };
  return {
    async list(signal, each) {
      // In pages, as client-go's reflector lists: one 10,000-Service answer is ~20 MB of JSON
      // parsed at once, and the process keeps the memory that peak took.
      const items: T[] = [];
      let resourceVersion = '';
      let cont: string | undefined;
      // Bounded: a server whose continue tokens never end must not hold us forever.
      for (let page = 0; page < 100_000 && (page === 0 || cont); page++) {
        const list = await getJson<{
          items?: T[];
          metadata?: { resourceVersion?: string; continue?: string };
        }>(conn, opts.path, { ...selectors, limit: opts.pageSize ?? 500, continue: cont }, signal);
        for (const item of list.items ?? []) items.push(each ? each(item) : item);
        resourceVersion = list.metadata?.resourceVersion ?? resourceVersion;
        cont = list.metadata?.continue || undefined;
      }
      return { items, resourceVersion };
    },
    watch(resourceVersion, signal, onEvent) {
      const random = opts.random ?? Math.random;
      const timeoutSeconds = opts.watchTimeoutSeconds ?? 60 + Math.floor(random() * 61);
      const query: Query = { ...selectors, resourceVersion, allowWatchBookmarks: true, timeoutSeconds };
      const idleMs = (timeoutSeconds + (opts.watchGraceSeconds ?? 15)) * 1000;
      return watchStream(
        conn,
        opts.path,
        query,
        signal,
        (ev) => onEvent(ev as unknown as WatchEvent<T>),
        idleMs,
      );
    },
  };
}

/** A resourceVersion as the integer etcd made it; undefined when it is not one. */
function rvNumber(rv: string): bigint | undefined {
  return /^[0-9]{1,30}$/.test(rv) ? BigInt(rv) : undefined;
}

export { objectKey, splitKey } from '../api/object-key.js';

export type KeyHandler = (key: string) => void;

export interface InformerOptions<T> {
  /** For logs and errors, e.g. "services". */
  name: string;
  listerWatcher: ListerWatcher<T>;
  clock?: Clock;
  logger?: Logger;
  /** Every this many ms, every key is handed to the handlers again (0 = never). */
  resyncPeriodMs?: number;
  /**
   * Applied to every object before it is stored, e.g. `trimObject` to drop managedFields:
   * the cache keeps one copy of every object for the life of the process, so what it never
   * reads should not be kept (client-go's SetTransform). Applied once per object: to listed
   * items by the ListerWatcher as pages arrive, to watched objects here.
   */
  transform?: (obj: T) => T;
  /** Bounded backoff between failed lists/watches. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
}

export class Informer<T extends KubernetesObject> {
  private readonly opts: InformerOptions<T>;
  private readonly clock: Clock;
  private readonly log: Logger;
  // store key -> latest object seen
  private store = new Map<string, T>();
  private readonly handlers = new Set<KeyHandler>();
  private synced = false;
  private syncWaiters: Array<() => void> = [];
  private lastRV = '';
  // callers of waitForResourceVersion, woken whenever lastRV moves
  private rvWaiters = new Set<() => void>();
  // set by relistNow(): the running watch is ended and the next loop lists afresh
  private relistRequested?: { resolve: () => void; promise: Promise<void> };
  private currentWatch?: AbortController;
  private abort?: AbortController;
  private loop?: Promise<void>;

  constructor(opts: InformerOptions<T>) {
    this.opts = opts;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? silentLogger();
  }

  /** Registers a key handler; returns a function that removes it. */
  onChange(handler: KeyHandler): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  list(): T[] {
    return [...this.store.values()];
  }

  keys(): string[] {
    return [...this.store.keys()];
  }

  /** True once the first full list has been stored and announced to the handlers. */
  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves true when synced, false if `signal` aborts (or the informer stops) first. */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    return new Promise((resolve) => {
      const onAbort = () => resolve(false);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.syncWaiters.push(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve(this.synced);
      });
    });
  }

  lastSyncResourceVersion(): string {
    return this.lastRV;
  }

  /**
   * Whether the cache has seen everything up to `rv`: the list or an event (bookmarks
   * included) at or past it. Resource versions are compared as the integers etcd makes them
   * (comparable by contract since Kubernetes 1.35); a version that is not one is never
   * caught up to, so callers fall back to relistNow().
   */
  caughtUpTo(rv: string): boolean {
    if (rv === '') return true;
    const want = rvNumber(rv);
    const have = rvNumber(this.lastRV);
    return want !== undefined && have !== undefined && have >= want;
  }

  /** Resolves true once caughtUpTo(rv); false when `timeoutMs` passes or `signal` aborts first. */
  async waitForResourceVersion(rv: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.caughtUpTo(rv)) return true;
    if (rvNumber(rv) === undefined) return false;
    return new Promise((resolve) => {
      const finish = (ok: boolean) => {
        this.rvWaiters.delete(check);
        this.clock.clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(ok);
      };
      const check = () => this.caughtUpTo(rv) && finish(true);
      const onAbort = () => finish(false);
      const timer = this.clock.setTimeout(() => finish(this.caughtUpTo(rv)), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.rvWaiters.add(check);
    });
  }

  /**
   * Ends the running watch and lists afresh; resolves once a list that started after this call
   * is in the store (or the informer stops). For a reader that must see every write completed
   * before some moment, e.g. a new leader whose predecessor's last writes it cannot name.
   */
  relistNow(): Promise<void> {
    if (!this.relistRequested) {
      let resolve = () => {};
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      this.relistRequested = { resolve, promise };
      this.currentWatch?.abort();
    }
    return this.relistRequested.promise;
  }

  /** Hands every key in the store to the handlers (periodic safety net for missed work). */
  resync(): void {
    for (const key of this.store.keys()) this.notify(key);
  }

  start(signal: AbortSignal): void {
    if (this.loop !== undefined)
      throw new KubeError('ALREADY_STARTED', `informer ${this.opts.name} started twice`);
    this.abort = new AbortController();
    const inner = this.abort.signal;
    const onOuter = () => this.abort?.abort(signal.reason);
    if (signal.aborted) onOuter();
    else signal.addEventListener('abort', onOuter, { once: true });
    this.loop = Promise.all([this.listWatchLoop(inner), this.resyncLoop(inner)]).then(() => {
      signal.removeEventListener('abort', onOuter);
      for (const w of this.syncWaiters.splice(0)) w();
    });
  }

  /** Stops the watch and timers; resolves once nothing is in flight. */
  async stop(): Promise<void> {
    this.abort?.abort(new KubeError('STOPPED', `informer ${this.opts.name} stopped`));
    await this.loop;
  }

  private async listWatchLoop(signal: AbortSignal): Promise<void> {
    const policy = { initialMs: this.opts.backoffInitialMs ?? 200, maxMs: this.opts.backoffMaxMs ?? 30_000 };
    let failures = 0;
    let rv = ''; // '' = relist before watching
    while (!signal.aborted) {
      let watchStarted = Number.POSITIVE_INFINITY;
      const requested = this.relistRequested;
      try {
        if (rv === '' || requested) {
          rv = await this.relist(signal);
          if (requested) {
            this.relistRequested = undefined;
            requested.resolve();
          }
        }
        watchStarted = this.clock.now();
        await this.watchOnce(rv, signal, (next) => {
          rv = next;
        });
        if (signal.aborted) break;
        // A watch that ends at once over and over (a flapping proxy) must not spin.
        failures = this.clock.now() - watchStarted < 1000 && !this.relistRequested ? failures + 1 : 0;
      } catch (err) {
        if (signal.aborted) break;
        // A watch that ran for a while was healthy: start the backoff over.
        if (this.clock.now() - watchStarted >= 1000) failures = 0;
        failures++;
        const expired = httpStatusOf(err) === 410;
        // A silent connection died; the store is fine, so resume from where it stopped.
        const idle = err instanceof KubeError && err.code === 'WATCH_IDLE';
        if (!idle) rv = '';
        this.log[expired ? 'info' : 'warn'](
          { informer: this.opts.name, err: describeApiError(err), class: classifyApiError(err), failures },
          expired
            ? 'watch expired; relisting'
            : idle
              ? 'watch connection went silent; watching again'
              : 'list/watch failed; relisting after backoff',
        );
        if ((expired || idle) && failures === 1) continue; // routine: at once
      }
      if (failures > 0 && !(await sleepUnlessAborted(this.clock, backoffDelay(failures, policy), signal)))
        break;
    }
    this.relistRequested?.resolve();
  }

  // One watch from `rv`, which relistNow() can end early; `moved` gets each new version.
  private async watchOnce(rv: string, signal: AbortSignal, moved: (rv: string) => void): Promise<void> {
    const own = new AbortController();
    this.currentWatch = own;
    const onOuter = () => own.abort(signal.reason);
    signal.addEventListener('abort', onOuter, { once: true });
    if (this.relistRequested) own.abort();
    try {
      await this.opts.listerWatcher.watch(rv, own.signal, (ev) => {
        const next = this.apply(ev);
        if (next) moved(next);
      });
    } finally {
      signal.removeEventListener('abort', onOuter);
      this.currentWatch = undefined;
    }
  }

  // Replaces the store with a fresh list, announcing only keys that changed or vanished.
  private async relist(signal: AbortSignal): Promise<string> {
    const { items, resourceVersion } = await this.opts.listerWatcher.list(signal, this.opts.transform);
    if (signal.aborted) throw signal.reason;
    const next = new Map<string, T>();
    for (const item of items) next.set(objectKey(item), item);
    const changed: string[] = [];
    for (const [key, obj] of next) {
      if (this.store.get(key)?.metadata?.resourceVersion !== obj.metadata?.resourceVersion) changed.push(key);
    }
    for (const key of this.store.keys()) if (!next.has(key)) changed.push(key);
    this.store = next;
    this.lastRV = resourceVersion;
    for (const key of changed) this.notify(key);
    this.rvMoved();
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
    return resourceVersion;
  }

  // Applies one watch event to the store; returns the resourceVersion to resume from.
  private apply(ev: WatchEvent<T>): string | undefined {
    if (ev.type === 'ERROR') {
      const status = ev.object as unknown as { code?: number };
      throw new ApiStatusError(status.code ?? 500, ev.object);
    }
    const rv = ev.object.metadata?.resourceVersion;
    if (ev.type === 'BOOKMARK') {
      if (rv) this.lastRV = rv;
      this.rvMoved();
      return rv;
    }
    const key = objectKey(ev.object);
    if (ev.type === 'DELETED') {
      if (this.store.delete(key)) this.notify(key);
    } else {
      const old = this.store.get(key);
      this.store.set(key, this.opts.transform ? this.opts.transform(ev.object) : ev.object);
      if (old?.metadata?.resourceVersion !== rv || rv === undefined) this.notify(key);
    }
    if (rv) this.lastRV = rv;
    this.rvMoved();
    return rv;
  }

  private rvMoved(): void {
    for (const check of [...this.rvWaiters]) check();
  }

  private notify(key: string): void {
    for (const h of this.handlers) {
      try {
        h(key);
      } catch (err) {
        // A handler bug must not break the cache; handlers are meant to only enqueue.
        this.log.error({ informer: this.opts.name, key, err }, 'informer handler threw');
      }
    }
  }

  private async resyncLoop(signal: AbortSignal): Promise<void> {
    const period = this.opts.resyncPeriodMs ?? 0;
    if (period <= 0) return;
    while (await sleepUnlessAborted(this.clock, period, signal)) {
      if (this.synced) this.resync();
    }
  }
}
