import { describe, expect, it } from 'vitest';
import { FakeClock, flushPromises } from '../../kube/clock.js';
import {
  decide,
  LeaderElector,
  type LeaseClient,
  type LeaseRecord,
  type Observation,
  observe,
} from '../../kube/leader-election.js';
import { ApiStatusError } from '../../kube/rest.js';
import type { LeadershipTerm } from '../../kube/term.js';

const rec = (holder: string, over: Partial<LeaseRecord> = {}): LeaseRecord => ({
  holderIdentity: holder,
  leaseDurationSeconds: 15,
  acquireTime: 0,
  renewTime: 0,
  leaseTransitions: 3,
  writtenThrough: '',
  ...over,
});
const seen = (r: LeaseRecord, observedAt: number, resourceVersion = '7'): Observation => ({
  record: r,
  resourceVersion,
  observedAt,
});

describe('decide', () => {
  const cases: Array<{
    name: string;
    obs: Observation | undefined;
    now: number;
    want: string;
    transitions?: number;
  }> = [
    { name: 'absent lease -> create', obs: undefined, now: 1000, want: 'create', transitions: 0 },
    { name: 'mine -> renew', obs: seen(rec('me'), 0), now: 60_000, want: 'renew', transitions: 3 },
    { name: 'other, fresh -> wait', obs: seen(rec('other'), 1000), now: 15_999, want: 'wait' },
    {
      name: 'other, seen unchanged for duration -> acquire',
      obs: seen(rec('other'), 1000),
      now: 16_000,
      want: 'acquire',
      transitions: 4,
    },
    {
      name: 'released -> acquire at once',
      obs: seen(rec(''), 1000),
      now: 1001,
      want: 'acquire',
      transitions: 4,
    },
    // A remote renewTime far in the past does not matter: only local observation counts.
    {
      name: 'stale remote time, freshly observed -> wait',
      obs: seen(rec('other', { renewTime: -1e9 }), 5000),
      now: 5001,
      want: 'wait',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const d = decide(c.obs, c.now, 'me', 10);
      expect(d.action).toBe(c.want);
      if (d.action !== 'wait') {
        expect(d.record.holderIdentity).toBe('me');
        expect(d.record.renewTime).toBe(c.now);
        expect(d.record.leaseDurationSeconds).toBe(10);
        expect(d.record.leaseTransitions).toBe(c.transitions);
      }
    });
  }

  it('renew keeps acquireTime; acquire resets it', () => {
    const r = decide(seen(rec('me', { acquireTime: 5 }), 0), 100, 'me', 15);
    expect(r.action === 'renew' && r.record.acquireTime).toBe(5);
    const a = decide(seen(rec('', { acquireTime: 5 }), 0), 100, 'me', 15);
    expect(a.action === 'acquire' && a.record.acquireTime).toBe(100);
  });

  it('does not mutate its input', () => {
    const o = seen(rec('me'), 0);
    const copy = structuredClone(o);
    decide(o, 100, 'me', 15);
    expect(o).toEqual(copy);
  });
});

describe('observe', () => {
  it('keeps observedAt while the resourceVersion is unchanged, resets it on change', () => {
    const a = observe(undefined, { record: rec('x'), resourceVersion: '1' }, 100)!;
    expect(a.observedAt).toBe(100);
    expect(observe(a, { record: rec('x'), resourceVersion: '1' }, 200)!.observedAt).toBe(100);
    expect(observe(a, { record: rec('x'), resourceVersion: '2' }, 200)!.observedAt).toBe(200);
    expect(observe(a, undefined, 300)).toBeUndefined();
  });
});

/** One in-memory Lease with optimistic concurrency, shared by several electors. */
class MemoryLease {
  record?: LeaseRecord;
  rv = 0;
  down = false; // API unreachable
  writes: LeaseRecord[] = [];
  client(): LeaseClient {
    return {
      get: async () => {
        if (this.down) throw new ApiStatusError(503, {});
        return this.record ? { record: { ...this.record }, resourceVersion: String(this.rv) } : undefined;
      },
      create: async (r) => {
        if (this.down) throw new ApiStatusError(503, {});
        if (this.record) throw new ApiStatusError(409, {});
        return this.write(r);
      },
      update: async (r, rv) => {
        if (this.down) throw new ApiStatusError(503, {});
        if (String(this.rv) !== rv) throw new ApiStatusError(409, {});
        return this.write(r);
      },
      describe: () => 'mem/lease',
    };
  }
  private write(r: LeaseRecord): string {
    this.record = { ...r };
    this.writes.push({ ...r });
    return String(++this.rv);
  }
}

