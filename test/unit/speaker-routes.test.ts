// Which interface the L2Announcement's MAC comes from: the kernel's routes, longest prefix,
// among the interfaces the IP is announced on. The texts are what /proc shows on a lab node
// running Pods: eth0 on the LAN, cni0 (the Pods' bridge) sorting before it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { OwnedIp } from '../../speaker/decider.js';
import { parseRoutes, routeInterface } from '../../speaker/routes.js';
import { desiredAnnouncements } from '../../speaker/status.js';

const ROUTE = `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
eth0	000200C0	00000000	0001	0	0	0	00FFFFFF	0	0	0
cni0	800200C0	00000000	0001	0	0	0	F8FFFFFF	0	0	0
eth1	00000000	010233C6	0003	0	0	0	00000000	0	0	0
eth9	007100CB	00000000	0201	0	0	0	00FFFFFF	0	0	0
`;
// 2001:db8:1::/64 on eth0, the pool's local /120 on lo, ff00::/8 on both, fe80::/64 on cni0
const IPV6 = [
  '20010db8000100000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0',
  '20010db8000100000000000000000200 78 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000001 00000000 80200001       lo',
  'ff000000000000000000000000000000 08 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0',
  'ff000000000000000000000000000000 08 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     cni0',
  'fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     cni0',
].join('\n');

const routes = parseRoutes(ROUTE, IPV6, true);
const ALL = ['cni0', 'eth0', 'eth1', 'eth9'];

describe('routeInterface', () => {
  it.each([
    ['192.0.2.200', ALL, 'eth0'], // connected /24 beats the default route
    ['192.0.2.130', ALL, 'cni0'], // the Pods' /29 is longer
    ['203.0.113.7', ALL, 'eth1'], // eth9's route is a reject route: only the default is left
    ['203.0.113.7', ['cni0', 'eth0'], undefined], // the default route's interface not a candidate
    ['2001:db8:1::201', ALL, 'eth0'], // the local /120 is on lo, not a candidate
    ['2001:db8:2::1', ALL, undefined],
    ['not-an-ip', ALL, undefined],
  ])('%s among %j -> %s', (ip, cands, want) => {
    expect(routeInterface(routes, ip, cands)).toBe(want);
  });

  it('parses big-endian hosts\u2019 /proc/net/route too', () => {
    const be = parseRoutes(
      'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\nlan0\tC0000200\t00000000\t0001\t0\t0\t0\tFFFFFF00\n',
      '',
      false,
    );
    expect(routeInterface(be, '192.0.2.9', ['lan0'])).toBe('lan0');
  });

  it('ignores garbage lines and never throws', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.ipV4(), (a, b, ip) => {
        const r = parseRoutes(a, b);
        expect(routeInterface(r, ip, ['eth0'])).toBeUndefined();
      }),
    );
  });
});

describe('the announcement names the routed interface\u2019s MAC', () => {
  it('eth0\u2019s, not the CNI bridge\u2019s that sorts first', () => {
    const web: OwnedIp = { ip: '192.0.2.200', family: 4, services: ['default/web'], interfaces: undefined };
    const owned = new Map([['192.0.2.200', web]]);
    const facts = {
      since: new Map<string, string>(),
      macs: new Map([
        ['cni0', '76:90:f2:97:c1:d0'],
        ['eth0', '02:68:6c:00:00:0b'],
      ]),
      allInterfaces: ['cni0', 'eth0'],
      services: new Map([['default/web', { uid: 'u1' }]]),
    };
    const withRoutes = desiredAnnouncements('node1', owned, {
      ...facts,
      routeInterface: (ip, c) => routeInterface(routes, ip, c),
    });
    expect(withRoutes.get('default/web.node1')?.status).toMatchObject({
      interfaces: ['cni0', 'eth0'],
      mac: '02:68:6c:00:00:0b',
    });
    // No route to the IP on any candidate: the first interface by name, as before.
    const without = desiredAnnouncements('node1', owned, { ...facts, routeInterface: () => undefined });
    expect(without.get('default/web.node1')?.status?.mac).toBe('76:90:f2:97:c1:d0');
  });
});
