import type { CoreV1Event } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../kube/clock.js';
import { type EventApi, EventRecorder } from '../../kube/events.js';
import { ApiStatusError } from '../../kube/rest.js';

class FakeSink implements EventApi {
  // "ns/name" -> event
  events = new Map<string, CoreV1Event>();
  fail?: Error;
  calls: string[] = [];
  async create(ns: string, ev: CoreV1Event) {
    this.calls.push('create');
    if (this.fail) throw this.fail;
    this.events.set(`${ns}/${ev.metadata?.name}`, structuredClone(ev));
    return ev;
  }
  async patch(ns: string, name: string, p: object) {
    this.calls.push('patch');
    if (this.fail) throw this.fail;
    const ev = this.events.get(`${ns}/${name}`);
    if (!ev) throw new ApiStatusError(404, {});
    Object.assign(ev, p);
    return ev;
  }
}

const svc = { kind: 'Service', apiVersion: 'v1', namespace: 'media', name: 'web', uid: 'u1' };
const pool = { kind: 'IPAddressPool', apiVersion: 'heraldlb.io/v1beta1', name: 'lan', uid: 'u2' };

function setup() {
  const clock = new FakeClock();
  const sink = new FakeSink();
  const rec = new EventRecorder({ sink, component: 'heraldlb-controller', instance: 'pod-1', clock });
  return { clock, sink, rec };
}

describe('EventRecorder', () => {
  it('creates an Event with type, reason, message and reporting fields', async () => {
    const { sink, rec } = setup();
    rec.record(svc, 'Normal', 'IPAllocated', 'Assigned IP 203.0.113.5 from pool lan');
    await rec.flush();
    const [ev] = [...sink.events.values()];
    expect(ev).toMatchObject({
      type: 'Normal',
      reason: 'IPAllocated',
      message: 'Assigned IP 203.0.113.5 from pool lan',
      count: 1,
      involvedObject: svc,
      reportingComponent: 'heraldlb-controller',
      reportingInstance: 'pod-1',
      source: { component: 'heraldlb-controller', host: 'pod-1' },
      metadata: { namespace: 'media' },
    });
  });

  it('aggregates repeats within the window into one Event, and starts anew after it', async () => {
    const { clock, sink, rec } = setup();
    for (let i = 0; i < 3; i++) rec.record(svc, 'Warning', 'PoolExhausted', 'no free IP in lan');
    await rec.flush();
    expect(sink.events.size).toBe(1);
    expect([...sink.events.values()][0]?.count).toBe(3);
    rec.record(svc, 'Warning', 'PoolExhausted', 'different message');
    await rec.flush();
    expect(sink.events.size).toBe(2);
    await clock.advance(11 * 60_000);
    rec.record(svc, 'Warning', 'PoolExhausted', 'no free IP in lan');
    await rec.flush();
    expect(sink.events.size).toBe(3);
  });

  it('cluster-scoped objects get their Events in "default"', async () => {
    const { sink, rec } = setup();
    rec.record(pool, 'Warning', 'Conflict', 'overlaps pool other');
    await rec.flush();
    expect([...sink.events.keys()][0]).toMatch(/^default\/lan\./);
  });

  it('re-creates when the aggregated Event has expired', async () => {
    const { sink, rec } = setup();
    rec.record(svc, 'Normal', 'R', 'm');
    await rec.flush();
    sink.events.clear();
    rec.record(svc, 'Normal', 'R', 'm');
    await rec.flush();
    expect(sink.calls).toEqual(['create', 'patch', 'create']);
    expect(sink.events.size).toBe(1);
  });

  it('never throws or blocks when the API fails, and drops beyond maxPending', async () => {
    const { sink, rec } = setup();
    sink.fail = new ApiStatusError(503, {});
    expect(() => rec.record(svc, 'Normal', 'R', 'm')).not.toThrow();
    await rec.flush();
    const small = new EventRecorder({ sink, component: 'c', maxPending: 2 });
    for (let i = 0; i < 5; i++) small.record(svc, 'Normal', 'R', `m${i}`);
    await small.flush();
    expect(sink.calls.filter((c) => c === 'create')).toHaveLength(1 + 2);
  });

  it('limits Normal Events to the configured rate and burst, never Warnings, and reports drops', async () => {
    const clock = new FakeClock();
    const sink = new FakeSink();
    const drops: string[] = [];
    const rec = new EventRecorder({
      sink,
      component: 'c',
      clock,
      normalPerSecond: 2,
      normalBurst: 3,
      onDrop: (type, why) => drops.push(`${type}:${why}`),
    });
    const obj = (i: number) => ({ ...svc, name: `s${i}`, uid: `u${i}` });
    for (let i = 0; i < 10; i++) rec.record(obj(i), 'Normal', 'IPAllocated', 'x');
    for (let i = 0; i < 10; i++) rec.record(obj(i), 'Warning', 'AllocationFailed', 'y');
    await rec.flush();
    const normal = () => [...sink.events.values()].filter((e) => e.type === 'Normal').length;
    expect(normal()).toBe(3); // the burst
    expect([...sink.events.values()].filter((e) => e.type === 'Warning')).toHaveLength(10);
    expect(drops).toEqual(Array(7).fill('Normal:rate'));
    await clock.advance(1000); // one second refills two tokens
    for (let i = 10; i < 15; i++) rec.record(obj(i), 'Normal', 'IPAllocated', 'x');
    await rec.flush();
    expect(normal()).toBe(5);
  });
  it('keeps at most maxInFlight writes on the wire and still writes every Event, in order per key', async () => {
    let now = 0;
    let peak = 0;
    const started: string[] = [];
    const release: (() => void)[] = [];
    const sink: EventApi = {
      create: (_ns, ev) => {
        now++;
        peak = Math.max(peak, now);
        started.push(ev.involvedObject.name ?? '');
        return new Promise((resolve) =>
          release.push(() => {
            now--;
            resolve(ev);
          }),
        );
      },
      patch: () => Promise.reject(new Error('not expected')),
    };
    const rec = new EventRecorder({ sink, component: 'c', maxInFlight: 3 });
    for (let i = 0; i < 20; i++) rec.record({ ...svc, name: `s${i}`, uid: `u${i}` }, 'Normal', 'R', 'm');
    const done = rec.flush();
    // Release whatever is on the wire until all 20 went out; bounded by the count.
    for (let round = 0; round < 40; round++) {
      await new Promise((r) => setImmediate(r));
      expect(now).toBeLessThanOrEqual(3);
      for (const f of release.splice(0)) f();
      if (started.length === 20 && now === 0) break;
    }
    await done;
    expect(peak).toBe(3);
    expect(started).toEqual(Array.from({ length: 20 }, (_, i) => `s${i}`)); // FIFO
  });
});
