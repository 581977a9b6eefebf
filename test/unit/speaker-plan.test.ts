import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chooseOwner, RankCache, rank } from '../../speaker/election.js';
import { eligibleNodes, ineligibleReason } from '../../speaker/eligibility.js';
import type { SpeakerModel } from '../../speaker/model.js';
import { type Ownership, ownedBy, ownerChanges, planOwnership } from '../../speaker/plan.js';
import { parseSpeakerModel } from '../../speaker/translate.js';
import { deepFreeze, l2ad, model, node, objects, slice, svc } from './speaker-fixtures.js';

const owners = (plan: ReadonlyMap<string, Ownership>) =>
  Object.fromEntries([...plan].map(([ip, o]) => [ip, o.owner ?? null]));

const NONE: ReadonlySet<string> = new Set();
const set = (...xs: string[]): ReadonlySet<string> => new Set(xs);

describe('rank', () => {
  it('is the first 8 bytes of SHA-256("<node>#<ip>"), as sha256sum prints them', () => {
    // printf '%s' 'node-a#192.0.2.10' | sha256sum | cut -c1-16
    expect(rank('node-a', '192.0.2.10')).toBe(0xd4b84135501a6622n);
    expect(rank('node-b', '192.0.2.10')).toBe(0x6e9fb809c116d8f2n);
    expect(rank('node-c', '192.0.2.10')).toBe(0x39f2d7a8f2401847n);
    expect(rank('node-a', '2001:db8::10')).toBe(0x5525059d790ad6c9n);
  });

  it('spreads IPs evenly: each of 4 nodes wins 20-30 % of 2,000 IPs', () => {
    const nodes = ['node-1', 'node-2', 'node-3', 'node-4'];
    const wins = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      const ip = `10.${(i >> 8) & 255}.${i & 255}.1`;
      const o = chooseOwner(ip, nodes, NONE)!;
      wins.set(o, (wins.get(o) ?? 0) + 1);
    }
    for (const n of nodes) expect(wins.get(n)).toBeGreaterThan(400);
    for (const n of nodes) expect(wins.get(n)).toBeLessThan(600);
  });

  it('RankCache gives the same ranks and forgets IPs it is told to', () => {
    const c = new RankCache();
    expect(c.rank('node-a', '192.0.2.10')).toBe(rank('node-a', '192.0.2.10'));
    c.rank('node-a', '192.0.2.11');
    expect(c.size).toBe(2);
    c.retain(['192.0.2.11']);
    expect(c.size).toBe(1);
  });
});

describe('chooseOwner', () => {
  const ip = '192.0.2.10'; // ranks: node-c < node-b < node-a
  it.each([
    [['node-a', 'node-b', 'node-c'], [], 'node-c'],
    [['node-c', 'node-a', 'node-b'], [], 'node-c'],
    [['node-a', 'node-b'], [], 'node-b'],
    [['node-a', 'node-b', 'node-c'], ['node-c'], 'node-b'],
    [['node-a', 'node-b', 'node-c'], ['node-c', 'node-b'], 'node-a'],
    // Everybody in hold-down (cold start): rank decides among all.
    [['node-a', 'node-b', 'node-c'], ['node-a', 'node-b', 'node-c'], 'node-c'],
    // Only the held-down node is eligible: failover to it is not delayed.
    [['node-c'], ['node-c'], 'node-c'],
    [[], [], undefined],
  ])('eligible %j, hold-down %j -> %s', (eligible, held, want) => {
    expect(chooseOwner(ip, eligible, new Set(held))).toBe(want);
  });

  it('breaks rank ties by node name', () => {
    expect(chooseOwner(ip, ['b', 'c', 'a'], NONE, () => 7n)).toBe('a');
  });
});

