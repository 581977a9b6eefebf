// The one token bucket of the I/O shell, on an injected clock: `burst` tokens at most, refilled
// at `perSecond`. Event rate limits use take() (drop when over the rate); the work queue's
// overall retry limit uses reserve() (wait until a token is due). Pure apart from reading the
// clock, so tests drive it with a FakeClock.
import type { Clock } from './clock.js';

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly clock: Pick<Clock, 'now'>,
  ) {
    this.tokens = burst;
    this.last = clock.now();
  }

  /** Takes one token if there is one; false means over the rate. */
  take(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Takes one token, going into debt if none is left; returns the ms until it is covered. */
  reserve(): number {
    if (this.perSecond <= 0) return 0;
    this.refill();
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.perSecond) * 1000);
  }

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
  }
}
