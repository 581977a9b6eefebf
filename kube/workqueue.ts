// A keyed, deduplicating, rate-limited work queue with client-go's semantics (behaviour read
// from client-go's workqueue; this is our own implementation):
// - a key added while it waits in the queue is not duplicated;
// - a key re-added while a worker processes it is queued again only after that worker calls
//   done(), so one key is never processed by two workers at once;
// - failures back off per key exponentially (base * 2^n, capped) and, overall, through a token
//   bucket; forget(key) resets the key's backoff after a success.
import type { Clock, TimerHandle } from './clock.js';
import { systemClock } from './clock.js';

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
  /** Told about every handler failure; the key is retried with backoff regardless. */
  onError?: (key: string, err: unknown, retries: number) => void;
}

/** Per-key exponential backoff plus an overall token bucket; the longer delay wins. */
export class RateLimiter {
  private readonly base: number;
  private readonly max: number;
  private readonly qps: number;
  private readonly burst: number;
  // key -> failures since the last forget()
  private readonly failures = new Map<string, number>();
  private tokens: number;
  private lastRefill: number;

  constructor(
    opts: RateLimitOptions,
    private readonly clock: Clock,
  ) {
    this.base = opts.baseDelayMs ?? 5;
    this.max = opts.maxDelayMs ?? 300_000;
    this.qps = opts.qps ?? 10;
    this.burst = opts.burst ?? 100;
    this.tokens = this.burst;
    this.lastRefill = clock.now();
  }

  /** The delay before `key` may be retried; records one more failure for it. */
  when(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const perKey = Math.min(this.max, this.base * 2 ** Math.min(n, 62));
    return Math.max(perKey, this.reserveToken());
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  // Takes one token, going into debt if none is left; the debt is the wait.
  private reserveToken(): number {
    if (this.qps <= 0) return 0;
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.lastRefill) / 1000) * this.qps);
    this.lastRefill = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.qps) * 1000);
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

  /** Adds `key` after its backoff: call this when processing `key` failed. */
  addRateLimited(key: string): void {
    if (this.shuttingDown) return;
    this.addAfter(key, this.limiter.when(key));
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
   * Runs `handler` on `workers` concurrent loops until `signal` aborts (which shuts the queue
   * down and drains it) or shutdown() is called. Success forgets the key's backoff; a throw
   * retries it rate-limited. The handler's signal aborts when the run is asked to stop.
   */
  async run(handler: WorkHandler, opts: RunOptions = {}): Promise<void> {
    const signal = opts.signal ?? new AbortController().signal;
    const onAbort = () => void this.shutdown();
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
        onError?.(key, err, this.numRequeues(key));
        this.addRateLimited(key);
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