describe('eligibleNodes', () => {
  const m = model({
    nodes: [
      node('ok'),
      node('not-ready', { ready: false }),
      node('no-net', { networkUnavailable: true }),
      node('excluded', { labels: { 'node.kubernetes.io/exclude-from-external-load-balancers': 'true' } }),
      node('dead'),
      node('no-endpoint'),
      node('unselected', { labels: { role: 'storage' } }),
    ],
    l2ads: [
      l2ad('lan', { nodeSelectors: [{ matchExpressions: [{ key: 'role', operator: 'DoesNotExist' }] }] }),
    ],
    services: [svc('a/local', ['192.0.2.1'], { local: true }), svc('a/cluster', ['192.0.2.2'])],
    endpointSlices: [
      slice('a/local', [['ok'], ['not-ready'], ['no-net'], ['excluded'], ['dead'], ['unselected']]),
    ],
  });
  const live = set('ok', 'not-ready', 'no-net', 'excluded', 'no-endpoint', 'unselected', 'ghost');
  const [local, cluster] = m.ips;

  it('applies rules 1-4 (ARCHITECTURE §2)', () => {
    expect(eligibleNodes(local!, m.nodes, live)).toEqual(['ok']);
    expect(eligibleNodes(cluster!, m.nodes, live)).toEqual(['no-endpoint', 'ok']);
  });

  it.each([
    ['ok', undefined],
    ['unselected', 'NotSelected'],
    ['not-ready', 'NotReady'],
    ['no-net', 'NetworkUnavailable'],
    ['excluded', 'Excluded'],
    ['dead', 'NoLiveSpeaker'],
    ['no-endpoint', 'NoLocalEndpoint'],
  ])('says why %s is not eligible: %s', (n, why) => {
    expect(ineligibleReason(local!, n, m.nodes.get(n), live)).toBe(why);
  });

  it('a node without a Node object is never eligible', () => {
    const ann = { ...cluster!, selectedNodes: ['ghost'] };
    expect(eligibleNodes(ann, m.nodes, live)).toEqual([]);
    expect(ineligibleReason(ann, 'ghost', undefined, live)).toBe('UnknownNode');
  });

  it('no advertisement: nobody', () => {
    const ann = { ...cluster!, selectedNodes: 'none' as const };
    expect(eligibleNodes(ann, m.nodes, live)).toEqual([]);
    expect(ineligibleReason(ann, 'ok', m.nodes.get('ok'), live)).toBe('NoAdvertisement');
  });
});

// 24 IPs over three nodes; the expected owners are whatever rank says, checked for what moves.
const IPS = Array.from({ length: 24 }, (_, i) => `192.0.2.${i + 1}`);
const NODES3 = ['n1', 'n2', 'n3'];

function clusterModel(nodeNames: readonly string[], extra: Parameters<typeof objects>[0] = {}): SpeakerModel {
  return model({
    nodes: nodeNames.map((n) => node(n)),
    services: IPS.map((ip, i) => svc(`ns/s${i}`, [ip])),
    ...extra,
  });
}

