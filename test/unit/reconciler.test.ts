import type { V1Service } from '@kubernetes/client-node';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { IPAddressPool } from '../../api/crd-types.js';
import { type Decision, Reconciler } from '../../controller/reconciler.js';

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
    const patch = (key: string, mutate: (s: V1Service) => void): V1Service => {
      const cur = structuredClone(this.services.get(key) as V1Service);
      mutate(cur);
      cur.metadata = { ...cur.metadata, resourceVersion: String(this.rv++) };
      this.services.set(key, cur);
      return structuredClone(cur);
    };
    const keyOf = (s: V1Service) => `${s.metadata?.namespace}/${s.metadata?.name}`;
    return new Reconciler({
      caches: {
        service: (k) => structuredClone(this.services.get(k)),
        services: () => [...this.services.values()].map((s) => structuredClone(s)),
        pools: () => [...this.pools.values()].map((p) => structuredClone(p)),
        namespaceLabels: (ns) => this.namespaces.get(ns) ?? {},
      },
      writer: {
        patchServiceStatus: async (s, body) => {
          this.writes.push(`status ${keyOf(s)}`);
          return patch(keyOf(s), (c) => {
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
          return patch(keyOf(s), (c) => mergeAnnotations(c, body.metadata?.annotations ?? {}));
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
      observer: { allocationFailed() {}, poolStats() {}, poolGone() {}, outOfPool() {} },
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

    api.services.delete('web/a');
    api.queue.push('svc/web/a');
    await drain(api, r);
    expect(api.ingress('web/b')).toEqual(['192.0.2.200']);
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
});
