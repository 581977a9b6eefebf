import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type GossipEntry, type Message, NEVER, nodeId } from '../../speaker/membership/codec.js';
import { Detector, type MembershipChange, type Verdict } from '../../speaker/membership/detector.js';

const DEAD = 450;
const T0 = 1_000_000;
const INC_B = 'bbbbbbbbbbbbbbbb';
const INC_B2 = 'b2b2b2b2b2b2b2b2';

// A world seen from node "a" with peers b and c: a Detector plus the sentAt values "a" sent.
class World {
  readonly d = new Detector({ self: 'a', deadAfterMs: DEAD });
  lastSentByA = -1;
  private seq = new Map<string, number>(); // sender/incarnation -> last seq used

  constructor() {
    this.d.setPeers(['b', 'c'], T0);
  }

  /** "a" sends a heartbeat at `at` (what peers then echo). */
  send(at: number) {
    this.d.noteSent(at);
    this.lastSentByA = at;
  }

  /** A heartbeat from `sender` at `now` that echoes a's last sentAt (unless told otherwise). */
  msg(
    sender: string,
    now: number,
    o: Partial<Message> & { echo?: number | null; heard?: GossipEntry[] } = {},
  ) {
    const inc = o.incarnation ?? (sender === 'b' ? INC_B : 'cccccccccccccccc');
    const key = `${sender}/${inc}`;
    const seq = o.seq ?? (this.seq.get(key) ?? 0) + 1;
    this.seq.set(key, Math.max(seq, this.seq.get(key) ?? 0));
    const echo = o.echo === undefined ? this.lastSentByA : o.echo;
    const entries: GossipEntry[] = [...(o.heard ?? [])];
    if (echo !== null) entries.push({ id: nodeId('a'), heardAgeUs: 1000, echoTs: echo, echoHoldUs: 1000 });
    const m: Message = {
      kind: o.kind ?? 'heartbeat',
      sender,
      incarnation: inc,
      seq,
      sentAt: now - 0.5,
      entries,
    };
    return this.d.heard(m, now);
  }
}

const states = (cs: readonly MembershipChange[]) => cs.map((c) => `${c.node}:${c.state}`);