describe('planOwnership scenarios', () => {
  it('a node leaving moves only the IPs it held; coming back through hold-down moves them back', () => {
    const m = deepFreeze(clusterModel(NODES3));
    const all = planOwnership(m, set(...NODES3), NONE);
    const before = owners(all);
    const held = ownedBy(all, 'n2');
    expect(held.length).toBeGreaterThan(0);
    expect(new Set(Object.values(before))).toEqual(new Set(NODES3));

    // n2 dies: exactly its IPs move, to n1 or n3.
    const without = owners(planOwnership(m, set('n1', 'n3'), NONE));
    for (const ip of IPS) {
      if (held.includes(ip)) expect(['n1', 'n3']).toContain(without[ip]);
      else expect(without[ip]).toBe(before[ip]);
    }
    // n2 is back but in hold-down: nothing moves.
    expect(owners(planOwnership(m, set(...NODES3), set('n2')))).toEqual(without);
    // Hold-down over: n2 wins back exactly what it held.
    const back = planOwnership(m, set(...NODES3), NONE);
    expect(owners(back)).toEqual(before);
    expect(
      ownerChanges(planOwnership(m, set('n1', 'n3'), NONE), back)
        .map((c) => c.ip)
        .sort(),
    ).toEqual([...held].sort());
  });

  it('a node joining takes only IPs it wins', () => {
    const before = owners(planOwnership(clusterModel(NODES3), set(...NODES3), NONE));
    const after = owners(planOwnership(clusterModel([...NODES3, 'n4']), set(...NODES3, 'n4'), NONE));
    const moved = IPS.filter((ip) => after[ip] !== before[ip]);
    expect(moved.length).toBeGreaterThan(0);
    for (const ip of moved) expect(after[ip]).toBe('n4');
  });

  it('a joining node still in hold-down takes nothing', () => {
    const before = owners(planOwnership(clusterModel(NODES3), set(...NODES3), NONE));
    expect(owners(planOwnership(clusterModel([...NODES3, 'n4']), set(...NODES3, 'n4'), set('n4')))).toEqual(
      before,
    );
  });

  it.each([
    ['NotReady', node('n2', { ready: false })],
    ['NetworkUnavailable', node('n2', { networkUnavailable: true })],
    [
      'exclusion label',
      node('n2', { labels: { 'node.kubernetes.io/exclude-from-external-load-balancers': '' } }),
    ],
  ])('a node turning %s loses all its IPs, and only those move', (_why, n2) => {
    const before = planOwnership(clusterModel(NODES3), set(...NODES3), NONE);
    const m = model({
      nodes: [node('n1'), n2, node('n3')],
      services: IPS.map((ip, i) => svc(`ns/s${i}`, [ip])),
    });
    const after = planOwnership(m, set(...NODES3), NONE);
    expect(ownedBy(after, 'n2')).toEqual([]);
    const moved = ownerChanges(before, after);
    expect(moved.map((c) => c.ip).sort()).toEqual([...ownedBy(before, 'n2')].sort());
    for (const c of moved) expect(c.from).toBe('n2');
  });

  it('nodeSelectors confine IPs to the selected nodes', () => {
    const m = model({
      nodes: [node('n1', { labels: { edge: 'yes' } }), node('n2'), node('n3', { labels: { edge: 'yes' } })],
      services: IPS.map((ip, i) => svc(`ns/s${i}`, [ip])),
      l2ads: [l2ad('edge', { nodeSelectors: [{ matchLabels: { edge: 'yes' } }] })],
    });
    const plan = planOwnership(m, set(...NODES3), NONE);
    for (const o of plan.values()) {
      expect(o.eligible).toEqual(['n1', 'n3']);
      expect(['n1', 'n3']).toContain(o.owner);
    }
  });

  it('externalTrafficPolicy Local follows the endpoints', () => {
    const objs = (eps: [string][]) => ({
      nodes: NODES3.map((n) => node(n)),
      services: [svc('a/app', ['192.0.2.1'], { local: true })],
      endpointSlices: [slice('a/app', eps)],
    });
    const live = set(...NODES3);
    expect(planOwnership(model(objs([['n3']])), live, NONE).get('192.0.2.1')?.owner).toBe('n3');
    expect(planOwnership(model(objs([])), live, NONE).get('192.0.2.1')).toMatchObject({
      owner: undefined,
      eligible: [],
    });
    const two = planOwnership(model(objs([['n1'], ['n2']])), live, NONE).get('192.0.2.1')!;
    expect(two.eligible).toEqual(['n1', 'n2']);
    expect(two.owner).toBe(chooseOwner('192.0.2.1', ['n1', 'n2'], NONE));
  });

  it('a shared IP has one entry and one owner; an IP without an advertisement none', () => {
    const m = model({
      nodes: NODES3.map((n) => node(n)),
      services: [
        svc('a/tcp', ['192.0.2.1']),
        svc('a/udp', ['192.0.2.1']),
        svc('b/x', ['198.51.100.1'], { pool: 'dmz' }),
      ],
      l2ads: [l2ad('lan', { ipAddressPools: ['lan'] })],
    });
    const plan = planOwnership(m, set(...NODES3), NONE);
    expect([...plan.keys()]).toEqual(['192.0.2.1', '198.51.100.1']);
    expect(plan.get('192.0.2.1')?.ann.services).toEqual(['a/tcp', 'a/udp']);
    expect(plan.get('192.0.2.1')?.owner).toBeDefined();
    expect(plan.get('198.51.100.1')).toMatchObject({ owner: undefined, eligible: [] });
  });

  it('ownerChanges reports IPs gone from the plan', () => {
    const a = planOwnership(clusterModel(NODES3), set(...NODES3), NONE);
    const b = planOwnership(model({ nodes: NODES3.map((n) => node(n)) }), set(...NODES3), NONE);
    expect(ownerChanges(a, b)).toHaveLength(IPS.length);
    expect(ownerChanges(a, b).every((c) => c.to === undefined && c.from !== undefined)).toBe(true);
  });
});

describe('planOwnership is order-independent', () => {
  it('same objects and sets in any order -> the same plan', () => {
    const objs = objects({
      nodes: ['n1', 'n2', 'n3', 'n4'].map((n) => node(n, { labels: { z: n < 'n3' ? 'a' : 'b' } })),
      services: [
        ...IPS.slice(0, 10).map((ip, i) => svc(`ns/s${i}`, [ip], { local: i % 3 === 0 })),
        svc('ns/shared', [IPS[0]!]),
        svc('ns/v6', ['2001:db8::5']),
      ],
      l2ads: [
        l2ad('a', { nodeSelectors: [{ matchLabels: { z: 'a' } }] }),
        l2ad('b', { interfaces: ['eth0'] }),
      ],
      endpointSlices: [
        slice('ns/s0', [['n1'], ['n4']]),
        slice('ns/s3', [['n2']]),
        slice('ns/s6', [['n3'], ['n2', false]]),
      ],
    });
    const live = ['n1', 'n2', 'n4'];
    const held = ['n4'];
    const want = planOwnership(parseSpeakerModel(objs).model, new Set(live), new Set(held));
    const perm = <T>(xs: readonly T[]) =>
      fc.shuffledSubarray([...xs], { minLength: xs.length, maxLength: xs.length });
    fc.assert(
      fc.property(
        fc.record({
          nodes: perm(objs.nodes),
          services: perm(objs.services),
          l2ads: perm(objs.l2ads),
          endpointSlices: perm(objs.endpointSlices),
          live: perm(live),
        }),
        (o) => {
          const m = parseSpeakerModel({ ...objs, ...o }).model;
          expect(planOwnership(m, new Set(o.live), new Set(held))).toEqual(want);
        },
      ),
      { numRuns: 200 },
    );
  });
});

