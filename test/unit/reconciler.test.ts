import type { V1Service } from '@kubernetes/client-node';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { IPAddressPool } from '../../api/crd-types.js';
import { type Decision, Reconciler } from '../../controller/reconciler.js';
import { classifyApiError } from '../../kube/errors.js';
import { ApiStatusError } from '../../kube/rest.js';

function mergeAnnotations(s: V1Service, patch: Record<string, string | null>): void {
  const ann = { ...(s.metadata?.annotations ?? {}) };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete ann[k];
    else ann[k] = v;
  }
  s.metadata = { ...s.metadata, annotations: ann };
}

// A tiny in-memory API: objects in maps, writes applied as merge patches with a growing
// resourceVersion, Events and queue keys recorded. Only the reconciler's I/O edge is fake.
class FakeApi {
  services = new Map<string, V1Service>();
  pools = new Map<string, IPAddressPool>();
  namespaces = new Map<string, Record<string, string>>();
  writes: string[] = [];
  events: { key: string; type: string; reason: string; message: string }[] = [];
  queue: string[] = [];
  decisions: Decision[] = [];
  dropsStatusMetadata = false;
  /** service key -> an older copy the cache still serves (a watch that lags) */
  stale = new Map<string, V1Service>();
  outOfPoolCounts: number[] = [];
  pendingCount = 0;
  private rv = 1;

