// Records core/v1 Events for objects users look at (`kubectl describe svc` shows them).
// Repeats of the same (object, type, reason, message) within a window bump `count` and
// `lastTimestamp` on the existing Event instead of creating a new one, as client-go's
// correlator does. Recording never blocks or throws: writes happen in the background and
// failures are logged.
import type { CoreV1Event, V1ObjectReference } from '@kubernetes/client-node';
import { type Clock, systemClock } from './clock.js';
import type { Connection } from './connection.js';
import { classifyApiError, describeApiError } from './errors.js';
import { type Logger, silentLogger } from './log.js';
import { sendJson } from './rest.js';
import { TokenBucket } from './token-bucket.js';

export type EventType = 'Normal' | 'Warning';

/** The Event writes the recorder needs; restEventApi() is the real one. */
export interface EventApi {
  create(namespace: string, event: CoreV1Event): Promise<CoreV1Event>;
  /** JSON merge patch of an existing Event. */
  patch(namespace: string, name: string, patch: object): Promise<CoreV1Event>;
}

export function restEventApi(conn: Connection): EventApi {
  const events = (ns: string) => `/api/v1/namespaces/${encodeURIComponent(ns)}/events`;
  return {
    create: (namespace, body) => sendJson<CoreV1Event>(conn, 'POST', events(namespace), body),
    patch: (namespace, name, body) =>
      sendJson<CoreV1Event>(conn, 'PATCH', `${events(namespace)}/${encodeURIComponent(name)}`, body),
  };
}

export interface EventRecorderOptions {
  sink: EventApi;
  /** reportingController / source.component, e.g. "heraldlb-controller". */
  component: string;
  /** reportingInstance / source.host, e.g. the pod or node name. */
  instance?: string;
  clock?: Clock;
  logger?: Logger;
  /** Repeats within this window are aggregated into one Event (default 10 min). */
  aggregateWindowMs?: number;
  /** Writes waiting beyond this are dropped (and logged) so a dead API cannot grow memory. */
  maxPending?: number;
  /**
   * Normal Events per second over the whole process, with `normalBurst` allowed at once
   * (kubelet's --event-qps/--event-burst idea): serving 10,000 Services at once must not add
   * 10,000 Event writes to an API server that is busy with the Services themselves. Warnings
   * are never rate-limited. 0 or undefined = no limit.
   */
  normalPerSecond?: number;
  normalBurst?: number;
  /**
   * Writes on the wire at once (default 4); the rest wait as small closures. Without a cap a
   * speaker taking over 1,000 IPs started 1,000 requests together: each holds a request object,
   * its body and, once it has a socket, TLS buffers — a burst of native memory that pushed the
   * speaker over its 64 MiB limit, for Events nobody reads within the same second.
   */
  maxInFlight?: number;
  /** Told of every Event not written (rate limit or too many pending), e.g. for a metric. */
  onDrop?: (type: EventType, why: 'rate' | 'pending') => void;
}

interface Seen {
  namespace: string;
  name: string;
  count: number;
  lastMs: number;
}

export class EventRecorder {
  private readonly o: Required<Omit<EventRecorderOptions, 'instance'>> & { instance: string };
  // aggregation key -> the Event that already reports it
  private readonly seen = new Map<string, Seen>();
  // aggregation key -> tail of that key's write chain (writes for one key stay ordered)
  private readonly chains = new Map<string, Promise<void>>();
  private pending = 0;
  private inFlight = 0;
  // writes whose key's turn has come, waiting for one of the maxInFlight slots
  private readonly waiting: (() => void)[] = [];
  private seq = 0;
  private readonly normalLimit: TokenBucket | undefined;

  constructor(opts: EventRecorderOptions) {
    this.o = {
      clock: systemClock,
      logger: silentLogger(),
      aggregateWindowMs: 600_000,
      maxPending: 1000,
      maxInFlight: 4,
      instance: '',
      normalPerSecond: 0,
      normalBurst: 100,
      onDrop: () => {},
      ...opts,
    };
    const qps = this.o.normalPerSecond;
    this.normalLimit =
      qps > 0 ? new TokenBucket(qps, Math.max(1, this.o.normalBurst), this.o.clock) : undefined;
  }

