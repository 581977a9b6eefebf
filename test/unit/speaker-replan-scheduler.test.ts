import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../kube/clock.js';
import { ReplanScheduler } from '../../speaker/replan-scheduler.js';

/** A scheduler on a fake clock whose "next loop turn" runs only when the test says so. */
function setup(spacingMs = 50) {
  const clock = new FakeClock(0);
  const deferred: (() => void)[] = [];
  const runs: number[] = [];
  const errors: unknown[] = [];
  let fail = false;
  const s = new ReplanScheduler({
    clock,
    spacingMs,
    run: () => {
      runs.push(clock.now());
      if (fail) throw new Error('boom');
    },
    onError: (e) => errors.push(e),
    defer: (fn) => deferred.push(fn),
  });
  const turn = () => {
    for (const fn of deferred.splice(0)) fn();
  };
  return { clock, s, runs, errors, turn, deferred, failNext: (v: boolean) => (fail = v) };
}

describe('ReplanScheduler', () => {
  it('now(): one replan on the next turn, however many causes came before it', () => {
    const t = setup();
    t.s.now();
    t.s.now();
    t.s.soon();
    expect(t.runs).toEqual([]);
    t.turn();
    expect(t.runs).toEqual([0]);
    t.turn();
    expect(t.runs).toEqual([0]);
  });

  it('soon(): at most one replan per spacing; the changes in between share it', async () => {
    const t = setup(50);
    t.s.soon(); // nothing ran yet: at once
    t.turn();
    expect(t.runs).toEqual([0]);
    await t.clock.advance(10);
    for (let i = 0; i < 30; i++) t.s.soon(); // a burst of watch events
    t.turn();
    expect(t.runs).toEqual([0]); // waits for the spacing
    await t.clock.advance(39);
    t.turn();
    expect(t.runs).toEqual([0]);
    await t.clock.advance(1); // 50 ms after the last replan began
    t.turn();
    expect(t.runs).toEqual([0, 50]);
    await t.clock.advance(500);
    t.s.soon(); // long quiet: at once again
    t.turn();
    expect(t.runs).toEqual([0, 50, 550]);
  });

  it('now() while a spaced replan waits takes its place: no second replan follows', async () => {
    const t = setup(50);
    t.s.now();
    t.turn();
    await t.clock.advance(5);
    t.s.soon(); // spaced: would run at 50
    t.s.now(); // a peer died: at once, and it covers the cluster change too
    t.turn();
    expect(t.runs).toEqual([0, 5]);
    expect(t.clock.pendingTimers()).toBe(0);
    await t.clock.advance(100);
    t.turn();
    expect(t.runs).toEqual([0, 5]);
  });

  it('a failing replan is reported and the next cause runs it again', async () => {
    const t = setup(50);
    t.failNext(true);
    t.s.now();
    t.turn();
    expect(t.errors).toHaveLength(1);
    t.failNext(false);
    t.s.now();
    t.turn();
    expect(t.runs).toEqual([0, 0]);
  });

  it('stop(): nothing runs after it, queued or spaced', async () => {
    const t = setup(50);
    t.s.now();
    t.turn();
    t.s.soon(); // spaced
    t.s.stop();
    expect(t.clock.pendingTimers()).toBe(0);
    t.s.now();
    t.s.soon();
    await t.clock.advance(100);
    t.turn();
    expect(t.runs).toEqual([0]);
  });
});
