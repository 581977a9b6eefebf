// Reusing the last replan's model and plan (speaker/reuse.ts, translate.ts, plan.ts): the result
// must always equal a fresh computation, and be the very same objects where nothing changed.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { IpAnnouncement } from '../../speaker/model.js';
import { planOwnership } from '../../speaker/plan.js';
import { sameAnnouncement, sameNodeFacts } from '../../speaker/reuse.js';
import { EXCLUDE_LABEL, parseSpeakerModel, type SpeakerObjects } from '../../speaker/translate.js';
import { deepFreeze, l2ad, node, objects, pool, slice, svc } from './speaker-fixtures.js';

// Small random clusters whose parts collide often: shared IPs, Local Services with endpoints
// on some nodes, advertisements selecting nodes and pools by label, a missing pool.
const rawCluster = fc.record({
  nodes: fc.uniqueArray(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 5 }),
  unready: fc.array(fc.integer({ min: 1, max: 6 }), { maxLength: 3 }),
  zoneB: fc.array(fc.integer({ min: 1, max: 6 }), { maxLength: 3 }),
  excluded: fc.array(fc.integer({ min: 1, max: 6 }), { maxLength: 2 }),
  services: fc.array(
    fc.record({
      ip: fc.integer({ min: 1, max: 8 }),
      v6: fc.boolean(),
      local: fc.boolean(),
      pool: fc.constantFrom('lan', 'dmz', 'gone'),
      endpoints: fc.array(fc.integer({ min: 1, max: 6 }), { maxLength: 3 }),
    }),
    { maxLength: 10 },
  ),
  adZoneB: fc.boolean(),
  adIfaces: fc.boolean(),
});
type Raw = typeof rawCluster extends fc.Arbitrary<infer R> ? R : never;

function toObjects(r: Raw): SpeakerObjects {
  const name = (i: number) => `n${i}`;
  return objects({
    nodes: r.nodes.map((i) =>
      node(name(i), {
        ready: !r.unready.includes(i),
        labels: {
          zone: r.zoneB.includes(i) ? 'b' : 'a',
          ...(r.excluded.includes(i) ? { [EXCLUDE_LABEL]: '' } : {}),
        },
        ips: [`198.51.100.${i}`],
      }),
    ),
    pools: [pool('lan', ['192.0.2.0/24', '2001:db8::/64']), pool('dmz', ['203.0.113.0/24'], { t: 'd' })],
    l2ads: [
      l2ad('all', r.adIfaces ? { interfaces: ['eth0'] } : {}),
      l2ad('zone-b', {
        ipAddressPoolSelectors: [{ matchLabels: { t: 'd' } }],
        nodeSelectors: r.adZoneB ? [{ matchLabels: { zone: 'b' } }] : [],
      }),
    ],
    services: r.services.map((s, i) =>
      svc(`ns/s${i}`, [s.v6 ? `2001:db8::${s.ip}` : `192.0.2.${s.ip}`], { local: s.local, pool: s.pool }),
    ),
    endpointSlices: r.services.map((s, i) =>
      slice(
        `ns/s${i}`,
        s.endpoints.map((e) => [name(e)]),
      ),
    ),
  });
}

const clusterObjects = rawCluster.map(toObjects);

// Two clusters that differ in a few places (a Service here, a node's readiness there), as
// consecutive replans do: unrelated pairs would share almost nothing worth reusing.
const clusterPair = fc
  .tuple(
    rawCluster,
    rawCluster,
    fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
    fc.array(fc.constantFrom('same', 'other', 'pool', 'local', 'endpoints'), {
      minLength: 10,
      maxLength: 10,
    }),
  )
  .map(([a, b, take, edit]): [SpeakerObjects, SpeakerObjects] => {
    const mixed: Raw = {
      nodes: take[0] ? b.nodes : a.nodes,
      unready: take[1] ? b.unready : a.unready,
      zoneB: take[2] ? b.zoneB : a.zoneB,
      excluded: take[5] ? b.excluded : a.excluded,
      adZoneB: take[3] ? b.adZoneB : a.adZoneB,
      adIfaces: take[4] ? b.adIfaces : a.adIfaces,
      services: a.services.map((s, i) => {
        const o = b.services[i];
        const e = edit[i] ?? 'same';
        if (!o || e === 'same') return s;
        if (e === 'other') return o;
        return { ...s, [e]: o[e] }; // one field of the Service changed
      }),
    };
    return [toObjects(a), toObjects(mixed)];
  });

