// ControllerApp with every edge faked (ControllerIO): collections that list and watch from
// memory, a Lease with optimistic concurrency that can be cut off, a writer that applies
// conditional merge patches and can be held mid-request, and a FakeClock driving the
// election, queue and informers. What is tested is the wiring: terms, readiness, retries.
import type { KubernetesObject, V1Service } from '@kubernetes/client-node';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { IPAddressPool } from '../../api/crd-types.js';
import { objectKey } from '../../api/object-key.js';
import { ControllerApp, type ControllerIO, PERMANENT_RETRY_MS } from '../../controller/app.js';
import { parseOptions } from '../../controller/options.js';
import type { Writer } from '../../controller/reconciler.js';
import { FakeClock } from '../../kube/clock.js';
import type { ListerWatcher, WatchEvent } from '../../kube/informer.js';
import type { LeaseClient, LeaseRecord } from '../../kube/leader-election.js';
import { ApiStatusError } from '../../kube/rest.js';
import type { LeadershipTerm } from '../../kube/term.js';

type Obj = KubernetesObject & { status?: unknown };
const clone = <T>(o: T): T => structuredClone(o);

/** One etcd: a revision counter shared by every collection. */
class Store {
  rv = 100;
  collection<T extends Obj>(): Collection<T> {
    return new Collection<T>(this);
  }
}

class Collection<T extends Obj> implements ListerWatcher<T> {
  readonly objects = new Map<string, T>();
  private readonly watchers = new Set<(ev: WatchEvent<T>) => void>();
  constructor(private readonly store: Store) {}

  async list(_signal: AbortSignal, each?: (o: T) => T) {
    const items = [...this.objects.values()].map((o) => (each ? each(clone(o)) : clone(o)));
    return { items, resourceVersion: String(this.store.rv) };
  }

  watch(_rv: string, signal: AbortSignal, onEvent: (ev: WatchEvent<T>) => void): Promise<void> {
    return new Promise((resolve) => {
      this.watchers.add(onEvent);
      signal.addEventListener('abort', () => {
        this.watchers.delete(onEvent);
        resolve();
      });
    });
  }

  /** Stores a new version and tells the watchers. */
  put(obj: T): T {
    const stored = clone(obj);
    stored.metadata = { ...stored.metadata, resourceVersion: String(++this.store.rv) };
    const type = this.objects.has(objectKey(stored)) ? 'MODIFIED' : 'ADDED';
    this.objects.set(objectKey(stored), stored);
    for (const w of this.watchers) w({ type, object: clone(stored) });
    return clone(stored);
  }

  /** Deletes an object and tells the watchers. */
  remove(key: string): void {
    const obj = this.objects.get(key);
    if (!obj) return;
    this.objects.delete(key);
    ++this.store.rv;
    for (const w of this.watchers) w({ type: 'DELETED', object: clone(obj) });
  }

  /** Advances the revision without an event this watch would see (writes elsewhere). */
  bump(n: number): void {
    this.store.rv += n;
  }
}

class MemoryLease implements LeaseClient {
  record?: LeaseRecord;
  rv = 0;
  down = false;
  async get() {
    if (this.down) throw new ApiStatusError(503, {});
    return this.record ? { record: { ...this.record }, resourceVersion: String(this.rv) } : undefined;
  }
  async create(r: LeaseRecord) {
    if (this.down) throw new ApiStatusError(503, {});
    if (this.record) throw new ApiStatusError(409, {});
    this.record = { ...r };
    return String(++this.rv);
  }
  async update(r: LeaseRecord, rv: string) {
    if (this.down) throw new ApiStatusError(503, {});
    if (String(this.rv) !== rv) throw new ApiStatusError(409, {});
    this.record = { ...r };
    return String(++this.rv);
  }
  describe() {
    return 'mem/lease';
  }
}

class Cluster {
  readonly clock = new FakeClock();
  readonly store = new Store();
  readonly services = this.store.collection<V1Service & KubernetesObject>();
  readonly pools = this.store.collection<IPAddressPool & KubernetesObject>();
  readonly namespaces = this.store.collection<KubernetesObject>();
  readonly lease = new MemoryLease();
  readonly events: { reason: string; message: string }[] = [];
  readonly writes: string[] = []; // "ns/name ip,ip" per status write that landed
  /** Called before each write lands; a test may hold it or make it throw. */
  beforeWrite: (key: string) => Promise<void> = async () => {};

