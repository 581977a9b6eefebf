import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { interfacesOn } from '../../speaker/model.js';
import { parseSpeakerModel } from '../../speaker/translate.js';
import { deepFreeze, l2ad, node, objects, pool, slice, svc } from './speaker-fixtures.js';

const parse = (o: Parameters<typeof objects>[0], cls?: string) =>
  parseSpeakerModel(deepFreeze(objects(o)), cls === undefined ? {} : { loadBalancerClass: cls });

const NODES = [node('n1', { labels: { zone: 'a' } }), node('n2', { labels: { zone: 'b' } }), node('n3')];

describe('parseSpeakerModel: nodes', () => {
  it('reads readiness, network, exclusion, labels and internal IPs', () => {
    const { model } = parse({
      nodes: [
        node('b', { ready: false, ips: ['192.0.2.2', '2001:DB8:0:0::2'] }),
        node('a', {
          networkUnavailable: true,
          labels: { 'node.kubernetes.io/exclude-from-external-load-balancers': '' },
        }),
        { metadata: {} },
      ],
    });
    expect([...model.nodes.keys()]).toEqual(['a', 'b']);
    expect(model.nodes.get('a')).toEqual({
      name: 'a',
      ready: true,
      networkUnavailable: true,
      excluded: true,
      labels: { 'node.kubernetes.io/exclude-from-external-load-balancers': '' },
      internalIPs: [],
    });
    expect(model.nodes.get('b')).toMatchObject({ ready: false, networkUnavailable: false, excluded: false });
    expect(model.nodes.get('b')?.internalIPs).toEqual(['192.0.2.2', '2001:db8::2']);
  });

  it('takes a node without conditions as not Ready', () => {
    const { model } = parse({ nodes: [{ metadata: { name: 'x' } }] });
    expect(model.nodes.get('x')?.ready).toBe(false);
  });
});

describe('parseSpeakerModel: which IPs', () => {
  it('takes heraldlb Services with an ingress IP and the pool annotation, in canonical form', () => {
    const { model, problems } = parse({
      nodes: NODES,
      services: [
        svc('web/b', ['2001:DB8::0:10', '192.0.2.10']),
        svc('web/a', ['192.0.2.9']),
        svc('web/no-annotation', ['192.0.2.11'], { pool: undefined }),
        svc('web/cluster-ip', ['192.0.2.12'], { type: 'ClusterIP' }),
        svc('web/other-class', ['192.0.2.13'], { cls: 'example.com/other' }),
        { metadata: { name: 'no-namespace' }, spec: { type: 'LoadBalancer' } },
      ],
    });
    expect(problems).toEqual([]);
    expect(model.ips.map((a) => [a.ip, a.family, a.services, a.pool])).toEqual([
      ['192.0.2.9', 4, ['web/a'], 'lan'],
      ['192.0.2.10', 4, ['web/b'], 'lan'],
      ['2001:db8::10', 6, ['web/b'], 'lan'],
    ]);
    expect(model.ips[0]?.selectedNodes).toEqual(['n1', 'n2', 'n3']);
    expect(model.unannounced).toEqual([]);
  });

  it('with --load-balancer-class takes exactly that class', () => {
    const services = [svc('a/none', ['192.0.2.1']), svc('a/ours', ['192.0.2.2'], { cls: 'x.io/l2' })];
    expect(parse({ services }, 'x.io/l2').model.ips.map((a) => a.ip)).toEqual(['192.0.2.2']);
    expect(parse({ services }, '').model.ips.map((a) => a.ip)).toEqual(['192.0.2.1']);
  });

  it('names each IP pool by the annotation: one name for all, two by position, else by address', () => {
    const pools = [
      pool('v4', ['192.0.2.0/24']),
      pool('v6', ['2001:db8::/64']),
      pool('lan', ['198.51.100.0/24']),
    ];
    const { model, problems } = parse({
      pools,
      l2ads: [l2ad('all')],
      services: [
        svc('a/two', ['192.0.2.1', '2001:db8::1'], { pool: 'v4,v6' }),
        svc('a/one', ['192.0.2.2', '2001:db8::2'], { pool: 'v4' }),
        svc('a/by-address', ['198.51.100.1', '2001:db8::3', '192.0.2.3'], { pool: 'lan,v6' }),
        svc('a/unknown', ['203.0.113.1', '203.0.113.2', '203.0.113.3'], { pool: 'x,y' }),
      ],
    });
    expect(Object.fromEntries(model.ips.map((a) => [a.ip, a.pool]))).toEqual({
      '192.0.2.1': 'v4',
      '192.0.2.2': 'v4',
      '192.0.2.3': 'v4',
      '198.51.100.1': 'lan',
      '2001:db8::1': 'v6',
      '2001:db8::2': 'v4',
      '2001:db8::3': 'v6',
    });
    expect(problems).toEqual([
      'Service a/unknown: cannot tell the pool of 203.0.113.1 from "x,y"; not announced',
      'Service a/unknown: cannot tell the pool of 203.0.113.2 from "x,y"; not announced',
      'Service a/unknown: cannot tell the pool of 203.0.113.3 from "x,y"; not announced',
    ]);
  });

  it('announces a shared IP once, listing every Service', () => {
    const { model } = parse({
      services: [
        svc('b/dns-udp', ['192.0.2.53']),
        svc('a/dns-tcp', ['192.0.2.53']),
        svc('c/web', ['192.0.2.80']),
      ],
    });
    expect(model.ips.map((a) => [a.ip, a.services])).toEqual([
      ['192.0.2.53', ['a/dns-tcp', 'b/dns-udp']],
      ['192.0.2.80', ['c/web']],
    ]);
  });

  it('reports what it cannot use', () => {
    const { model, problems } = parse({
      services: [
        svc('a/bad', ['not-an-ip']),
        svc('a/gone', ['203.0.113.7'], { pool: 'deleted' }),
        svc('a/x', ['192.0.2.5'], { pool: 'lan' }),
        svc('b/x', ['192.0.2.5'], { pool: 'other' }),
      ],
    });
    expect(problems).toEqual([
      'IP 192.0.2.5: its Services name different pools (lan, other); using lan',
      'IP 203.0.113.7: pool deleted does not exist',
      'Service a/bad: ingress "not-an-ip" is not an IP address; not announced',
    ]);
    // The empty L2Advertisement selects every pool, a deleted one too: the Service keeps its IP.
    expect(model.ips.find((a) => a.ip === '203.0.113.7')?.selectedNodes).toEqual([]);
  });
});