  svc(
    ns: string,
    name: string,
    spec: Partial<V1Service['spec']> = {},
    annotations: Record<string, string> = {},
  ) {
    const s: V1Service = {
      metadata: {
        namespace: ns,
        name,
        annotations,
        resourceVersion: String(this.rv++),
        creationTimestamp: new Date(this.rv * 1000),
      },
      spec: { type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP' }], ...spec },
    };
    this.services.set(`${ns}/${name}`, s);
    return s;
  }

  pool(name: string, addresses: string[], extra: Partial<IPAddressPool['spec']> = {}) {
    this.pools.set(name, {
      metadata: {
        name,
        creationTimestamp: new Date(this.rv * 1000).toISOString(),
        resourceVersion: String(this.rv++),
      },
      spec: { addresses, ...extra },
    });
  }

  ingress(key: string): string[] {
    return (this.services.get(key)?.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? '');
  }

  reconciler(loadBalancerClass?: string) {
    const patch = (key: string, base: V1Service, mutate: (s: V1Service) => void): V1Service => {
      const cur = structuredClone(this.services.get(key) as V1Service);
      // As the API server: a write naming an older resourceVersion is refused.
      const want = base.metadata?.resourceVersion;
      if (want !== undefined && want !== cur.metadata?.resourceVersion) throw new ApiStatusError(409, {});
      mutate(cur);
      cur.metadata = { ...cur.metadata, resourceVersion: String(this.rv++) };
      this.services.set(key, cur);
      return structuredClone(cur);
    };
    const keyOf = (s: V1Service) => `${s.metadata?.namespace}/${s.metadata?.name}`;
    return new Reconciler({
      caches: {
        service: (k) => structuredClone(this.stale.get(k) ?? this.services.get(k)),
        services: () => [...this.services.entries()].map(([k, s]) => structuredClone(this.stale.get(k) ?? s)),
        pools: () => [...this.pools.values()].map((p) => structuredClone(p)),
        namespaceLabels: (ns) => this.namespaces.get(ns) ?? {},
      },
      writer: {
        patchServiceStatus: async (s, body) => {
          this.writes.push(`status ${keyOf(s)}`);
          return patch(keyOf(s), s, (c) => {
            if (body.status) {
              const ing = body.status.loadBalancer.ingress;
              c.status = ing ? { loadBalancer: { ingress: ing } } : { loadBalancer: {} };
            }
            // Kubernetes' Service status strategy keeps metadata edits; `dropsStatusMetadata`
            // plays an API server that resets them, to prove the fallback write.
            if (body.metadata && !this.dropsStatusMetadata) mergeAnnotations(c, body.metadata.annotations);
          });
        },
        patchServiceMetadata: async (s, body) => {
          this.writes.push(`meta ${keyOf(s)}`);
          return patch(keyOf(s), s, (c) => mergeAnnotations(c, body.metadata?.annotations ?? {}));
        },
        patchPoolStatus: async (p, status) => {
          this.writes.push(`pool ${p.metadata.name}`);
          const cur = { ...(this.pools.get(p.metadata.name as string) as IPAddressPool), status };
          cur.metadata = { ...cur.metadata, resourceVersion: String(this.rv++) };
          this.pools.set(p.metadata.name as string, cur);
          return structuredClone(cur);
        },
      },
      events: {
        service: (s, type, reason, message) => this.events.push({ key: keyOf(s), type, reason, message }),
        pool: (p, type, reason, message) =>
          this.events.push({ key: `pool/${p.metadata.name}`, type, reason, message }),
      },
      observer: {
        allocationFailed() {},
        poolStats() {},
        poolGone() {},
        outOfPool: (n) => this.outOfPoolCounts.push(n),
        pending: (n) => {
          this.pendingCount = n;
        },
      },
      enqueue: (k) => this.queue.push(k),
      decide: (d) => this.decisions.push(d),
      now: () => new Date('2026-11-22T00:00:00Z'),
      loadBalancerClass,
    });
  }
}

/** Runs queued keys until the queue is empty (bounded: a loop here is a bug). */
async function drain(api: FakeApi, r: Reconciler): Promise<void> {
  for (let i = 0; api.queue.length > 0; i++) {
    if (i > 10_000) throw new Error('queue never drained');
    const key = api.queue.shift() as string;
    await r.handle(key);
  }
}

async function start(api: FakeApi, cls?: string): Promise<Reconciler> {
  const r = api.reconciler(cls);
  api.queue.push(...r.load());
  await drain(api, r);
  return r;
}

describe('reconciler', () => {
  // Kubernetes keeps metadata sent with a Service status write: one write per Service. An API
  // server that dropped it gets the annotation in a second, metadata-only write.
  it.each([
    ['keeps metadata on status writes', false, ['status web/a']],
    ['drops metadata from status writes', true, ['status web/a', 'meta web/a']],
  ])(
    'API server that %s: status + annotation + Event, then a second pass writes nothing',
    async (_, drops, writes) => {
      const api = new FakeApi();
      api.dropsStatusMetadata = drops;
      api.pool('lan', ['192.0.2.200-192.0.2.201']);
      api.svc('web', 'a');
      const r = await start(api);
      expect(api.ingress('web/a')).toEqual(['192.0.2.200']);
      const svc = api.services.get('web/a');
      expect(svc?.metadata?.annotations?.['heraldlb.io/ip-allocated-from-pool']).toBe('lan');
      expect(svc?.status?.loadBalancer?.ingress?.[0]?.ipMode).toBe('VIP');
      expect(api.events).toContainEqual(expect.objectContaining({ key: 'web/a', reason: 'IPAllocated' }));
      expect(api.pools.get('lan')?.status).toMatchObject({ assignedIPv4: 1, availableIPv4: 1 });
      expect(api.writes.filter((w) => w.endsWith('web/a'))).toEqual(writes);

      const before = api.writes.length;
      api.queue.push('svc/web/a', 'pools');
      await drain(api, r);
      expect(api.writes.length).toBe(before);
    },
  );

  it('reports exhaustion by Event, then serves the pending Service when an IP is freed', async () => {
    const api = new FakeApi();
    api.pool('lan', ['192.0.2.200/32']);
    api.svc('web', 'a');
    api.svc('web', 'b');
    const r = await start(api);
    expect(api.ingress('web/a')).toEqual(['192.0.2.200']);
    expect(api.ingress('web/b')).toEqual([]);
    expect(api.events).toContainEqual(expect.objectContaining({ key: 'web/b', reason: 'AllocationFailed' }));
    expect(api.events.find((e) => e.key === 'web/b')?.message).toMatch(/^PoolExhausted/);
    expect(api.pendingCount).toBe(1);

    api.services.delete('web/a');
    api.queue.push('svc/web/a');
    await drain(api, r);
    expect(api.ingress('web/b')).toEqual(['192.0.2.200']);
    expect(api.pendingCount).toBe(0);
  });

  it('keeps an IP whose pool is deleted, warns once, and never moves it', async () => {
    const api = new FakeApi();
    api.pool('old', ['192.0.2.200/31']);
    api.svc('web', 'a');
    const r = await start(api);
    api.pools.delete('old');
    api.pool('new', ['203.0.113.10/32']);
    api.queue.push('pools');
    await drain(api, r);
    api.queue.push('pools');
    await drain(api, r);
    expect(api.ingress('web/a')).toEqual(['192.0.2.200']);
    expect(api.events.filter((e) => e.reason === 'IPRetained')).toHaveLength(1);
  });

  it('removes only what it wrote when a Service leaves LoadBalancer, and never touches other classes', async () => {
    const api = new FakeApi();
    api.pool('lan', ['192.0.2.200/30']);
    api.svc('web', 'a');
    const other = api.svc('web', 'other', { loadBalancerClass: 'example.com/other' });
    other.status = { loadBalancer: { ingress: [{ ip: '198.51.100.77' }] } };
    const r = await start(api);
    expect(api.ingress('web/other')).toEqual(['198.51.100.77']);
    expect(api.writes.some((w) => w.endsWith('web/other'))).toBe(false);

    const a = api.services.get('web/a') as V1Service;
    api.services.set('web/a', {
      ...a,
      spec: { ...a.spec, type: 'ClusterIP' },
      metadata: { ...a.metadata, resourceVersion: '9999' },
    });
    api.queue.push('svc/web/a');
    await drain(api, r);
    expect(api.ingress('web/a')).toEqual([]);
    expect(
      api.services.get('web/a')?.metadata?.annotations?.['heraldlb.io/ip-allocated-from-pool'],
    ).toBeUndefined();
    expect(api.events).toContainEqual(expect.objectContaining({ key: 'web/a', reason: 'IPReleased' }));
  });

  it('a new term restores every held IP before allocating anything new', async () => {
    const api = new FakeApi();
    api.pool('lan', ['192.0.2.200/30']);
    api.svc('web', 'aaa-new'); // queued first: would take .200 if restore did not come first
    const held = api.svc('web', 'held');
    held.status = { loadBalancer: { ingress: [{ ip: '192.0.2.200' }] } };
    await start(api);
    expect(api.ingress('web/held')).toEqual(['192.0.2.200']);
    expect(api.ingress('web/aaa-new')).toEqual(['192.0.2.201']);
  });

  it('keeps its invariants whatever order the keys arrive in', async () => {
    const names = ['a', 'b', 'c', 'd', 'e'];
    const reference = async (order: string[]) => {
      const api = new FakeApi();
      api.pool('lan', ['192.0.2.200/30']);
      // Created in a fixed order; only the queue order varies.
      for (const n of names)
        api.svc('web', n, {}, n === 'c' ? { 'heraldlb.io/loadBalancerIPs': '192.0.2.202' } : {});
      const r = api.reconciler();
      r.load();
      api.queue.push('pools');
      await drain(api, r);
      for (const n of order) api.queue.push(`svc/web/${n}`);
      await drain(api, r);
      return Object.fromEntries(names.map((n) => [n, api.ingress(`web/${n}`)]));
    };
    const inPool = new Set(['192.0.2.200', '192.0.2.201', '192.0.2.202', '192.0.2.203']);
    await fc.assert(
      fc.asyncProperty(fc.shuffledSubarray(names, { minLength: names.length }), async (order) => {
        const got = await reference(order);
        // A requested IP is not reserved against automatic picks (c may lose .202 to an
        // earlier key), so the promise per order is: no IP twice, all in the pool, the pool
        // fully used, and c holds nothing but what it asked for.
        const all = Object.values(got).flat();
        expect(new Set(all).size).toBe(all.length);
        expect(all.every((ip) => inPool.has(ip))).toBe(true);
        expect(all).toHaveLength(4);
        expect(got.c?.every((ip) => ip === '192.0.2.202')).toBe(true);
        // And replaying the same order gives the same answer.
        expect(await reference(order)).toEqual(got);
      }),
      { numRuns: 25 },
    );
  });

  it('writes only on the version it decided from: a stale decision gets a 409 and overwrites nothing', async () => {
    const api = new FakeApi();
    api.pool('lan', ['192.0.2.200/30']);
    const old = api.svc('web', 'a');
    const r = await start(api);
    expect(api.ingress('web/a')).toEqual(['192.0.2.200']);
    // Someone else writes a newer status; our cache still serves the version before it.
    const cur = api.services.get('web/a') as V1Service;
    api.stale.set('web/a', structuredClone(old));
    api.services.set('web/a', {
      ...cur,
      status: { loadBalancer: { ingress: [{ ip: '192.0.2.203' }] } },
      metadata: { ...cur.metadata, resourceVersion: '5000' },
    });
    const err = await r.handle('svc/web/a').catch((e) => e);
    expect(classifyApiError(err)).toBe('conflict');
    expect(api.ingress('web/a')).toEqual(['192.0.2.203']);
    // Once the cache catches up, the newer status is what counts (and is adopted).
    api.stale.clear();
    await r.handle('svc/web/a');
    expect(api.ingress('web/a')).toEqual(['192.0.2.203']);
  });

  it('a Service being deleted keeps its IP until it is gone (finalizers still run)', async () => {
    const api = new FakeApi();
    api.pool('lan', ['192.0.2.200/31']);
    api.svc('web', 'a');
    const r = await start(api);
    expect(api.ingress('web/a')).toEqual(['192.0.2.200']);
    const a = api.services.get('web/a') as V1Service;
    a.metadata = { ...a.metadata, deletionTimestamp: new Date(), finalizers: ['example.com/cleanup'] };
    const writes = api.writes.length;
    api.queue.push('svc/web/a');
    api.svc('web', 'b');
    api.queue.push('svc/web/b');
    await drain(api, r);
    expect(api.ingress('web/a')).toEqual(['192.0.2.200']); // untouched
    expect(api.writes.slice(writes).some((w) => w.endsWith('web/a'))).toBe(false);
    expect(api.ingress('web/b')).toEqual(['192.0.2.201']); // not the IP a still shows
    api.services.delete('web/a');
    api.svc('web', 'c');
    api.queue.push('svc/web/a', 'svc/web/c');
    await drain(api, r);
    expect(api.ingress('web/c')).toEqual(['192.0.2.200']);
  });

  it('a new term keeps the IP of a Service that is being deleted reserved', async () => {
    const api = new FakeApi();
    api.pool('lan', ['192.0.2.200/31']);
    api.svc('web', 'aaa-new');
    const going = api.svc('web', 'going');
    going.status = { loadBalancer: { ingress: [{ ip: '192.0.2.200' }] } };
    going.metadata = { ...going.metadata, deletionTimestamp: new Date(), finalizers: ['x/y'] };
    await start(api);
    expect(api.ingress('web/aaa-new')).toEqual(['192.0.2.201']);
  });

  it('FamilyNotServed is reported when it changes, not on every resync', async () => {
    const api = new FakeApi();
    api.pool('v4', ['192.0.2.200/31']);
    api.svc('web', 'dual', { ipFamilyPolicy: 'PreferDualStack', ipFamilies: ['IPv4', 'IPv6'] });
    const r = await start(api);
    for (let i = 0; i < 3; i++) {
      api.queue.push('svc/web/dual', 'pools');
      await drain(api, r);
    }
    expect(api.events.filter((e) => e.reason === 'FamilyNotServed')).toHaveLength(1);
  });

  it('deleting a pool under many Services reports one count per change, not a series per Service', async () => {
    const api = new FakeApi();
    api.pool('old', ['192.0.2.0/24']);
    for (let i = 0; i < 200; i++) api.svc('web', `s${i}`);
    const r = await start(api);
    api.pools.delete('old');
    api.queue.push('pools');
    await drain(api, r);
    expect(api.outOfPoolCounts).toHaveLength(200);
    expect(api.outOfPoolCounts.at(-1)).toBe(200);
    expect(api.events.filter((e) => e.reason === 'IPRetained')).toHaveLength(200);
  });

  it('a write the API refuses for good is told once per message, on the object', async () => {
    const api = new FakeApi();
    api.pool('lan', ['192.0.2.200/31']);
    api.svc('web', 'a');
    const r = await start(api);
    r.writeFailed('svc/web/a', 'HTTP 422: spec.x: Invalid value');
    r.writeFailed('svc/web/a', 'HTTP 422: spec.x: Invalid value');
    r.writeFailed('pool/lan', 'HTTP 403: forbidden');
    expect(api.events.filter((e) => e.reason === 'WriteFailed')).toEqual([
      expect.objectContaining({
        key: 'web/a',
        type: 'Warning',
        message: expect.stringMatching(/422: spec.x/),
      }),
      expect.objectContaining({ key: 'pool/lan', type: 'Warning' }),
    ]);
    r.succeeded('svc/web/a');
    r.writeFailed('svc/web/a', 'HTTP 422: spec.x: Invalid value');
    expect(api.events.filter((e) => e.reason === 'WriteFailed')).toHaveLength(3);
  });
});