  io(): ControllerIO {
    const writer = (term: LeadershipTerm): Writer => ({
      patchServiceStatus: async (svc, body) => {
        term.writeBudgetMs();
        const key = objectKey(svc);
        await this.beforeWrite(key);
        const cur = this.services.objects.get(key) as V1Service;
        if (cur.metadata?.resourceVersion !== svc.metadata?.resourceVersion)
          throw new ApiStatusError(409, {});
        const next = clone(cur);
        if (body.status) next.status = { loadBalancer: { ingress: body.status.loadBalancer.ingress ?? [] } };
        const ann = { ...(next.metadata?.annotations ?? {}) };
        for (const [k, v] of Object.entries(body.metadata?.annotations ?? {})) {
          if (v === null) delete ann[k];
          else ann[k] = v;
        }
        next.metadata = { ...next.metadata, annotations: ann };
        const out = this.services.put(next as V1Service & KubernetesObject);
        term.wrote(out.metadata?.resourceVersion);
        this.writes.push(`${key} ${(out.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).join(',')}`);
        return out;
      },
      patchServiceMetadata: async (svc) => svc,
      patchPoolStatus: async (pool, status) =>
        this.pools.put({ ...pool, status } as IPAddressPool & KubernetesObject),
    });
    return {
      services: this.services,
      pools: this.pools,
      namespaces: this.namespaces,
      lease: this.lease,
      writer,
      events: {
        create: async (_ns, ev) => {
          this.events.push({ reason: ev.reason ?? '', message: ev.message ?? '' });
          return ev;
        },
        patch: async (_ns, _name, ev) => ev as never,
      },
      clock: this.clock,
      schedule: () => ({ stop() {} }),
    };
  }

  addPool(cidr: string): void {
    this.pools.put({
      apiVersion: 'heraldlb.io/v1beta1',
      kind: 'IPAddressPool',
      metadata: { name: 'lan' },
      spec: { addresses: [cidr] },
    } as IPAddressPool & KubernetesObject);
  }

  addService(name: string, status?: string[]): void {
    this.services.put({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        namespace: 'web',
        name,
        creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, this.services.objects.size)),
      },
      spec: { type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP' }] },
      status: status ? { loadBalancer: { ingress: status.map((ip) => ({ ip })) } } : undefined,
    } as V1Service & KubernetesObject);
  }

  ingress(name: string): string[] {
    const s = this.services.objects.get(`web/${name}`) as V1Service | undefined;
    return (s?.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? '');
  }

  start(identity = 'a') {
    const opts = parseOptions([`--identity=${identity}`, '--metrics-addr=', '--lease-namespace=x'], {});
    if (opts === 'help') throw new Error('help');
    const app = new ControllerApp(opts, this.io(), pino({ level: 'silent' }));
    const ctl = new AbortController();
    const done = app.run(ctl.signal);
    const stop = async () => {
      ctl.abort();
      return this.settle(done);
    };
    return { app, stop };
  }

  /** Advances fake time in small steps until `p` settles (bounded). */
  async settle<T>(p: Promise<T>, maxMs = 120_000): Promise<T> {
    let settled = false;
    const out = p.finally(() => {
      settled = true;
    });
    for (let t = 0; !settled && t < maxMs; t += 100) await this.clock.advance(100);
    if (!settled) throw new Error(`did not settle within ${maxMs} ms of fake time`);
    return out;
  }
}

const gauge = (app: ControllerApp) => app.metrics.leader.get();

