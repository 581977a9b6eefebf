import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chooseOwner } from '../../speaker/election.js';
import {
  DEFAULT_GARP_OFFSETS_MS,
  GarpScheduleError,
  garpSchedule,
  parseGarpOffsets,
} from '../../speaker/garp-schedule.js';
import { HoldDown } from '../../speaker/hold-down.js';

const set = (...xs: string[]): ReadonlySet<string> => new Set(xs);
const sorted = (s: ReadonlySet<string>) => [...s].sort();

type Step = [at: number, live: string[] | null, held: string[], next: number | undefined];

// One tracker, a sequence of steps: at `at` observe `live` (null: no observation), then expect
// `held` in hold-down and the next change at `next`.
function run(h: HoldDown, steps: Step[]): void {
  for (const [at, live, held, next] of steps) {
    if (live) h.observe(new Set(live), at);
    expect([at, sorted(h.inHoldDown(at))]).toEqual([at, held]);
    expect([at, h.nextChange(at)]).toEqual([at, next]);
  }
}

describe('HoldDown without self: every node first seen is new', () => {
  it('holds new and returning nodes for ms, not nodes that stay', () => {
    run(new HoldDown(3000), [
      [0, ['a', 'b'], ['a', 'b'], 3000],
      [2999, ['a', 'b'], ['a', 'b'], 3000],
      [3000, ['a', 'b'], [], undefined],
      [4000, ['a', 'b', 'c'], ['c'], 7000],
      [5000, ['a', 'c'], ['c'], 7000], // b dies
      [6000, ['a', 'b', 'c'], ['b', 'c'], 7000], // b is back: held from now
      [7000, null, ['b'], 9000],
      [9000, null, [], undefined],
      [9500, ['b', 'c'], [], undefined], // a dies
      [9600, ['a', 'b', 'c'], ['a'], 12600],
    ]);
  });

  it('a flapping node stays held from its latest return', () => {
    run(new HoldDown(1000), [
      [0, ['a'], ['a'], 1000],
      [2000, ['a', 'b'], ['b'], 3000],
      [2500, ['a'], [], undefined],
      [2600, ['a', 'b'], ['b'], 3600],
    ]);
  });
});

describe('HoldDown with self', () => {
  it('the local node is new at start, the peers it finds then are established', () => {
    run(new HoldDown(3000, { self: 'me' }), [
      [100, ['me'], ['me'], 3100],
      [300, ['me', 'a', 'b'], ['me'], 3100], // peers heard 200 ms later: established
      [3100, ['me', 'a', 'b'], [], undefined],
      [4000, ['me', 'a', 'b', 'c'], ['c'], 7000], // after start-up, a newcomer is held
    ]);
  });

  it('a peer that dies and returns during our start-up is held like any returning node', () => {
    run(new HoldDown(3000, { self: 'me' }), [
      [0, ['me', 'a'], ['me'], 3000],
      [500, ['me'], ['me'], 3000],
      [900, ['me', 'a'], ['a', 'me'], 3000],
      [3000, null, ['a'], 3900],
    ]);
  });

  it('a restarted speaker defers to its peers for IPs they own, and its peers to it', () => {
    // The cluster view: a and b established, me just restarted (held in their trackers).
    const peers = new HoldDown(3000, { self: 'a' });
    peers.observe(set('a', 'b'), 0);
    peers.observe(set('a', 'b'), 10_000);
    peers.observe(set('a', 'b', 'me'), 20_000);
    const mine = new HoldDown(3000, { self: 'me' });
    mine.observe(set('me'), 20_000);
    mine.observe(set('me', 'a', 'b'), 20_050);
    // Both views agree: only 'me' is held, so every IP has one owner, and it is not 'me'.
    expect(sorted(peers.inHoldDown(20_100))).toEqual(['me']);
    expect(sorted(mine.inHoldDown(20_100))).toEqual(['me']);
    for (let i = 1; i <= 50; i++) {
      const ip = `192.0.2.${i}`;
      const o1 = chooseOwner(ip, ['a', 'b', 'me'], peers.inHoldDown(20_100));
      const o2 = chooseOwner(ip, ['a', 'b', 'me'], mine.inHoldDown(20_100));
      expect(o1).toBe(o2);
      expect(o1).not.toBe('me');
    }
    // Alone, a restarted speaker announces at once: nobody else could.
    expect(chooseOwner('192.0.2.1', ['me'], mine.inHoldDown(20_100))).toBe('me');
  });

  it('nextChange is always the next time inHoldDown changes', () => {
    const steps = fc.array(
      fc.tuple(fc.integer({ min: 1, max: 1500 }), fc.subarray(['me', 'a', 'b', 'c', 'd'])),
      { maxLength: 30 },
    );
    fc.assert(
      fc.property(steps, fc.boolean(), (seq, withSelf) => {
        const h = new HoldDown(1000, withSelf ? { self: 'me' } : {});
        let now = 0;
        for (const [dt, live] of seq) {
          now += dt;
          h.observe(new Set(live), now);
          const held = sorted(h.inHoldDown(now));
          const next = h.nextChange(now);
          for (const n of held) expect(live).toContain(n);
          if (next === undefined) expect(held).toEqual([]);
          else {
            expect(next).toBeGreaterThan(now);
            expect(next).toBeLessThanOrEqual(now + 1000);
            expect(sorted(h.inHoldDown(next - 1))).toEqual(held);
            expect(sorted(h.inHoldDown(next)).length).toBeLessThan(held.length);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('GARP schedule', () => {
  it('sends at the offsets from the start', () => {
    expect(garpSchedule(10_000)).toEqual([10_000, 10_250, 11_000, 12_000, 14_000]);
    expect(garpSchedule(5, [0, 100])).toEqual([5, 105]);
    expect(DEFAULT_GARP_OFFSETS_MS).toEqual([0, 250, 1000, 2000, 4000]);
  });

  it.each([
    ['0,250,1000,2000,4000', [0, 250, 1000, 2000, 4000]],
    [' 0 , 500 ', [0, 500]],
    ['100', [100]],
    ['60000', [60000]],
  ])('parses %j', (text, want) => {
    expect(parseGarpOffsets(text)).toEqual(want);
  });

  it.each([
    ['', 'empty'],
    ['  ', 'empty'],
    ['0,,250', 'entry 2 "": not a whole number'],
    ['0,250ms', 'entry 2 "250ms": not a whole number'],
    ['-5', 'entry 1 "-5": not a whole number'],
    ['0,1.5', 'entry 2 "1.5": not a whole number'],
    ['0,0250', 'entry 2 "0250": not a whole number'],
    ['0,250,250', 'entry 3 "250": offsets must increase (after 250)'],
    ['1000,250', 'entry 2 "250": offsets must increase (after 1000)'],
    ['0,60001', 'entry 2 "60001": more than 60000 ms'],
    [Array.from({ length: 21 }, (_, i) => i).join(','), '21 offsets: at most 20'],
  ])('refuses %j: %s', (text, message) => {
    expect(() => parseGarpOffsets(text)).toThrow(GarpScheduleError);
    expect(() => parseGarpOffsets(text)).toThrow(message);
    try {
      parseGarpOffsets(text);
    } catch (e) {
      expect((e as GarpScheduleError).code).toBe('InvalidGarpSchedule');
    }
  });
});
