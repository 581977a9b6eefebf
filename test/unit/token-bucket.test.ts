import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../kube/token-bucket.js';

describe('TokenBucket', () => {
  it('allows the burst at once, then the rate, never more than the burst after a pause', () => {
    let now = 0;
    const b = new TokenBucket(10, 5, { now: () => now });
    const takes = (n: number) => Array.from({ length: n }, () => b.take()).filter(Boolean).length;
    expect(takes(8)).toBe(5);
    now += 300; // three tokens
    expect(takes(8)).toBe(3);
    now += 60_000; // a long pause refills only up to the burst
    expect(takes(100)).toBe(5);
  });

  it('over any schedule, grants at most burst + rate x elapsed', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.integer({ min: 0, max: 500 }), { maxLength: 200 }),
        (rate, burst, gaps) => {
          let now = 0;
          const b = new TokenBucket(rate, burst, { now: () => now });
          let granted = 0;
          for (const g of gaps) {
            now += g;
            if (b.take()) granted++;
          }
          expect(granted).toBeLessThanOrEqual(burst + Math.floor((rate * now) / 1000));
        },
      ),
    );
  });
});
