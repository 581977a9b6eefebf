// A keyed, deduplicating, rate-limited work queue with client-go's semantics (behaviour read
// from client-go's workqueue; this is our own implementation):
// - a key added while it waits in the queue is not duplicated;
// - a key re-added while a worker processes it is queued again only after that worker calls
//   done(), so one key is never processed by two workers at once;
// - failures back off per key exponentially (kube/backoff.ts, capped) and, overall, through a
//   token bucket (kube/token-bucket.ts); only a success forgets a key's backoff;
// - a run whose signal aborts DROPS what is queued and delayed (a leadership term that ended
//   must start nothing more) and resolves once the keys in flight are done; shutdown() is
//   the draining stop, for callers that want every queued key handled first.
import { backoffDelay } from './backoff.js';
import type { Clock, TimerHandle } from './clock.js';
import { systemClock } from './clock.js';
import { TokenBucket } from './token-bucket.js';

export interface RateLimitOptions {
  /** First per-key retry delay (ms). */
  baseDelayMs?: number;
  /** Cap for the per-key delay (ms). */
  maxDelayMs?: number;
  /** Overall token bucket: sustained retries per second ... */
  qps?: number;
  /** ... and how many may go at once. */
  burst?: number;
}

export interface WorkQueueOptions extends RateLimitOptions {
  clock?: Clock;
}

/** What a handler may ask for besides success (resolve) or failure (throw). */
export interface HandlerResult {
  /** Process the key again after this many ms even though it succeeded (periodic re-checks). */
  requeueAfterMs?: number;
}

// biome-ignore lint/suspicious/noConfusingVoidType: handlers that return nothing must type-check
export type WorkHandler = (key: string, signal: AbortSignal) => Promise<HandlerResult | undefined | void>;

export interface RunOptions {
  workers?: number;
  signal?: AbortSignal;
  /**
   * Told about every handler failure (retries = failures before this one). The key is retried
   * after its backoff; a number returned is a floor for that delay (a permanent error's slow
   * retry).
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: most callers only log
  onError?: (key: string, err: unknown, retries: number) => number | undefined | void;
}

/** Per-key exponential backoff plus an overall token bucket; the longer delay wins. */
export class RateLimiter {
  private readonly policy: { initialMs: number; maxMs: number };
  // key -> failures since the last forget()
  private readonly failures = new Map<string, number>();
  private readonly bucket: TokenBucket;

  constructor(opts: RateLimitOptions, clock: Clock) {
    this.policy = { initialMs: opts.baseDelayMs ?? 5, maxMs: opts.maxDelayMs ?? 300_000 };
    this.bucket = new TokenBucket(opts.qps ?? 10, opts.burst ?? 100, clock);
  }

  /** The delay before `key` may be retried; records one more failure for it. */
  when(key: string): number {
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    return Math.max(backoffDelay(n, this.policy), this.bucket.reserve());
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  forget(key: string): void {
    this.failures.delete(key);
  }
}

export class WorkQueue {
  private readonly clock: Clock;
  readonly limiter: RateLimiter;
  // keys ready to be handed to a worker, in FIFO order
  private readonly queue: string[] = [];
  // keys that need processing (queued, or re-added while being processed)
  private readonly dirty = new Set<string>();
  // keys a worker holds right now
  private readonly processing = new Set<string>();
  // key -> the pending addAfter timer and when it fires
  private readonly waiting = new Map<string, { at: number; timer: TimerHandle }>();
  // workers blocked in get(), woken in FIFO order
  private readonly getters: Array<(key: string | undefined) => void> = [];
  // resolvers of shutdown() waiting for in-flight work to finish
  private drained: Array<() => void> = [];
  private shuttingDown = false;

  constructor(opts: WorkQueueOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.limiter = new RateLimiter(opts, this.clock);
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return; // done() queues it again
    this.push(key);
  }