describe('parseSpeakerModel: L2Advertisements', () => {
  const pools = [
    pool('lan', ['192.0.2.0/24'], { tier: 'lan' }),
    pool('dmz', ['198.51.100.0/24'], { tier: 'dmz' }),
  ];
  const services = [
    svc('a/lan', ['192.0.2.1'], { pool: 'lan' }),
    svc('a/dmz', ['198.51.100.1'], { pool: 'dmz' }),
  ];
  const ann = (l2ads: ReturnType<typeof l2ad>[], ip = '192.0.2.1') =>
    parse({ nodes: NODES, pools, services, l2ads }).model.ips.find((a) => a.ip === ip)!;

  it('no advertisement for the pool: not announced, listed as unannounced, not a problem', () => {
    const r = parse({
      nodes: NODES,
      pools,
      services,
      l2ads: [l2ad('dmz-only', { ipAddressPools: ['dmz'] })],
    });
    expect(r.problems).toEqual([]);
    expect(r.model.unannounced).toEqual(['192.0.2.1']);
    expect(r.model.ips[0]).toMatchObject({
      ip: '192.0.2.1',
      selectedNodes: 'none',
      interfaces: undefined,
      ads: [],
    });
    expect(r.model.ips[1]?.selectedNodes).toEqual(['n1', 'n2', 'n3']);
  });

  it('selects pools by name, by label selector, or all when it names neither', () => {
    expect(ann([l2ad('x', { ipAddressPools: ['lan'] })]).selectedNodes).toEqual(['n1', 'n2', 'n3']);
    expect(ann([l2ad('x', { ipAddressPoolSelectors: [{ matchLabels: { tier: 'lan' } }] })]).ads.length).toBe(
      1,
    );
    expect(
      ann([l2ad('x', { ipAddressPoolSelectors: [{ matchLabels: { tier: 'dmz' } }] })]).selectedNodes,
    ).toBe('none');
    expect(ann([l2ad('x', { ipAddressPools: [], ipAddressPoolSelectors: [] })]).selectedNodes).toEqual([
      'n1',
      'n2',
      'n3',
    ]);
    expect(
      ann([
        l2ad('x', { ipAddressPools: ['dmz'], ipAddressPoolSelectors: [{ matchLabels: { tier: 'lan' } }] }),
      ]).ads,
    ).toHaveLength(1);
  });

  it('unions node selectors and interfaces over the advertisements of the pool', () => {
    const a = ann([
      l2ad('a', { nodeSelectors: [{ matchLabels: { zone: 'a' } }], interfaces: ['eth1', 'eth0'] }),
      l2ad('b', { nodeSelectors: [{ matchLabels: { zone: 'b' } }], interfaces: ['eth2', 'eth0'] }),
      l2ad('c', { ipAddressPools: ['dmz'] }),
    ]);
    expect(a.selectedNodes).toEqual(['n1', 'n2']);
    expect(a.interfaces).toEqual(['eth0', 'eth1', 'eth2']);
    expect(a.ads.map((x) => x.name)).toEqual(['a', 'b']);
    expect(interfacesOn(a, 'n1')).toEqual(['eth0', 'eth1']);
    expect(interfacesOn(a, 'n2')).toEqual(['eth0', 'eth2']);
    const all = ann([
      l2ad('a', { interfaces: ['eth0'] }),
      l2ad('b', { nodeSelectors: [{ matchLabels: { zone: 'b' } }] }),
    ]);
    expect(all.interfaces).toBeUndefined();
    expect(interfacesOn(all, 'n1')).toEqual(['eth0']);
    expect(interfacesOn(all, 'n2')).toBeUndefined();
  });

  it('reports invalid selectors, which match nothing', () => {
    const r = parse({
      nodes: NODES,
      pools,
      services,
      l2ads: [l2ad('x', { nodeSelectors: [{ matchExpressions: [{ key: 'zone', operator: 'In' }] }] })],
    });
    expect(r.problems).toEqual([
      'L2Advertisement x: nodeSelectors[0]: operator In for key "zone" needs at least one value; it matches nothing',
    ]);
    expect(r.model.ips[0]?.selectedNodes).toEqual([]);
  });
});

