import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FakeClock, flushPromises } from '../../kube/clock.js';
import { RateLimiter, WorkQueue } from '../../kube/workqueue.js';

function makeQueue(opts: ConstructorParameters<typeof WorkQueue>[0] = {}) {
  const clock = new FakeClock();
  return { clock, q: new WorkQueue({ clock, qps: 0, ...opts }) };
}

/** A handler whose calls stay pending until the test releases them. */
function gatedHandler() {
  const calls: string[] = [];
  const gates = new Map<string, Array<(err?: Error) => void>>();
  let active = 0;
  let maxActivePerKey = 0;
  const activeKeys = new Map<string, number>();
  const handler = (key: string) => {
    calls.push(key);
    active++;
    const n = (activeKeys.get(key) ?? 0) + 1;
    activeKeys.set(key, n);
    maxActivePerKey = Math.max(maxActivePerKey, n);
    return new Promise<void>((resolve, reject) => {
      const list = gates.get(key) ?? [];
      list.push((err) => {
        active--;
        activeKeys.set(key, (activeKeys.get(key) ?? 1) - 1);
        if (err) reject(err);
        else resolve();
      });
      gates.set(key, list);
    });
  };
  const release = async (key: string, err?: Error) => {
    const g = gates.get(key)?.shift();
    if (!g) throw new Error(`no pending call for ${key}`);
    g(err);
    await flushPromises();
  };
  return { handler, calls, release, active: () => active, maxActivePerKey: () => maxActivePerKey };
}

