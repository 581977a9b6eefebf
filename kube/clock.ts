// Time as an injected dependency (ARCHITECTURE.md §4.5): every timer in kube/ goes through a
// Clock so unit tests drive time with FakeClock instead of sleeping.

export type TimerHandle = { readonly __timer: true } | object;

export interface Clock {
  /**
   * Monotonic milliseconds, for every duration, deadline and timeout: never steps when the
   * wall clock is set (NTP, a VM resumed), which would make a lease look expired early or a
   * leader keep leading past its deadline. The origin is the process start's wall time, so
   * values look like epoch milliseconds, but they are not the current wall time.
   */
  now(): number;
  /** Wall-clock milliseconds since the epoch, only for timestamps people or the API read. */
  wall(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The process clock. Timers are unref'd: a pending retry must never keep a process alive. */
export const systemClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  wall: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** Resolves after `ms` on `clock`, or rejects with the signal's reason once it aborts. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clock.clearTimeout(handle);
      reject(signal?.reason);
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Like sleep, but resolves (false) instead of rejecting when the signal aborts. */
export async function sleepUnlessAborted(clock: Clock, ms: number, signal?: AbortSignal): Promise<boolean> {
  try {
    await sleep(clock, ms, signal);
    return true;
  } catch (err) {
    if (signal?.aborted) return false;
    throw err;
  }
}

interface FakeTimer {
  id: number;
  at: number;
  fn: () => void;
}

/**
 * A deterministic clock for tests: time moves only through advance()/tick(). Timers due at the
 * same instant fire in creation order; between timers, pending promise callbacks are flushed so
 * async code woken by a timer runs before the next one fires.
 */
export class FakeClock implements Clock {
  private current: number;
  private wallOffset = 0; // wall() - now(): moved only by stepWall()
  private nextId = 1;
  // timer id -> pending timer
  private readonly timers = new Map<number, FakeTimer>();

  constructor(startMs = 1_700_000_000_000) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  wall(): number {
    return this.current + this.wallOffset;
  }

  /** Sets the wall clock forward (positive) or back (negative) without moving monotonic time. */
  stepWall(ms: number): void {
    this.wallOffset += ms;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { id, at: this.current + Math.max(0, ms), fn });
    return { id };
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete((handle as { id: number }).id);
  }

  /** Number of timers not yet fired or cleared. */
  pendingTimers(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing every timer that falls due, in order. */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    await flushPromises();
    for (;;) {
      const next = this.earliest();
      if (next === undefined || next.at > target) break;
      this.timers.delete(next.id);
      this.current = Math.max(this.current, next.at);
      next.fn();
      await flushPromises();
    }
    this.current = target;
    await flushPromises();
  }

  /** Fires everything due now (zero-delay timers) without moving time. */
  tick(): Promise<void> {
    return this.advance(0);
  }

  private earliest(): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const t of this.timers.values()) {
      if (best === undefined || t.at < best.at || (t.at === best.at && t.id < best.id)) best = t;
    }
    return best;
  }
}

/** Lets every already-queued promise callback (and the ones they queue) run. */
export async function flushPromises(rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}