interface ClusterOptions {
  down?: (id: string) => boolean;
  /** The work of a term, once it began; default: run until the term's signal aborts. */
  work?: (id: string, term: LeadershipTerm) => Promise<void>;
}

const untilEnded = (term: LeadershipTerm) =>
  new Promise<void>((r) => term.signal.addEventListener('abort', () => r(), { once: true }));

function cluster(n: number, opts: ClusterOptions = {}) {
  const clock = new FakeClock();
  const lease = new MemoryLease();
  const events: string[] = [];
  const terms: LeadershipTerm[] = [];
  const electors = Array.from({ length: n }, (_, i) => {
    const id = `e${i}`;
    const base = lease.client();
    // Per-elector partition: this elector alone cannot reach the API.
    const lock: LeaseClient = {
      get: () => (opts.down?.(id) ? Promise.reject(new ApiStatusError(503, {})) : base.get()),
      create: (r) => (opts.down?.(id) ? Promise.reject(new ApiStatusError(503, {})) : base.create(r)),
      update: (r, rv) => (opts.down?.(id) ? Promise.reject(new ApiStatusError(503, {})) : base.update(r, rv)),
      describe: base.describe,
    };
    return new LeaderElector({
      lock,
      identity: id,
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      clock,
      random: () => 0.5,
      onStartedLeading: async (term) => {
        events.push(`${id} started`);
        terms.push(term);
        await (opts.work ?? ((_id, t) => untilEnded(t)))(id, term);
        events.push(`${id} work done`);
      },
      onStoppedLeading: () => void events.push(`${id} stopped`),
    });
  });
  const ctls = electors.map(() => new AbortController());
  const leaders = () => electors.filter((e) => e.isLeader()).map((_, i) => i);
  // Advances in small steps, asserting there is never more than one leader.
  const run = async (ms: number) => {
    for (let t = 0; t < ms; t += 100) {
      await clock.advance(100);
      expect(electors.filter((e) => e.isLeader()).length).toBeLessThanOrEqual(1);
    }
  };
  return { clock, lease, events, terms, electors, ctls, leaders, run };
}