describe('WorkQueue', () => {
  it('does not duplicate a key added while it is queued', async () => {
    const { q } = makeQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.len()).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
  });

  it('re-queues a key re-added during processing only after done()', async () => {
    const { q } = makeQueue();
    q.add('a');
    const k = await q.get();
    q.add('a');
    q.add('a');
    expect(q.len()).toBe(0); // not handed to another worker while in flight
    q.done(k!);
    expect(q.len()).toBe(1);
    expect(await q.get()).toBe('a');
  });

  it('never processes one key on two workers at once', async () => {
    const { q } = makeQueue();
    const h = gatedHandler();
    const ctl = new AbortController();
    const running = q.run(h.handler, { workers: 4, signal: ctl.signal });
    q.add('a');
    q.add('b');
    await flushPromises();
    q.add('a'); // while 'a' is in flight
    await flushPromises();
    expect(h.calls).toEqual(['a', 'b']);
    await h.release('a');
    expect(h.calls).toEqual(['a', 'b', 'a']);
    await h.release('a');
    await h.release('b');
    expect(h.maxActivePerKey()).toBe(1);
    ctl.abort();
    await running;
  });

  it('runs different keys concurrently up to the worker count', async () => {
    const { q } = makeQueue();
    const h = gatedHandler();
    const ctl = new AbortController();
    const running = q.run(h.handler, { workers: 2, signal: ctl.signal });
    for (const k of ['a', 'b', 'c']) q.add(k);
    await flushPromises();
    expect(h.active()).toBe(2);
    expect(q.len()).toBe(1);
    await h.release('a');
    expect(h.calls).toEqual(['a', 'b', 'c']);
    await h.release('b');
    await h.release('c');
    ctl.abort();
    await running;
  });

  it('retries failures with growing, capped per-key backoff and forget() resets it', async () => {
    const { clock, q } = makeQueue({ baseDelayMs: 10, maxDelayMs: 100 });
    const seen: number[] = [];
    let failuresLeft = 6;
    const ctl = new AbortController();
    const running = q.run(
      async () => {
        seen.push(clock.now());
        if (failuresLeft-- > 0) throw new Error('boom');
      },
      { signal: ctl.signal },
    );
    const t0 = clock.now();
    q.add('k');
    await clock.advance(1000);
    const gaps = seen.slice(1).map((t, i) => t - seen[i]!);
    expect(seen[0]).toBe(t0);
    expect(gaps).toEqual([10, 20, 40, 80, 100, 100]);
    expect(q.numRequeues('k')).toBe(0); // success forgot the key
    ctl.abort();
    await running;
  });

  it('an aborted run drops what waits (queued and delayed) and resolves once the key in flight is done', async () => {
    const { clock, q } = makeQueue();
    const h = gatedHandler();
    const ctl = new AbortController();
    let ended = false;
    const running = q.run(h.handler, { signal: ctl.signal }).then(() => {
      ended = true;
    });
    q.add('a');
    q.add('b');
    q.add('c');
    q.addAfter('d', 50);
    await flushPromises();
    expect(h.calls).toEqual(['a']);
    q.add('a'); // re-added while in flight
    ctl.abort();
    q.add('e'); // after the end: refused
    await clock.advance(100);
    expect(ended).toBe(false); // 'a' is still in flight
    h.release('a');
    await running;
    await clock.advance(100);
    expect(h.calls).toEqual(['a']); // b, c, d, e and the second a: never handled
    expect(q.len()).toBe(0);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('only success forgets a key: a handler that keeps failing backs off to the cap, and onError can set a floor', async () => {
    const { clock, q } = makeQueue({ baseDelayMs: 200, maxDelayMs: 60_000 });
    const seen: number[] = [];
    const ctl = new AbortController();
    const running = q.run(
      async () => {
        seen.push(clock.now());
        throw new Error('403 forever');
      },
      { signal: ctl.signal, onError: (_k, _e, retries) => (retries >= 3 ? 120_000 : undefined) },
    );
    q.add('k');
    await clock.advance(600_000);
    const gaps = seen.slice(1).map((t, i) => t - seen[i]!);
    expect(gaps.slice(0, 3)).toEqual([200, 400, 800]);
    expect(gaps.slice(3).every((g) => g === 120_000)).toBe(true); // the floor, above the cap
    expect(seen.length).toBeLessThan(10); // not every 200 ms for ten minutes
    ctl.abort();
    await running;
  });

  it('addRateLimited grows per key independently', () => {
    const clock = new FakeClock();
    const rl = new RateLimiter({ baseDelayMs: 5, maxDelayMs: 1000, qps: 0 }, clock);
    expect([rl.when('a'), rl.when('a'), rl.when('b'), rl.when('a')]).toEqual([5, 10, 5, 20]);
    rl.forget('a');
    expect(rl.when('a')).toBe(5);
    expect(rl.retries('b')).toBe(1);
  });

  it('the token bucket delays retries beyond the burst', () => {
    const clock = new FakeClock();
    const rl = new RateLimiter({ baseDelayMs: 1, maxDelayMs: 1, qps: 10, burst: 2 }, clock);
    const delays = ['a', 'b', 'c', 'd'].map((k) => rl.when(k));
    expect(delays).toEqual([1, 1, 100, 200]);
  });

  it('property: per-key backoff is monotone and never exceeds max', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.nat(80),
        (b, m, n) => {
          const rl = new RateLimiter({ baseDelayMs: b, maxDelayMs: Math.max(b, m), qps: 0 }, new FakeClock());
          let prev = 0;
          for (let i = 0; i < n; i++) {
            const d = rl.when('k');
            expect(d).toBeGreaterThanOrEqual(prev);
            expect(d).toBeLessThanOrEqual(Math.max(b, m));
            prev = d;
          }
        },
      ),
    );
  });

  it('addAfter releases keys in due order and keeps the earliest time for one key', async () => {
    const { clock, q } = makeQueue();
    q.addAfter('late', 300);
    q.addAfter('early', 100);
    q.addAfter('mid', 200);
    q.addAfter('late', 50); // earlier wins
    q.addAfter('early', 500); // later is ignored
    await clock.advance(49);
    expect(q.len()).toBe(0);
    await clock.advance(1);
    expect(q.len()).toBe(1);
    await clock.advance(250);
    const order = [await q.get(), await q.get(), await q.get()];
    expect(order).toEqual(['late', 'early', 'mid']);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('addAfter with a non-positive delay adds at once', () => {
    const { q } = makeQueue();
    q.addAfter('a', 0);
    expect(q.len()).toBe(1);
  });

  it('handler may ask for a periodic requeue', async () => {
    const { clock, q } = makeQueue();
    const seen: number[] = [];
    const ctl = new AbortController();
    const t0 = clock.now();
    const running = q.run(
      async () => {
        seen.push(clock.now() - t0);
        return { requeueAfterMs: 1000 };
      },
      { signal: ctl.signal },
    );
    q.add('a');
    await clock.advance(2500);
    expect(seen).toEqual([0, 1000, 2000]);
    ctl.abort();
    await running;
    expect(clock.pendingTimers()).toBe(0);
  });

  it('shutdown drains queued keys, waits for in-flight ones, drops later adds and delayed keys', async () => {
    const { clock, q } = makeQueue();
    const h = gatedHandler();
    const running = q.run(h.handler, { workers: 1 });
    q.add('a');
    q.add('b');
    q.addAfter('c', 1000);
    await flushPromises();
    let drained = false;
    const done = q.shutdown().then(() => {
      drained = true;
    });
    q.add('d');
    expect(q.isShuttingDown()).toBe(true);
    await h.release('a');
    expect(drained).toBe(false);
    await h.release('b');
    await done;
    await running;
    expect(h.calls).toEqual(['a', 'b']);
    expect(clock.pendingTimers()).toBe(0);
    expect(await q.get()).toBeUndefined();
  });

  it('aborting the run signal stops idle workers', async () => {
    const { q } = makeQueue();
    const ctl = new AbortController();
    const running = q.run(async () => {}, { workers: 3, signal: ctl.signal });
    await flushPromises();
    ctl.abort();
    await running;
    expect(q.isShuttingDown()).toBe(true);
  });

  it('reports failures with the retry count', async () => {
    const { clock, q } = makeQueue({ baseDelayMs: 10 });
    const errors: Array<[string, number]> = [];
    const ctl = new AbortController();
    let n = 0;
    const running = q.run(
      async () => {
        if (n++ < 2) throw new Error('x');
      },
      { signal: ctl.signal, onError: (k, _e, r) => errors.push([k, r]) },
    );
    q.add('k');
    await clock.advance(100);
    expect(errors).toEqual([
      ['k', 0],
      ['k', 1],
    ]);
    ctl.abort();
    await running;
  });

  it('property: every added key is processed, and none concurrently with itself', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 30 }), async (keys) => {
        const { q } = makeQueue();
        const inFlight = new Set<string>();
        const processed = new Set<string>();
        let clash = false;
        const ctl = new AbortController();
        const running = q.run(
          async (k) => {
            if (inFlight.has(k)) clash = true;
            inFlight.add(k);
            await flushPromises(1);
            inFlight.delete(k);
            processed.add(k);
          },
          { workers: 3, signal: ctl.signal },
        );
        for (const k of keys) {
          q.add(k);
          if (k === 'a') await flushPromises(1);
        }
        await q.shutdown(); // the draining stop: everything queued is handled first
        await running;
        ctl.abort();
        expect(clash).toBe(false);
        expect(processed).toEqual(new Set(keys));
      }),
      { numRuns: 50 },
    );
  });
});