describe('ControllerApp', () => {
  it('leads, serves, and reports readiness and heraldlb_leader from a live term', async () => {
    const c = new Cluster();
    c.addPool('192.0.2.200/30');
    const { app, stop } = c.start();
    expect(app.readiness()).toBe('caches not synced');
    await c.clock.advance(1000);
    expect(app.readiness()).toBe(true);
    expect(app.handlingEvents()).toBe(true);
    expect(gauge(app)).toBe(1);
    c.addService('s1');
    await c.clock.advance(1000);
    expect(c.ingress('s1')).toEqual(['192.0.2.200']);
    await stop();
    expect(gauge(app)).toBe(0);
    expect(c.lease.record?.holderIdentity).toBe(''); // released after the term stopped
    expect(c.lease.record?.writtenThrough).not.toBe('');
  });

  // Issue 8 item 2: a partition longer than the lease heals while a write of the old term is
  // still in flight. The old term's end must not clear the new term.
  it('a late end of the old term never clears the next one: after the heal, events are handled', async () => {
    const c = new Cluster();
    c.addPool('192.0.2.200/30');
    const { app, stop } = c.start();
    await c.clock.advance(1000);
    let release: () => void = () => {};
    c.beforeWrite = (key) =>
      key === 'web/held' ? new Promise<void>((r) => (release = r)) : Promise.resolve();
    c.addService('held');
    await c.clock.advance(500); // its write is now in flight, held
    c.lease.down = true; // partition
    await c.clock.advance(20_000); // past renewDeadline and leaseDuration
    expect(app.handlingEvents()).toBe(false);
    expect(gauge(app)).toBe(0);
    expect(app.readiness()).not.toBe(true);
    c.lease.down = false; // healed; the old request is still in flight
    await c.clock.advance(5_000);
    release(); // ... and now it returns
    c.beforeWrite = async () => {};
    await c.clock.advance(20_000);
    // A live term handles events again: readiness, the gauge and a new Service agree.
    expect(app.handlingEvents()).toBe(true);
    expect(gauge(app)).toBe(1);
    expect(app.readiness()).toBe(true);
    c.addService('after-heal');
    await c.clock.advance(2000);
    expect(c.ingress('after-heal')).toHaveLength(1);
    await stop();
  });

  // Issue 8 item 1 (the in-memory half; test/integration/controller-terms.test.ts is the real one).
  it("a new term allocates nothing until its cache has seen the previous leader's last write", async () => {
    const c = new Cluster();
    c.addPool('192.0.2.200/30');
    c.addService('old'); // the previous leader gave it .200, but our cache has not seen it yet
    c.addService('new');
    c.lease.record = {
      holderIdentity: '',
      leaseDurationSeconds: 1,
      acquireTime: 0,
      renewTime: 0,
      leaseTransitions: 1,
      writtenThrough: String(c.store.rv + 5),
    };
    const { app, stop } = c.start();
    await c.clock.advance(3000);
    expect(app.readiness()).toBe('leading, but no term is handling events yet');
    expect(c.writes).toEqual([]);
    // The watch delivers the previous leader's write.
    c.services.bump(4);
    const old = clone(c.services.objects.get('web/old') as V1Service & KubernetesObject);
    old.status = { loadBalancer: { ingress: [{ ip: '192.0.2.200' }] } };
    c.services.put(old);
    await c.clock.advance(1000);
    expect(app.readiness()).toBe(true);
    expect(c.ingress('old')).toEqual(['192.0.2.200']);
    expect(c.ingress('new')).toEqual(['192.0.2.201']);
    await stop();
  });

  // Issue 8 item 1, deterministic: the stopped leader has a write in flight that gives a freed
  // IP to one Service; a successor acting before it lands would give the same IP to another.
  it('a stopped leader hands over only after its in-flight write landed: no IP twice', async () => {
    const c = new Cluster();
    c.addPool('192.0.2.200/32');
    const a = c.start('a');
    await c.clock.advance(1000);
    const b = c.start('b');
    await c.clock.advance(1000);
    expect(c.lease.record?.holderIdentity).toBe('a');
    c.addService('s-a');
    c.addService('s-b'); // pending: the pool has one address
    await c.clock.advance(1000);
    expect(c.ingress('s-a')).toEqual(['192.0.2.200']);
    let land: () => void = () => {};
    c.beforeWrite = (key) => (key === 'web/s-c' ? new Promise<void>((r) => (land = r)) : Promise.resolve());
    // s-a goes; a gives its IP to s-c (created meanwhile); that write is in flight.
    c.services.objects.delete('web/s-a');
    c.services.put({ ...(c.services.objects.get('web/s-b') as V1Service & KubernetesObject) }); // a touch, no change
    const gone = clone(c.services.objects.get('web/s-b') as V1Service & KubernetesObject);
    gone.metadata = { ...gone.metadata, name: 's-a', resourceVersion: undefined };
    for (const w of (
      c.services as unknown as { watchers: Set<(e: WatchEvent<V1Service & KubernetesObject>) => void> }
    ).watchers)
      w({ type: 'DELETED', object: clone(gone) });
    c.addService('s-c');
    await c.clock.advance(300);
    const stopping = a.stop(); // SIGTERM while the write is in flight
    await c.clock.advance(3_000);
    // The Lease is not handed over while a's term still has a write in flight.
    expect(c.lease.record?.holderIdentity).toBe('a');
    land();
    await c.settle(stopping);
    c.beforeWrite = async () => {};
    await c.clock.advance(5_000);
    expect(b.app.handlingEvents()).toBe(true);
    const holders = ['s-b', 's-c'].filter((n) => c.ingress(n).includes('192.0.2.200'));
    expect(holders).toEqual(['s-c']);
    await b.stop();
  });

  it('retries a write the API refuses for good slowly, after one Warning naming the message', async () => {
    const c = new Cluster();
    c.addPool('192.0.2.200/30');
    let attempts = 0;
    c.beforeWrite = async () => {
      attempts++;
      throw new ApiStatusError(422, { message: 'Service "s" is invalid: status.loadBalancer: nope' });
    };
    const { app, stop } = c.start();
    await c.clock.advance(1000);
    c.addService('s');
    await c.clock.advance(600_000);
    // Not every 200 ms for ten minutes (3,000 tries): the backoff grows, then the slow floor.
    expect(attempts).toBeGreaterThan(3);
    expect(attempts).toBeLessThanOrEqual(5 + 600_000 / PERMANENT_RETRY_MS);
    const warnings = c.events.filter((e) => e.reason === 'WriteFailed');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toMatch(/422.*status.loadBalancer: nope/);
    expect(app.metrics.reconcileErrors.get({ kind: 'svc' })).toBe(attempts);
    await stop();
  });

  it('a 409 is a normal event: decided again on the newer object, not counted as an error', async () => {
    const c = new Cluster();
    c.addPool('192.0.2.200/30');
    let first = true;
    c.beforeWrite = async () => {
      if (!first) return;
      first = false;
      throw new ApiStatusError(409, {});
    };
    const { app, stop } = c.start();
    await c.clock.advance(1000);
    c.addService('s');
    await c.clock.advance(2000);
    expect(c.ingress('s')).toEqual(['192.0.2.200']);
    expect(app.metrics.conflicts.get({ kind: 'svc' })).toBe(1);
    expect(app.metrics.reconcileErrors.get({ kind: 'svc' })).toBe(0);
    await stop();
  });
});