  /** Adds `key` after `ms`; if it is already waiting, the earlier time wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.clock.now() + ms;
    const existing = this.waiting.get(key);
    if (existing !== undefined) {
      if (existing.at <= at) return;
      this.clock.clearTimeout(existing.timer);
    }
    const timer = this.clock.setTimeout(() => {
      this.waiting.delete(key);
      this.add(key);
    }, ms);
    this.waiting.set(key, { at, timer });
  }

  /** Adds `key` after its backoff (at least `minDelayMs`): call this when processing `key` failed. */
  addRateLimited(key: string, minDelayMs = 0): void {
    if (this.shuttingDown) return;
    this.addAfter(key, Math.max(minDelayMs, this.limiter.when(key)));
  }

  /** Resets `key`'s backoff: call this when processing `key` succeeded. */
  forget(key: string): void {
    this.limiter.forget(key);
  }

  numRequeues(key: string): number {
    return this.limiter.retries(key);
  }

  /** Keys waiting for a worker (not counting delayed or in-flight keys). */
  len(): number {
    return this.queue.length;
  }

  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /**
   * The next key, marking it in-flight until done(key); undefined once the queue is shut down
   * and drained. Callers must call done() for every key they receive.
   */
  get(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) return Promise.resolve(this.take(key));
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.getters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) this.push(key);
    this.maybeDrained();
  }

  /**
   * Stops accepting keys and cancels delayed adds; workers still drain the keys already
   * queued. Resolves once nothing is queued or in flight.
   */
  shutdown(): Promise<void> {
    if (!this.shuttingDown) {
      this.shuttingDown = true;
      for (const w of this.waiting.values()) this.clock.clearTimeout(w.timer);
      this.waiting.clear();
      if (this.queue.length === 0) for (const g of this.getters.splice(0)) g(undefined);
    }
    return new Promise((resolve) => {
      this.drained.push(resolve);
      this.maybeDrained();
    });
  }

  /**
   * Stops for good without handling what waits: queued keys and delayed adds are dropped, no
   * key is accepted any more. Resolves once the keys in flight are done.
   */
  abandon(): Promise<void> {
    for (const key of this.queue.splice(0)) this.dirty.delete(key);
    // Keys re-added while in flight would be queued again by done(): forget those too.
    this.dirty.clear();
    return this.shutdown();
  }

  /** Keys held by a worker right now. */
  inFlight(): number {
    return this.processing.size;
  }

  /**
   * Runs `handler` on `workers` concurrent loops until `signal` aborts (which abandons the
   * queue: nothing queued is handled any more) or shutdown() is called (which drains it).
   * Success forgets the key's backoff; a throw retries it after its backoff. The handler's
   * signal aborts when the run is asked to stop, so long work can give up early.
   */
  async run(handler: WorkHandler, opts: RunOptions = {}): Promise<void> {
    const signal = opts.signal ?? new AbortController().signal;
    const onAbort = () => void this.abandon();
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    const workers = Math.max(1, opts.workers ?? 1);
    try {
      await Promise.all(Array.from({ length: workers }, () => this.worker(handler, signal, opts.onError)));
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  private async worker(handler: WorkHandler, signal: AbortSignal, onError: RunOptions['onError']) {
    for (;;) {
      const key = await this.get();
      if (key === undefined) return;
      try {
        const result = await handler(key, signal);
        this.forget(key);
        if (result?.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs);
      } catch (err) {
        const floor = onError?.(key, err, this.numRequeues(key));
        this.addRateLimited(key, typeof floor === 'number' ? floor : 0);
      } finally {
        this.done(key);
      }
    }
  }

  private push(key: string): void {
    const getter = this.getters.shift();
    if (getter !== undefined) getter(this.take(key));
    else this.queue.push(key);
  }

  private take(key: string): string {
    this.processing.add(key);
    this.dirty.delete(key);
    return key;
  }

  private maybeDrained(): void {
    if (!this.shuttingDown) return;
    if (this.queue.length === 0) for (const g of this.getters.splice(0)) g(undefined);
    if (this.queue.length > 0 || this.processing.size > 0) return;
    for (const r of this.drained.splice(0)) r();
  }
}
