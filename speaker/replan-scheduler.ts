/**
 * When the speaker's one level-triggered step (replan) runs. Two kinds of cause:
 *
 * - `now()`: heartbeat liveness, links, yielding an IP or taking it back, hold-down ends — the
 *   failover path. The replan runs on the next turn of the event loop (after the reads already
 *   queued, so a burst of datagrams is one replan), never later. (Node Ready, presence Leases
 *   and EndpointSlices arrive as cluster objects, below: they change slowly anyway.)
 * - `soon()`: a changed cluster object (informer events) or a finished conflict probe. At most
 *   one replan per `spacingMs` for these: while Services arrive, every status write of every
 *   speaker comes back as a watch event and every new IP ends a probe, and a replan for each
 *   (a full pass over every Service: ~4 ms and ~1 MiB of garbage at 1,000, per a sampling heap
 *   profile) kept the main thread busy and V8's old generation filling with promoted
 *   temporaries faster than it was collected — the speaker's memory peaks. Such a change now
 *   waits at most `spacingMs` (default 100 ms): nothing the API server tells us is that
 *   urgent, and the conflict probe before a first announcement takes 300 ms anyway.
 *
 * A `now()` while a spaced replan waits takes its place. Passes never overlap (the step is
 * synchronous); a failing step is reported, and the next cause runs it again.
 */
import type { Clock, TimerHandle } from '../kube/clock.js';

export interface ReplanSchedulerDeps {
  clock: Clock;
  run: () => void;
  onError: (err: unknown) => void;
  spacingMs?: number;
  /** Runs `fn` on the next turn of the event loop; setImmediate unless a test says otherwise. */
  defer?: (fn: () => void) => void;
}

export class ReplanScheduler {
  private queued = false;
  private stopped = false;
  private spaced?: TimerHandle;
  private lastRunAt = Number.NEGATIVE_INFINITY;
  private readonly spacingMs: number;
  private readonly defer: (fn: () => void) => void;

  constructor(private readonly d: ReplanSchedulerDeps) {
    this.spacingMs = d.spacingMs ?? 100;
    this.defer = d.defer ?? ((fn) => void setImmediate(fn));
  }

  /** Replan on the next turn of the event loop. */
  now(): void {
    if (this.queued || this.stopped) return;
    this.queued = true;
    this.defer(() => this.step());
  }

  /** Replan within `spacingMs`, sharing one replan with every other such change meanwhile. */
  soon(): void {
    if (this.queued || this.stopped || this.spaced !== undefined) return;
    const wait = this.lastRunAt + this.spacingMs - this.d.clock.now();
    if (wait <= 0) {
      this.now();
      return;
    }
    this.spaced = this.d.clock.setTimeout(() => {
      this.spaced = undefined;
      this.now();
    }, wait);
  }

  stop(): void {
    this.stopped = true;
    if (this.spaced !== undefined) this.d.clock.clearTimeout(this.spaced);
    this.spaced = undefined;
  }

  private step(): void {
    this.queued = false;
    if (this.stopped) return;
    if (this.spaced !== undefined) {
      this.d.clock.clearTimeout(this.spaced); // this replan sees that change too
      this.spaced = undefined;
    }
    this.lastRunAt = this.d.clock.now();
    try {
      this.d.run();
    } catch (err) {
      this.d.onError(err);
    }
  }
}
