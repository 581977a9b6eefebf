import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../kube/clock.js';
import { startMallocTrim, TRIM_EVERY_MS } from '../../speaker/malloc-trim.js';

describe('startMallocTrim', () => {
  it('trims every interval until stopped', async () => {
    const clock = new FakeClock();
    let calls = 0;
    const stop = startMallocTrim({ clock, trim: () => ++calls > 0 });
    await clock.advance(TRIM_EVERY_MS - 1);
    expect(calls).toBe(0);
    await clock.advance(1);
    expect(calls).toBe(1);
    await clock.advance(3 * TRIM_EVERY_MS);
    expect(calls).toBe(4);
    stop();
    await clock.advance(10 * TRIM_EVERY_MS);
    expect(calls).toBe(4);
  });

  it('without a trim function (older addon) does nothing', async () => {
    const clock = new FakeClock();
    const stop = startMallocTrim({ clock, trim: undefined });
    await clock.advance(10 * TRIM_EVERY_MS);
    stop();
  });
});