describe('Detector scenarios', () => {
  type Step =
    | { at: number; send: true }
    | { at: number; from: string; opts?: Parameters<World['msg']>[2]; verdict?: Verdict; changes?: string[] }
    | { at: number; check: number; changes: string[] };
  const table: { name: string; steps: Step[]; alive: string[] }[] = [
    {
      name: 'silence: dead once 450 ms pass without a heartbeat, not before',
      steps: [
        { at: T0, send: true },
        { at: T0 + 1, from: 'b', changes: ['b:alive'] },
        { at: T0 + 451, check: 0, changes: [] },
        { at: T0 + 452, check: 0, changes: ['b:dead'] },
      ],
      alive: ['a'],
    },
    {
      name: 'one path silent, but c heard b directly: b stays alive',
      steps: [
        { at: T0, send: true },
        { at: T0 + 1, from: 'b', changes: ['b:alive'] },
        { at: T0 + 2, from: 'c', changes: ['c:alive'] },
        {
          at: T0 + 400,
          from: 'c',
          opts: { heard: [{ id: nodeId('b'), heardAgeUs: 20_000, echoTs: 1, echoHoldUs: 0 }] },
        },
        { at: T0 + 600, check: 0, changes: [] },
        { at: T0 + 831, check: 0, changes: ['b:dead'] }, // 380 + 450 < 831
      ],
      alive: ['a', 'c'],
    },
    {
      name: 'a live node that never heard b directly does not keep it alive',
      steps: [
        { at: T0, send: true },
        { at: T0 + 1, from: 'b', changes: ['b:alive'] },
        { at: T0 + 2, from: 'c', changes: ['c:alive'] },
        {
          at: T0 + 400,
          from: 'c',
          opts: { heard: [{ id: nodeId('b'), heardAgeUs: NEVER, echoTs: 5, echoHoldUs: 0 }] },
        },
        { at: T0 + 452, check: 0, changes: ['b:dead'] },
      ],
      alive: ['a', 'c'],
    },
    {
      name: 'leaving: left at once, later heartbeats of that incarnation ignored',
      steps: [
        { at: T0, send: true },
        { at: T0 + 1, from: 'b', changes: ['b:alive'] },
        { at: T0 + 50, from: 'b', opts: { kind: 'leaving' }, changes: ['b:left'] },
        { at: T0 + 60, from: 'b', opts: { kind: 'leaving' }, verdict: 'left', changes: [] },
        { at: T0 + 70, from: 'b', verdict: 'left', changes: [] },
        { at: T0 + 2000, check: 0, changes: [] },
      ],
      alive: ['a'],
    },
    {
      name: 'gossip does not revive a node that left',
      steps: [
        { at: T0, send: true },
        { at: T0 + 1, from: 'b', changes: ['b:alive'] },
        { at: T0 + 2, from: 'c', changes: ['c:alive'] },
        { at: T0 + 50, from: 'b', opts: { kind: 'leaving' }, changes: ['b:left'] },
        {
          at: T0 + 60,
          from: 'c',
          opts: { heard: [{ id: nodeId('b'), heardAgeUs: 1000, echoTs: 1, echoHoldUs: 0 }] },
          changes: [],
        },
      ],
      alive: ['a', 'c'],
    },
    {
      name: 'our own stall: nobody dies for the time we were late',
      steps: [
        { at: T0, send: true },
        { at: T0 + 1, from: 'b', changes: ['b:alive'] },
        { at: T0 + 800, check: 500, changes: [] }, // 799 ms silence, 500 of them ours
        { at: T0 + 950, check: 0, changes: [] },
        { at: T0 + 952, check: 0, changes: ['b:dead'] },
      ],
      alive: ['a'],
    },
    {
      name: 'replays and duplicates are ignored and do not refresh',
      steps: [
        { at: T0, send: true },
        { at: T0 + 1, from: 'b', opts: { seq: 10 }, changes: ['b:alive'] },
        { at: T0 + 300, from: 'b', opts: { seq: 10 }, verdict: 'duplicate' },
        { at: T0 + 400, from: 'b', opts: { seq: 3 }, verdict: 'replay' },
        { at: T0 + 452, check: 0, changes: ['b:dead'] },
      ],
      alive: ['a'],
    },
    {
      name: 'restart: a new incarnation with a fresh echo is reported restarted',
      steps: [
        { at: T0, send: true },
        { at: T0 + 1, from: 'b', changes: ['b:alive'] },
        { at: T0 + 100, from: 'b', opts: { incarnation: INC_B2, echo: null }, verdict: 'unproven' },
        { at: T0 + 150, send: true },
        { at: T0 + 200, from: 'b', opts: { incarnation: INC_B2 }, changes: ['b:restarted'] },
        // A recorded packet of the old boot, echoing a sentAt still inside the proof window.
        { at: T0 + 300, from: 'b', opts: { incarnation: INC_B, seq: 99, echo: T0 }, verdict: 'replay' },
        { at: T0 + 310, from: 'b', opts: { incarnation: INC_B2 }, changes: [] },
      ],
      alive: ['a', 'b'],
    },
    {
      name: 'restart after death, and after leaving',
      steps: [
        { at: T0, send: true },
        { at: T0 + 1, from: 'b', changes: ['b:alive'] },
        { at: T0 + 500, check: 0, changes: ['b:dead'] },
        { at: T0 + 600, send: true },
        { at: T0 + 601, from: 'b', opts: { incarnation: INC_B2 }, changes: ['b:restarted'] },
        { at: T0 + 700, from: 'b', opts: { incarnation: INC_B2, kind: 'leaving' }, changes: ['b:left'] },
        { at: T0 + 750, send: true },
        { at: T0 + 800, from: 'b', opts: { incarnation: 'b3b3b3b3b3b3b3b3' }, changes: ['b:restarted'] },
      ],
      alive: ['a', 'b'],
    },
    {
      name: 'a recorded packet of an unknown incarnation, echoing an old sentAt, is not believed',
      steps: [
        { at: T0, send: true },
        { at: T0 + 5000, send: true },
        { at: T0 + 5001, from: 'b', opts: { echo: T0 }, verdict: 'replay', changes: [] },
        { at: T0 + 5002, from: 'b', opts: { echo: 12345 }, verdict: 'replay', changes: [] },
      ],
      alive: ['a'],
    },
    {
      name: 'partition healed within the same incarnation: alive again',
      steps: [
        { at: T0, send: true },
        { at: T0 + 1, from: 'b', changes: ['b:alive'] },
        { at: T0 + 500, check: 0, changes: ['b:dead'] },
        { at: T0 + 2000, from: 'b', opts: { echo: null }, changes: ['b:alive'] },
      ],
      alive: ['a', 'b'],
    },
    {
      name: 'unknown senders and our own packets are ignored',
      steps: [
        { at: T0, send: true },
        { at: T0 + 1, from: 'zed', verdict: 'unknown-sender', changes: [] },
        { at: T0 + 2, from: 'a', verdict: 'self', changes: [] },
      ],
      alive: ['a'],
    },
  ];

  it.each(table)('$name', ({ steps, alive }) => {
    const w = new World();
    for (const [i, s] of steps.entries()) {
      const where = `step ${i}`;
      if ('send' in s) w.send(s.at);
      else if ('check' in s) expect(states(w.d.check(s.at, s.check)), where).toEqual(s.changes);
      else {
        const r = w.msg(s.from, s.at, s.opts);
        expect(r.verdict, where).toBe(s.verdict ?? 'accepted');
        if (s.changes) expect(states(r.changes), where).toEqual(s.changes);
      }
    }
    expect([...w.d.alive()].sort()).toEqual(alive);
  });

  it('measures RTT from the echo minus the time the peer held it', () => {
    const w = new World();
    w.send(T0);
    const r = w.msg('b', T0 + 5); // echo held 1 ms by b
    expect(r.rttMs).toBeCloseTo(4);
  });

  it('gossips direct hearings and echoes, not second-hand ones', () => {
    const w = new World();
    w.send(T0);
    w.msg('c', T0 + 10, { heard: [{ id: nodeId('b'), heardAgeUs: 1000, echoTs: 1, echoHoldUs: 0 }] });
    const g = w.d.gossip(T0 + 30);
    expect(g).toEqual([{ id: nodeId('c'), heardAgeUs: 20_000, echoTs: T0 + 9.5, echoHoldUs: 20_000 }]);
  });

  it('reports a removed live peer as left', () => {
    const w = new World();
    w.send(T0);
    w.msg('b', T0 + 1);
    expect(states(w.d.setPeers(['c'], T0 + 2))).toEqual(['b:left']);
    expect([...w.d.alive()]).toEqual(['a']);
  });
});

