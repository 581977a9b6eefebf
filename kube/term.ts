// One leadership term, as the code that acts for the leader sees it: a signal that aborts when
// the term ends, and the fence every write of the term goes through.
//
// Why a fence: Kubernetes has no fencing tokens, so nothing stops a deposed leader's write
// from landing after a successor started. What we can guarantee locally:
// - no write STARTS after the term ended (writeBudgetMs throws FENCED);
// - no write is still IN FLIGHT when a successor could take over: each write gets a deadline
//   of `validUntil` (the start of our last successful Lease write + leaseDuration - margin;
//   another candidate takes over only after watching the Lease unchanged for leaseDuration);
// - the Lease is handed over early (released) only when every write's outcome is known
//   (clean()), and it then carries the highest resourceVersion the term wrote
//   (writtenThrough), which the successor's cache must reach before it allocates anything.
//   A term with a write of unknown outcome lets its Lease expire instead.
import type { Clock } from './clock.js';
import { KubeError } from './errors.js';

export class LeadershipTerm {
  private readonly ended = new AbortController();
  private validUntil: number;
  private highest: bigint | undefined; // highest resourceVersion written in this term
  private unknown = 0; // writes whose outcome we never learned

  constructor(
    private readonly clock: Pick<Clock, 'now'>,
    validUntil: number,
    /** The previous holder's writtenThrough, as the Lease said when this term began ('' = none). */
    readonly previousWrittenThrough: string,
  ) {
    this.validUntil = validUntil;
    this.wrote(previousWrittenThrough); // what we hand on includes what we were handed
  }

  /** Aborts when the term ends (lost, released, or the program stops). */
  get signal(): AbortSignal {
    return this.ended.signal;
  }

  /**
   * The most a write started now may take (ms); throws KubeError FENCED when the term is over or
   * its Lease may already be someone else's. Call right before each write.
   */
  writeBudgetMs(): number {
    if (this.ended.signal.aborted) throw new KubeError('FENCED', 'leadership term ended: no more writes');
    const left = this.validUntil - this.clock.now();
    if (left <= 0) throw new KubeError('FENCED', 'leadership not confirmed recently enough to write');
    return left;
  }

  /** A write of this term succeeded and produced `resourceVersion`. */
  wrote(resourceVersion: string | undefined): void {
    if (resourceVersion === undefined || !/^[0-9]{1,30}$/.test(resourceVersion)) return;
    const v = BigInt(resourceVersion);
    if (this.highest === undefined || v > this.highest) this.highest = v;
  }

  /** A write of this term failed in a way that leaves open whether the server applied it. */
  outcomeUnknown(): void {
    this.unknown++;
  }

  /** The highest resourceVersion this term wrote ('' = none), for the Lease. */
  writtenThrough(): string {
    return this.highest?.toString() ?? '';
  }

  /** True when no write of this term has an unknown outcome. */
  clean(): boolean {
    return this.unknown === 0;
  }

  // --- the elector's side ------------------------------------------------------------------

  /** The Lease was confirmed: writes may run until `until` (monotonic ms). */
  extend(until: number): void {
    if (until > this.validUntil) this.validUntil = until;
  }

  end(reason: unknown): void {
    this.ended.abort(reason);
  }
}