const liveOf = (o: SpeakerObjects, drop: number) =>
  new Set(o.nodes.map((n) => n.metadata!.name!).filter((_, i) => i !== drop));

describe('parseSpeakerModel with the previous model', () => {
  it('always equals a fresh translation, whatever the previous model was', () => {
    fc.assert(
      fc.property(fc.oneof(clusterPair, fc.tuple(clusterObjects, clusterObjects)), ([a, b]) => {
        const prev = parseSpeakerModel(deepFreeze(a)).model;
        const got = parseSpeakerModel(deepFreeze(b), {}, prev);
        // Fresh objects for the expected side: the per-Service readings are cached by object.
        const want = parseSpeakerModel(structuredClone(b));
        expect(got).toEqual(want);
        expect([...got.model.nodes.keys()]).toEqual([...want.model.nodes.keys()]);
      }),
      { numRuns: 300 },
    );
  });

  it('hands back the previous model for the same objects, or for equal copies of them', () => {
    fc.assert(
      fc.property(clusterObjects, (o) => {
        const first = parseSpeakerModel(o);
        expect(parseSpeakerModel({ ...o, services: [...o.services] }, {}, first.model)).toEqual(first);
        expect(parseSpeakerModel({ ...o }, {}, first.model).model).toBe(first.model);
        const copies = structuredClone(o); // every object replaced, as after a relist
        expect(parseSpeakerModel(copies, {}, first.model).model).toBe(first.model);
      }),
      { numRuns: 200 },
    );
  });

  it('keeps every announcement that did not change when one Service does', () => {
    const o = objects({
      nodes: [node('n1'), node('n2')],
      services: [svc('ns/a', ['192.0.2.1']), svc('ns/b', ['192.0.2.2']), svc('ns/c', ['2001:db8::3'])],
    });
    const prev = parseSpeakerModel(o).model;
    const services = [...o.services];
    services[1] = svc('ns/b', ['192.0.2.20']);
    const next = parseSpeakerModel({ ...o, services }, {}, prev).model;
    expect(next).not.toBe(prev);
    expect(next.nodes).toBe(prev.nodes);
    expect(next.ips.map((a) => a.ip)).toEqual(['192.0.2.1', '192.0.2.20', '2001:db8::3']);
    expect(next.ips[0]).toBe(prev.ips[0]);
    expect(next.ips[2]).toBe(prev.ips[2]);
  });

  it('reads a Service again under another load-balancer class', () => {
    const o = objects({ nodes: [node('n1')], services: [svc('ns/a', ['192.0.2.1'], { cls: 'x.io/lb' })] });
    const none = parseSpeakerModel(o).model;
    expect(none.ips).toEqual([]);
    expect(parseSpeakerModel(o, { loadBalancerClass: 'x.io/lb' }, none).model.ips.map((a) => a.ip)).toEqual([
      '192.0.2.1',
    ]);
  });
});

