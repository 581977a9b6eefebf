import { describe, expect, it } from 'vitest';
import { Allocator } from '../../controller/allocator.js';
import { parsePools } from '../../controller/pools.js';
import { parseService } from '../../controller/service.js';
import { desiredStatus } from '../../controller/status.js';
import { deepFreeze, model, pool, svc } from './allocator-fixtures.js';

describe('parseService', () => {
  it('ignores what heraldlb does not handle', () => {
    const ign = (s: ReturnType<typeof svc>, cls?: string) => {
      const r = parseService(deepFreeze(s), cls === undefined ? {} : { loadBalancerClass: cls });
      return 'ignored' in r ? r.ignored : 'handled';
    };
    expect(ign(svc('a'))).toBe('handled');
    expect(ign(svc('a', { type: 'ClusterIP' }))).toBe('NotLoadBalancer');
    expect(ign(svc('a', { cls: 'other.io/lb' }))).toBe('OtherClass');
    expect(ign(svc('a'), 'heraldlb.io/lb')).toBe('OtherClass');
    expect(ign(svc('a', { cls: 'heraldlb.io/lb' }), 'heraldlb.io/lb')).toBe('handled');
    // Being deleted is not "not handled": it keeps its IP until the object is gone.
    const deleting = svc('a');
    deleting.metadata!.deletionTimestamp = new Date();
    expect(ign(deleting)).toBe('handled');
    expect(model(deleting).deleting).toBe(true);
    expect(model(svc('a')).deleting).toBe(false);
  });

  it('translates families, requests, sharing, ports, traffic policy and current status', () => {
    const m = model(
      svc('web', {
        ns: 'media',
        policy: 'RequireDualStack',
        families: ['IPv6'],
        ips: ' 203.0.113.5 ,2001:db8:100::5',
        mlbPool: 'lan',
        mlbShare: 'k',
        ports: [80, 'udp/53'],
        local: { app: 'web' },
        status: ['203.0.113.5', 'not-an-ip', '2001:db8:100::5'],
        fromPool: 'lan, lan6',
        labels: { tier: 'x' },
        created: 60,
      }),
    );
    expect(m).toMatchObject({
      key: 'media/web',
      namespace: 'media',
      policy: 'RequireDualStack',
      families: ['IPv6', 'IPv4'],
      requestedIPs: [
        { family: 'IPv4', value: 0xcb007105n },
        { family: 'IPv6', value: 0x20010db8010000000000000000000005n },
      ],
      requestError: undefined,
      requestedPool: 'lan',
      sharingKey: 'k',
      ports: [
        { port: 80, protocol: 'TCP' },
        { port: 53, protocol: 'UDP' },
      ],
      trafficPolicy: 'Local',
      selector: { app: 'web' },
      labels: { tier: 'x' },
      created: Date.UTC(2024, 0, 1) + 60_000,
      current: { pools: ['lan', 'lan6'] },
    });
    expect(m.current.ips.map((a) => a.family)).toEqual(['IPv4', 'IPv6']);
  });

  it.each([
    [{}, ['IPv4']],
    [{ families: ['IPv6', 'IPv4'] as ('IPv4' | 'IPv6')[] }, ['IPv6']],
    [{ policy: 'PreferDualStack' as const, families: ['IPv4'] as ('IPv4' | 'IPv6')[] }, ['IPv4']],
    [
      { policy: 'PreferDualStack' as const, families: ['IPv6', 'IPv4'] as ('IPv4' | 'IPv6')[] },
      ['IPv6', 'IPv4'],
    ],
    [{ policy: 'RequireDualStack' as const, families: ['IPv4'] as ('IPv4' | 'IPv6')[] }, ['IPv4', 'IPv6']],
  ])('families for %j', (o, want) => {
    expect(model(svc('a', o)).families).toEqual(want);
  });

  it('prefers heraldlb.io over metallb.io over spec.loadBalancerIP, and reports bad requests', () => {
    expect(model(svc('a', { mlbIPs: '203.0.113.1', lbIP: '203.0.113.2' })).requestedIPs[0]?.value).toBe(
      0xcb007101n,
    );
    expect(model(svc('a', { lbIP: '203.0.113.2' })).requestedIPs[0]?.value).toBe(0xcb007102n);
    expect(model(svc('a', { ips: '', pool: ' ' })).requestedPool).toBeUndefined();
    expect(model(svc('a', { ips: '203.0.113.1,203.0.113.2' })).requestError).toMatch(/more than one IPv4/);
    expect(model(svc('a', { ips: 'x' })).requestError).toMatch(/not a valid IP/);
  });
});

describe('desiredStatus', () => {
  it('writes ingress in family order and the pool annotation, even out of pool', () => {
    const a = new Allocator();
    a.setPools(parsePools([pool('lan', ['203.0.113.0/30']), pool('lan6', ['2001:db8:100::/120'])]).pools);
    const s = model(svc('a', { policy: 'RequireDualStack', families: ['IPv6', 'IPv4'] }));
    expect(desiredStatus(a.assign(s))).toEqual({
      ingress: [{ ip: '2001:db8:100::' }, { ip: '203.0.113.0' }],
      poolAnnotation: 'lan6,lan',
      sharingAdmitted: undefined,
    });
    a.setPools(parsePools([pool('lan6', ['2001:db8:100::/120'])]).pools);
    const kept = a.assign(s);
    expect(kept.ok && kept.ips.map((i) => i.outOfPool)).toEqual([false, true]);
    expect(desiredStatus(kept).poolAnnotation).toBe('lan6,lan');
    const failed = a.assign(model(svc('b', { pool: 'nope' })));
    expect(desiredStatus(failed)).toEqual({
      ingress: [],
      poolAnnotation: undefined,
      sharingAdmitted: undefined,
    });
  });
});