describe('Detector properties', () => {
  // Random events from b (heartbeats, possibly replayed or late) and checks with random
  // lateness; the detector must never call b dead within DEAD ms of accepting b directly.
  it('never declares dead a peer heard within deadAfter', () => {
    const event = fc.oneof(
      fc.record({ t: fc.constant('hb' as const), gap: fc.integer({ min: 0, max: 700 }), seqBack: fc.nat(3) }),
      fc.record({
        t: fc.constant('check' as const),
        gap: fc.integer({ min: 0, max: 700 }),
        late: fc.nat(600),
      }),
    );
    fc.assert(
      fc.property(fc.array(event, { maxLength: 60 }), (events) => {
        const w = new World();
        let now = T0;
        let seq = 0;
        let lastAccepted: number | undefined;
        w.send(now);
        for (const e of events) {
          now += e.gap;
          if (e.t === 'hb') {
            w.send(now);
            seq = e.seqBack > 0 ? Math.max(1, seq - e.seqBack) : seq + 1;
            const r = w.msg('b', now, { seq });
            if (r.verdict === 'accepted') lastAccepted = now;
          } else {
            const died = w.d.check(now, e.late).some((c) => c.state === 'dead');
            if (died && lastAccepted !== undefined) expect(now - lastAccepted).toBeGreaterThan(DEAD);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('a peer silent for longer than deadAfter plus our lateness is dead after one check', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 1, max: 1000 }), (late, extra) => {
        const w = new World();
        w.send(T0);
        w.msg('b', T0);
        w.d.check(T0 + 10, late);
        expect(states(w.d.check(T0 + DEAD + late + extra, 0))).toEqual(['b:dead']);
      }),
    );
  });
});