describe('LeaderElector (in-memory lease, fake clock)', () => {
  it('exactly one of three becomes leader and keeps renewing', async () => {
    const c = cluster(3);
    c.electors.forEach((e, i) => void e.start(c.ctls[i]!.signal));
    await c.run(60_000);
    const leaders = c.electors.filter((e) => e.isLeader());
    expect(leaders).toHaveLength(1);
    const leaderId = `e${c.electors.findIndex((e) => e.isLeader())}`;
    expect(c.lease.record?.holderIdentity).toBe(leaderId);
    for (const e of c.electors) expect(e.leader()).toBe(leaderId);
    expect(c.lease.record?.leaseTransitions).toBe(0);
    for (const e of c.electors) await e.stop();
    expect(c.clock.pendingTimers()).toBe(0);
  });

  it('graceful stop releases the lease and another takes over within about a retry period', async () => {
    const c = cluster(2);
    c.electors[0]!.start(c.ctls[0]!.signal);
    await c.run(1000);
    c.electors[1]!.start(c.ctls[1]!.signal);
    await c.run(5000);
    expect(c.electors[0]!.isLeader()).toBe(true);
    const t0 = c.clock.now();
    await c.electors[0]!.stop();
    expect(c.lease.record?.holderIdentity).toBe('');
    while (!c.electors[1]!.isLeader()) await c.run(100);
    expect(c.clock.now() - t0).toBeLessThanOrEqual(2_500);
    expect(c.lease.record?.leaseTransitions).toBe(1);
    expect(c.events).toEqual(['e0 started', 'e0 work done', 'e0 stopped', 'e1 started']);
    await c.electors[1]!.stop();
  });

  it('a partitioned leader steps down after renewDeadline; another takes over only after leaseDuration', async () => {
    let partitioned = '';
    const c = cluster(2, { down: (id) => id === partitioned });
    c.electors[0]!.start(c.ctls[0]!.signal);
    await c.run(1000);
    c.electors[1]!.start(c.ctls[1]!.signal);
    await c.run(4000);
    expect(c.electors[0]!.isLeader()).toBe(true);
    const lastRenew = c.lease.writes[c.lease.writes.length - 1]!.renewTime;
    partitioned = 'e0';
    let stepDown = 0;
    let takeOver = 0;
    for (let t = 0; t < 30_000; t += 100) {
      await c.run(100);
      if (!stepDown && !c.electors[0]!.isLeader()) stepDown = c.clock.now();
      if (!takeOver && c.electors[1]!.isLeader()) takeOver = c.clock.now();
    }
    expect(stepDown - lastRenew).toBeLessThanOrEqual(10_000 + 2_100);
    expect(takeOver - lastRenew).toBeGreaterThanOrEqual(15_000);
    expect(takeOver).toBeGreaterThan(stepDown);
    expect(c.lease.record?.holderIdentity).toBe('e1');
    expect(c.lease.record?.leaseTransitions).toBe(1);
    for (const e of c.electors) await e.stop();
  });

  it('releases the lease only after the ended term has fully stopped', async () => {
    // The term needs 3 s after its end to finish in-flight work.
    const c = cluster(2, {
      work: async (_id, term) => {
        await untilEnded(term);
        await new Promise<void>((r) => c.clock.setTimeout(r, 3_000));
      },
    });
    c.electors[0]!.start(c.ctls[0]!.signal);
    await c.run(1000);
    c.electors[1]!.start(c.ctls[1]!.signal);
    await c.run(3000);
    const stopping = c.electors[0]!.stop();
    await c.run(2_900);
    // Still held by e0 while its term's work runs: nobody else may act yet.
    expect(c.lease.record?.holderIdentity).toBe('e0');
    expect(c.electors[1]!.isLeader()).toBe(false);
    await c.run(200);
    await stopping;
    expect(c.lease.record?.holderIdentity).toBe('');
    while (!c.electors[1]!.isLeader()) await c.run(100);
    expect(c.events.slice(0, 4)).toEqual(['e0 started', 'e0 work done', 'e0 stopped', 'e1 started']);
    const last = c.electors[1]!.stop();
    await c.run(3_500);
    await last;
  });

  it('never starts a second term while the first is still stopping (partition longer than the lease, then heal)', async () => {
    let partitioned = '';
    let firstDone: () => void = () => {};
    const c = cluster(1, {
      down: (id) => id === partitioned,
      // The first term's in-flight work outlives the partition; later terms end normally.
      work: async (_id, term) => {
        if (c.terms.length === 1) await new Promise<void>((r) => (firstDone = r));
        else await untilEnded(term);
      },
    });
    c.electors[0]!.start(c.ctls[0]!.signal);
    await c.run(3000);
    expect(c.terms).toHaveLength(1);
    partitioned = 'e0';
    await c.run(20_000); // past renewDeadline and leaseDuration
    expect(c.terms[0]!.signal.aborted).toBe(true);
    partitioned = ''; // healed, but term 1 is still busy
    await c.run(20_000);
    expect(c.terms).toHaveLength(1);
    expect(c.electors[0]!.isLeader()).toBe(true); // a term is held until its work stops
    firstDone();
    await c.run(20_000);
    expect(c.terms).toHaveLength(2);
    expect(c.terms[1]!.signal.aborted).toBe(false);
    expect(c.events.indexOf('e0 work done')).toBeLessThan(c.events.lastIndexOf('e0 started'));
    await c.electors[0]!.stop();
  });

  it("gives leadership up when the term's work fails, and a standby takes over at once", async () => {
    const c = cluster(2, {
      work: async (id, term) => {
        if (id === 'e0') throw new Error('boom');
        await untilEnded(term);
      },
    });
    c.electors[0]!.start(c.ctls[0]!.signal);
    await c.run(500);
    c.electors[1]!.start(c.ctls[1]!.signal);
    await c.run(5_000);
    expect(c.electors[1]!.isLeader()).toBe(true);
    expect(c.electors[0]!.isLeader()).toBe(false);
    expect(c.lease.record?.holderIdentity).toBe('e1');
    for (const e of c.electors) await e.stop();
  });

  it('fences writes: none after the term ended, none past what the last renewal guarantees', async () => {
    let partitioned = '';
    const c = cluster(1, { down: (id) => id === partitioned });
    c.electors[0]!.start(c.ctls[0]!.signal);
    await c.run(3000);
    const term = c.terms[0]!;
    // Renewed every 2 s: a write may take up to leaseDuration - margin after the renewal began.
    expect(term.writeBudgetMs()).toBeGreaterThan(10_000);
    expect(term.writeBudgetMs()).toBeLessThanOrEqual(13_000);
    partitioned = 'e0'; // the last renewal began at 2 s
    await c.run(8_000);
    expect(term.signal.aborted).toBe(false);
    expect(term.writeBudgetMs()).toBeLessThanOrEqual(2_000 + 13_000 - 11_000);
    await c.run(2_000); // renewDeadline (2 s + 10 s) passed: the term ended
    expect(term.signal.aborted).toBe(true);
    expect(() => term.writeBudgetMs()).toThrow(/term ended/);
    await c.electors[0]!.stop();
  });

  it('hands the last written resourceVersion to the next leader, and withholds the release when a write is unknown', async () => {
    const c = cluster(2);
    c.electors[0]!.start(c.ctls[0]!.signal);
    await c.run(1000);
    c.electors[1]!.start(c.ctls[1]!.signal);
    c.terms[0]!.wrote('41');
    c.terms[0]!.wrote('40');
    await c.run(2500);
    expect(c.lease.record?.writtenThrough).toBe('41'); // renewals carry it
    c.terms[0]!.wrote('57');
    await c.electors[0]!.stop();
    expect(c.lease.record).toMatchObject({ holderIdentity: '', writtenThrough: '57' });
    while (!c.electors[1]!.isLeader()) await c.run(100);
    expect(c.terms[1]!.previousWrittenThrough).toBe('57');
    expect(c.terms[1]!.writtenThrough()).toBe('57'); // handed on even before it writes
    c.terms[1]!.outcomeUnknown();
    await c.electors[1]!.stop();
    expect(c.lease.record?.holderIdentity).toBe('e1'); // not released: it expires instead
  });

  it('times the lease on the monotonic clock: wall-clock steps change neither takeover nor step-down', async () => {
    let partitioned = '';
    const c = cluster(2, { down: (id) => id === partitioned });
    c.electors[0]!.start(c.ctls[0]!.signal);
    await c.run(1000);
    c.electors[1]!.start(c.ctls[1]!.signal);
    await c.run(3000);
    c.clock.stepWall(3_600_000); // NTP jumps an hour ahead...
    await c.run(5000);
    expect(c.electors[0]!.isLeader()).toBe(true); // ...the standby does not see an expired lease
    expect(c.electors[1]!.isLeader()).toBe(false);
    expect(c.lease.record!.renewTime).toBeGreaterThan(c.clock.now() + 3_000_000); // record times are wall time
    c.clock.stepWall(-7_200_000); // ...and two hours back
    partitioned = 'e0';
    let stepDown = 0;
    for (let t = 0; t < 12_100 && !stepDown; t += 100) {
      await c.run(100);
      if (!c.electors[0]!.isLeader()) stepDown = t;
    }
    expect(stepDown).toBeGreaterThan(0);
    expect(stepDown).toBeLessThanOrEqual(12_100);
    for (const e of c.electors) await e.stop();
  });

  it('reports new leaders to onNewLeader', async () => {
    const clock = new FakeClock();
    const lease = new MemoryLease();
    lease.record = rec('someone-else', { leaseDurationSeconds: 15 });
    const seenLeaders: string[] = [];
    const e = new LeaderElector({
      lock: lease.client(),
      identity: 'me',
      clock,
      random: () => 0,
      onNewLeader: (id) => seenLeaders.push(id),
    });
    e.start(new AbortController().signal);
    await clock.advance(20_000);
    expect(seenLeaders).toEqual(['someone-else', 'me']);
    await e.stop();
    await flushPromises();
  });

  it('rejects inconsistent timings', () => {
    expect(
      () =>
        new LeaderElector({
          lock: new MemoryLease().client(),
          identity: 'x',
          leaseDurationMs: 5000,
          renewDeadlineMs: 6000,
        }),
    ).toThrow(/renewDeadline/);
  });
});