describe('planOwnership with the previous plan', () => {
  it('always equals a fresh plan, whatever the previous plan was', () => {
    fc.assert(
      fc.property(clusterPair, fc.nat(6), fc.nat(6), ([a, b], da, db) => {
        const ma = parseSpeakerModel(a).model;
        const mb = parseSpeakerModel(b, {}, ma).model;
        const prev = planOwnership(ma, liveOf(a, da), new Set(['n1']));
        const held = new Set(db % 2 ? ['n2'] : []);
        // Entries in order (a Map's toEqual ignores it); the expected side from fresh objects.
        expect([...planOwnership(mb, liveOf(b, db), held, undefined, prev)]).toEqual([
          ...planOwnership(parseSpeakerModel(structuredClone(b)).model, liveOf(b, db), held),
        ]);
      }),
      { numRuns: 300 },
    );
  });

  it('hands back the previous plan for the same model and the same nodes in the sets', () => {
    const o = objects({ nodes: [node('n1'), node('n2')], services: [svc('ns/a', ['192.0.2.1'])] });
    const m = parseSpeakerModel(o).model;
    const plan = planOwnership(m, new Set(['n1', 'n2']), new Set());
    expect(planOwnership(m, new Set(['n2', 'n1']), new Set(), undefined, plan)).toBe(plan);
    const oneDead = planOwnership(m, new Set(['n2']), new Set(), undefined, plan);
    expect(oneDead).not.toBe(plan);
    expect(oneDead.get('192.0.2.1')?.owner).toBe('n2');
  });

  it('keeps the entries of IPs a change does not touch', () => {
    // zone-b's pool is announced only from n3: n1 dying changes nothing for it.
    const o = objects({
      nodes: [node('n1', { labels: { z: 'a' } }), node('n2', { labels: { z: 'a' } }), node('n3')],
      pools: [pool('lan', ['192.0.2.0/24']), pool('dmz', ['203.0.113.0/24'])],
      l2ads: [
        l2ad('a', { ipAddressPools: ['lan'], nodeSelectors: [{ matchLabels: { z: 'a' } }] }),
        l2ad('b', {
          ipAddressPools: ['dmz'],
          nodeSelectors: [{ matchExpressions: [{ key: 'z', operator: 'DoesNotExist' }] }],
        }),
      ],
      services: [svc('ns/a', ['192.0.2.1']), svc('ns/b', ['203.0.113.1'], { pool: 'dmz' })],
    });
    const m = parseSpeakerModel(o).model;
    const plan = planOwnership(m, new Set(['n1', 'n2', 'n3']), new Set());
    const next = planOwnership(m, new Set(['n2', 'n3']), new Set(), undefined, plan);
    expect(next.get('203.0.113.1')).toBe(plan.get('203.0.113.1'));
    expect(next.get('192.0.2.1')).not.toBe(plan.get('192.0.2.1'));
    expect(next.get('192.0.2.1')?.eligible).toEqual(['n2']);
  });
});

const base: IpAnnouncement = {
  ip: '192.0.2.1',
  family: 4,
  services: ['ns/a'],
  pool: 'lan',
  selectedNodes: ['n1', 'n2'],
  interfaces: undefined,
  ads: [{ name: 'all', nodes: ['n1', 'n2'], interfaces: undefined }],
};

describe('sameAnnouncement', () => {
  it.each<[string, Partial<IpAnnouncement>]>([
    ['ip', { ip: '192.0.2.2' }],
    ['pool', { pool: 'dmz' }],
    ['services', { services: ['ns/a', 'ns/b'] }],
    ['selected nodes', { selectedNodes: ['n1'] }],
    ['no advertisement', { selectedNodes: 'none', ads: [] }],
    ['interfaces', { interfaces: ['eth0'] }],
    ['local nodes', { localNodes: ['n1'] }],
    ['an advertisement’s nodes', { ads: [{ name: 'all', nodes: ['n1'], interfaces: undefined }] }],
    ['an advertisement’s interfaces', { ads: [{ name: 'all', nodes: ['n1', 'n2'], interfaces: ['eth1'] }] }],
    ['another advertisement', { ads: [{ name: 'other', nodes: ['n1', 'n2'], interfaces: undefined }] }],
  ])('tells a different %s', (_, change) => {
    expect(sameAnnouncement(base, { ...base, ...change })).toBe(false);
    expect(sameAnnouncement({ ...base, ...change }, base)).toBe(false);
  });

  it('takes equal copies as the same', () => {
    expect(sameAnnouncement(base, structuredClone(base))).toBe(true);
  });
});

describe('sameNodeFacts', () => {
  const facts = {
    name: 'n1',
    ready: true,
    networkUnavailable: false,
    excluded: false,
    labels: { z: 'a' },
    internalIPs: ['198.51.100.1'],
  };
  it.each<[string, object]>([
    ['readiness', { ready: false }],
    ['network', { networkUnavailable: true }],
    ['exclusion', { excluded: true }],
    ['a label value', { labels: { z: 'b' } }],
    ['one more label', { labels: { z: 'a', y: '' } }],
    ['addresses', { internalIPs: [] }],
  ])('tells a different %s', (_, change) => {
    expect(sameNodeFacts(facts, { ...facts, ...change })).toBe(false);
  });
  it('takes equal copies as the same', () => {
    expect(sameNodeFacts(facts, structuredClone(facts))).toBe(true);
  });
});