// Random clusters: up to 8 nodes (some unready, some with a label the advertisement excludes),
// up to 30 IPs, random live and hold-down sets.
const cluster = fc
  .record({
    nodes: fc.uniqueArray(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 8 }),
    unready: fc.array(fc.integer({ min: 1, max: 12 })),
    unselected: fc.array(fc.integer({ min: 1, max: 12 })),
    ips: fc.uniqueArray(fc.integer({ min: 1, max: 254 }), { minLength: 1, maxLength: 30 }),
    dead: fc.array(fc.integer({ min: 1, max: 12 })),
    held: fc.array(fc.integer({ min: 1, max: 12 })),
  })
  .map((r) => {
    const name = (i: number) => `node-${i}`;
    const m = model({
      nodes: r.nodes.map((i) =>
        node(name(i), {
          ready: !r.unready.includes(i),
          labels: r.unselected.includes(i) ? { skip: '1' } : {},
        }),
      ),
      services: r.ips.map((i) => svc(`ns/s${i}`, [`192.0.2.${i}`])),
      l2ads: [
        l2ad('lan', { nodeSelectors: [{ matchExpressions: [{ key: 'skip', operator: 'DoesNotExist' }] }] }),
      ],
    });
    const live = new Set(r.nodes.filter((i) => !r.dead.includes(i)).map(name));
    return { model: deepFreeze(m), live, held: new Set(r.held.map(name)) };
  });

describe('planOwnership properties', () => {
  it('every IP has exactly one owner among its eligible nodes, or none when nobody is eligible', () => {
    fc.assert(
      fc.property(cluster, ({ model: m, live, held }) => {
        const plan = planOwnership(m, live, held);
        expect(plan.size).toBe(m.ips.length);
        for (const o of plan.values()) {
          expect(o.eligible).toEqual(eligibleNodes(o.ann, m.nodes, live));
          if (o.eligible.length === 0) expect(o.owner).toBeUndefined();
          else expect(o.eligible).toContain(o.owner);
          const settled = o.eligible.filter((n) => !held.has(n));
          if (settled.length > 0) expect(settled).toContain(o.owner);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('removing a non-owner from the live set never moves an IP', () => {
    fc.assert(
      fc.property(cluster, fc.nat(), ({ model: m, live, held }, pick) => {
        const plan = planOwnership(m, live, held);
        const owning = new Set([...plan.values()].map((o) => o.owner));
        const idle = [...live].filter((n) => !owning.has(n));
        fc.pre(idle.length > 0);
        const gone = idle[pick % idle.length]!;
        const after = planOwnership(m, new Set([...live].filter((n) => n !== gone)), held);
        expect(owners(after)).toEqual(owners(plan));
      }),
      { numRuns: 300 },
    );
  });

  it('a node becoming live (out of hold-down) moves only IPs it wins, whoever else is held down', () => {
    fc.assert(
      fc.property(cluster, ({ model: m, live, held }) => {
        const dead = [...m.nodes.keys()].filter((n) => !live.has(n));
        fc.pre(dead.length > 0);
        const joining = dead[0]!;
        const before = owners(planOwnership(m, live, held));
        const heldNow = new Set([...held].filter((n) => n !== joining));
        const after = owners(planOwnership(m, new Set([...live, joining]), heldNow));
        for (const ip of Object.keys(after)) if (after[ip] !== before[ip]) expect(after[ip]).toBe(joining);
      }),
      { numRuns: 300 },
    );
  });

  it('never mutates its inputs', () => {
    fc.assert(
      fc.property(cluster, ({ model: m, live, held }) => {
        const liveBefore = [...live];
        const heldBefore = [...held];
        const snapshot = JSON.stringify(m.ips);
        planOwnership(m, live, held);
        expect([...live]).toEqual(liveBefore);
        expect([...held]).toEqual(heldBefore);
        expect(JSON.stringify(m.ips)).toBe(snapshot);
      }),
      { numRuns: 100 },
    );
  });

  it('RankCache plans the same as plain rank', () => {
    const cache = new RankCache();
    fc.assert(
      fc.property(cluster, ({ model: m, live, held }) => {
        expect(owners(planOwnership(m, live, held, cache.rank))).toEqual(
          owners(planOwnership(m, live, held)),
        );
      }),
      { numRuns: 100 },
    );
  });
});