describe('parseSpeakerModel: externalTrafficPolicy Local', () => {
  it('lists nodes with a ready endpoint from the Service’s EndpointSlices', () => {
    const { model } = parse({
      nodes: NODES,
      services: [svc('web/app', ['192.0.2.1'], { local: true }), svc('web/cluster', ['192.0.2.2'])],
      endpointSlices: [
        slice('web/app', [['n1'], ['n2', false]]),
        slice('web/app', [['n3', true]], 'b'),
        slice('other/app', [['n2']]),
        slice('web/cluster', [['n1']]),
      ],
    });
    expect(model.ips[0]?.localNodes).toEqual(['n1', 'n3']);
    expect(model.ips[1]?.localNodes).toBeUndefined();
  });

  it('a Local Service without endpoints has no local node', () => {
    const { model } = parse({ nodes: NODES, services: [svc('web/app', ['192.0.2.1'], { local: true })] });
    expect(model.ips[0]?.localNodes).toEqual([]);
  });

  it('a shared IP needs an endpoint of every Local Service on it; Cluster ones do not restrict', () => {
    const { model } = parse({
      nodes: NODES,
      services: [
        svc('a/tcp', ['192.0.2.1'], { local: true }),
        svc('a/udp', ['192.0.2.1'], { local: true }),
        svc('a/web', ['192.0.2.1']),
      ],
      endpointSlices: [slice('a/tcp', [['n1'], ['n2']]), slice('a/udp', [['n2'], ['n3']])],
    });
    expect(model.ips[0]?.localNodes).toEqual(['n2']);
  });
});

describe('parseSpeakerModel is order-independent', () => {
  it('gives the same model and problems for the same objects in any order', () => {
    const all = objects({
      nodes: NODES,
      pools: [pool('lan', ['192.0.2.0/24', '2001:db8::/64']), pool('dmz', ['198.51.100.0/24'], { t: 'd' })],
      l2ads: [
        l2ad('a', { nodeSelectors: [{ matchLabels: { zone: 'a' } }], interfaces: ['eth0'] }),
        l2ad('b', { ipAddressPoolSelectors: [{ matchLabels: { t: 'd' } }] }),
        l2ad('bad', {
          nodeSelectors: [{ matchExpressions: [{ key: 'k', operator: 'Exists', values: ['v'] }] }],
        }),
      ],
      services: [
        svc('a/x', ['192.0.2.1', '2001:db8::1'], { local: true }),
        svc('a/y', ['192.0.2.1'], { local: true }),
        svc('b/z', ['198.51.100.9'], { pool: 'dmz' }),
        svc('b/w', ['bogus']),
      ],
      endpointSlices: [
        slice('a/x', [['n1'], ['n2']]),
        slice('a/y', [['n2']]),
        slice('a/x', [['n3', false]], 'c'),
      ],
    });
    const want = parseSpeakerModel(all);
    const shuffled = <T>(xs: readonly T[]) =>
      fc.shuffledSubarray([...xs], { minLength: xs.length, maxLength: xs.length });
    fc.assert(
      fc.property(
        fc.record({
          nodes: shuffled(all.nodes),
          pools: shuffled(all.pools),
          l2ads: shuffled(all.l2ads),
          services: shuffled(all.services),
          endpointSlices: shuffled(all.endpointSlices),
        }),
        (o) => {
          expect(parseSpeakerModel(o)).toEqual(want);
        },
      ),
      { numRuns: 200 },
    );
  });
});