  /** Records an Event about `obj`; returns at once. */
  record(obj: V1ObjectReference, type: EventType, reason: string, message: string): void {
    if (this.pending >= this.o.maxPending) {
      this.o.logger.warn({ reason, object: obj.name }, 'event dropped: too many pending writes');
      this.o.onDrop(type, 'pending');
      return;
    }
    if (type === 'Normal' && this.normalLimit && !this.normalLimit.take()) {
      this.o.logger.debug({ reason, object: obj.name }, 'event dropped: over the Normal Event rate');
      this.o.onDrop(type, 'rate');
      return;
    }
    const key = JSON.stringify([obj.kind, obj.namespace, obj.name, obj.uid, type, reason, message]);
    this.pending++;
    const prev = this.chains.get(key) ?? Promise.resolve();
    const next = prev
      .then(() => this.slot(() => this.write(key, obj, type, reason, message)))
      .catch((err) =>
        this.o.logger.warn(
          { err: describeApiError(err), class: classifyApiError(err), reason, object: obj.name },
          'event write failed',
        ),
      )
      .finally(() => {
        this.pending--;
        if (this.chains.get(key) === next) this.chains.delete(key);
      });
    this.chains.set(key, next);
  }

  /** Resolves when every write recorded so far has finished (tests, graceful shutdown). */
  async flush(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
  }

  /** Runs `fn` when fewer than maxInFlight writes are on the wire; FIFO among those waiting. */
  private async slot<T>(fn: () => Promise<T>): Promise<T> {
    if (this.inFlight >= Math.max(1, this.o.maxInFlight))
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.inFlight++;
    try {
      return await fn();
    } finally {
      // Hand the slot straight to the next waiter (inFlight stays), or give it back.
      const next = this.waiting.shift();
      if (next) next();
      else this.inFlight--;
    }
  }

  private async write(key: string, obj: V1ObjectReference, type: EventType, reason: string, message: string) {
    const now = this.o.clock.now();
    this.evictOlderThan(now - this.o.aggregateWindowMs);
    const prior = this.seen.get(key);
    if (prior !== undefined) {
      const count = prior.count + 1;
      try {
        await this.o.sink.patch(prior.namespace, prior.name, {
          count,
          lastTimestamp: new Date(now).toISOString(),
        });
        this.touch(key, { ...prior, count, lastMs: now });
        return;
      } catch (err) {
        // The Event expired (TTL) or was deleted: fall through and create a fresh one.
        if (classifyApiError(err) !== 'gone') throw err;
        this.seen.delete(key);
      }
    }
    const ev = this.build(obj, type, reason, message, now);
    const ns = ev.metadata.namespace ?? 'default';
    await this.o.sink.create(ns, ev);
    this.touch(key, { namespace: ns, name: ev.metadata.name ?? '', count: 1, lastMs: now });
  }

  private build(
    obj: V1ObjectReference,
    type: EventType,
    reason: string,
    message: string,
    now: number,
  ): CoreV1Event & { metadata: { name: string; namespace: string } } {
    // Cluster-scoped objects (pools, nodes) get their Events in "default", as kubectl expects.
    const namespace = obj.namespace || 'default';
    const stamp = new Date(now);
    const name = `${obj.name ?? 'object'}.${now.toString(16)}${(this.seq++ % 4096).toString(16).padStart(3, '0')}`;
    return {
      metadata: { name, namespace },
      involvedObject: obj,
      type,
      reason,
      message: message.length > 1024 ? `${message.slice(0, 1021)}...` : message,
      count: 1,
      firstTimestamp: stamp,
      lastTimestamp: stamp,
      source: { component: this.o.component, host: this.o.instance || undefined },
      reportingComponent: this.o.component,
      reportingInstance: this.o.instance,
    };
  }

  // `seen` is kept in lastMs order (touch re-inserts at the end), so eviction stops at the first
  // fresh entry: a full scan per write made 10,000 first-time Events quadratic.
  private touch(key: string, s: Seen): void {
    this.seen.delete(key);
    this.seen.set(key, s);
  }

  private evictOlderThan(cutoff: number): void {
    for (const [k, s] of this.seen) {
      if (s.lastMs >= cutoff) break;
      this.seen.delete(k);
    }
  }
}
