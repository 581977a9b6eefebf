/**
 * The real controller against the real API server: which address a Service gets — pool order,
 * lowest free address, the request annotations in both spellings, dual-stack, and sharing.
 *
 * Addresses of this file: 203.0.113.128/27, 2001:db8:120::/48 pieces.
 * Services carry loadBalancerClass heraldlb.io/test-selection.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type ControllerHandle,
  ingressIPs,
  type ServiceSpecOptions,
  startLeadingController,
  TestObjects,
  waitFor,
} from '../support/controller.js';
import { adminKubeConfig, controlPlaneAvailable, kubeconfigPath } from '../support/kube.js';

const CLASS = 'heraldlb.io/test-selection';
const FROM_POOL = 'heraldlb.io/ip-allocated-from-pool';

describe.runIf(controlPlaneAvailable())('controller: address selection (real API server)', () => {
  let ctl: ControllerHandle;
  let k: TestObjects;
  let ns: string;

  beforeAll(async () => {
    k = new TestObjects(adminKubeConfig());
    ns = await k.namespace('ctl-sel');
    // sel-z comes first by priority despite its name; sel-a before sel-b by name.
    await k.createPool('sel-z', { addresses: ['203.0.113.144/30'], serviceAllocation: { priority: 1 } });
    await k.createPool('sel-b', {
      addresses: ['203.0.113.136/29', '2001:db8:121::/124'],
      serviceAllocation: { priority: 5 },
    });
    await k.createPool('sel-a', {
      addresses: ['203.0.113.128/29', '2001:db8:120::/124'],
      serviceAllocation: { priority: 5 },
    });
    ctl = await startLeadingController({
      kubeconfig: kubeconfigPath(),
      name: 'ctl-sel',
      args: ['--load-balancer-class', CLASS, '--leader-elect=false', '--metrics-addr', '127.0.0.1:0'],
    });
  });
  // Services go after each test; the three pools stay for the whole file.
  afterEach(async () => {
    for (const s of (await k.core.listNamespacedService({ namespace: ns })).items) {
      await k.deleteService(ns, s.metadata?.name ?? '');
    }
    // The next test expects empty pools: wait until the controller has seen every release.
    for (const p of ['sel-z', 'sel-a', 'sel-b']) {
      await k.poolWhere(p, (x) => expect([x.status?.assignedIPv4, x.status?.assignedIPv6]).toEqual([0, 0]));
    }
  });
  afterAll(async () => {
    await k?.cleanup();
    await ctl?.stop();
  });

  const svc = (name: string, o: ServiceSpecOptions = {}) =>
    k.createService(ns, name, { loadBalancerClass: CLASS, ...o });
  const sameIPs = (a: string[], b: string[]) => JSON.stringify(a) === JSON.stringify(b);
  const ipsOf = async (name: string) => ingressIPs(await k.getService(ns, name));

  it('priority then name, lowest free address first, and nothing moves when others come and go', async () => {
    const want = ['203.0.113.144', '203.0.113.145', '203.0.113.146', '203.0.113.147', '203.0.113.128'];
    for (const [i, ip] of want.entries()) {
      await svc(`s${i}`);
      const s = await k.served(ns, `s${i}`);
      expect(ingressIPs(s)).toEqual([ip]);
      expect(s.metadata?.annotations?.[FROM_POOL]).toBe(i < 4 ? 'sel-z' : 'sel-a');
      expect(s.status?.loadBalancer?.ingress?.[0]?.ipMode).toBe('VIP');
    }
    await k.deleteService(ns, 's1');
    await svc('s5');
    expect(ingressIPs(await k.served(ns, 's5'))).toEqual(['203.0.113.145']);
    await svc('s6');
    expect(ingressIPs(await k.served(ns, 's6'))).toEqual(['203.0.113.129']);
    for (const i of [0, 2, 3, 4]) expect(await ipsOf(`s${i}`)).toEqual([want[i]]);
  });

  it('writes ingress and pool annotation in one status write, under its own field manager', async () => {
    await svc('one-write');
    const s = await k.served(ns, 'one-write');
    const ours = (s.metadata?.managedFields ?? []).filter((m) => m.manager === 'heraldlb-controller');
    // One entry: the /status write; no second write to the Service itself for the annotation.
    expect(ours.map((m) => m.subresource)).toEqual(['status']);
    const fields = JSON.stringify(ours[0]?.fieldsV1);
    expect(fields).toContain(`"f:${FROM_POOL}"`);
    expect(fields).toContain('"f:loadBalancer"');
  });

  it('honours pool and IP requests in the heraldlb.io and metallb.io spellings and spec.loadBalancerIP', async () => {
    // name, Service options, expected IPs, expected pool annotation (created in this order)
    const table: [string, ServiceSpecOptions, string[], string][] = [
      ['pool-herald', { annotations: { 'heraldlb.io/address-pool': 'sel-b' } }, ['203.0.113.136'], 'sel-b'],
      ['pool-metallb', { annotations: { 'metallb.io/address-pool': 'sel-b' } }, ['203.0.113.137'], 'sel-b'],
      [
        'ip-herald',
        { annotations: { 'heraldlb.io/loadBalancerIPs': '203.0.113.133' } },
        ['203.0.113.133'],
        'sel-a',
      ],
      [
        'ip-metallb',
        { annotations: { 'metallb.io/loadBalancerIPs': '203.0.113.134' } },
        ['203.0.113.134'],
        'sel-a',
      ],
      ['ip-spec', { loadBalancerIP: '203.0.113.135' }, ['203.0.113.135'], 'sel-a'],
      [
        'ip-both-spellings',
        {
          annotations: {
            'heraldlb.io/loadBalancerIPs': '203.0.113.132',
            'metallb.io/loadBalancerIPs': '203.0.113.131',
          },
        },
        ['203.0.113.132'],
        'sel-a',
      ],
      [
        'ip-v6',
        { families: ['IPv6'], annotations: { 'heraldlb.io/loadBalancerIPs': '2001:db8:121::5' } },
        ['2001:db8:121::5'],
        'sel-b',
      ],
      [
        'ip-and-pool',
        {
          annotations: { 'heraldlb.io/address-pool': 'sel-z', 'metallb.io/loadBalancerIPs': '203.0.113.146' },
        },
        ['203.0.113.146'],
        'sel-z',
      ],
      [
        'dual-ips',
        {
          policy: 'RequireDualStack',
          annotations: { 'metallb.io/loadBalancerIPs': '203.0.113.139,2001:db8:120::9' },
        },
        ['203.0.113.139', '2001:db8:120::9'],
        'sel-b,sel-a',
      ],
    ];
    for (const [name, o, ips, pool] of table) {
      await svc(name, o);
      const s = await k.served(ns, name, ips.length);
      expect(ingressIPs(s), name).toEqual(ips);
      expect(s.metadata?.annotations?.[FROM_POOL], name).toBe(pool);
    }
    // The same request again, by another Service without a sharing key: refused, precisely.
    await svc('ip-taken', { annotations: { 'metallb.io/loadBalancerIPs': '203.0.113.133' } });
    await k.event(ns, 'ip-taken', 'AllocationFailed', new RegExp(`^IPInUse: .*Service ${ns}/ip-herald`));
    await svc('ip-other-pool', {
      annotations: { 'heraldlb.io/address-pool': 'sel-z', 'heraldlb.io/loadBalancerIPs': '203.0.113.130' },
    });
    await k.event(
      ns,
      'ip-other-pool',
      'AllocationFailed',
      /^RequestedIPNotInPool: .*in pool "sel-a", not in requested pool "sel-z"/,
    );
    await svc('ip-garbage', { annotations: { 'heraldlb.io/loadBalancerIPs': 'not-an-ip' } });
    await k.event(ns, 'ip-garbage', 'AllocationFailed', /^InvalidRequest: requested address "not-an-ip"/);
    for (const name of ['ip-taken', 'ip-other-pool', 'ip-garbage']) expect(await ipsOf(name)).toEqual([]);

    // Only an explicit act moves an IP: a new pool or a new requested IP on that Service.
    await k.patchService(ns, 'pool-herald', {
      metadata: { annotations: { 'heraldlb.io/address-pool': 'sel-z' } },
    });
    await waitFor(async () => sameIPs(await ipsOf('pool-herald'), ['203.0.113.144']));
    await k.patchService(ns, 'ip-metallb', {
      metadata: { annotations: { 'metallb.io/loadBalancerIPs': '203.0.113.136' } },
    });
    await waitFor(async () => sameIPs(await ipsOf('ip-metallb'), ['203.0.113.136'])); // freed just above
    // A request that cannot be met keeps the old IP (a typo never drops traffic) and says why.
    await k.patchService(ns, 'ip-spec', { spec: { loadBalancerIP: '203.0.113.133' } });
    await k.event(ns, 'ip-spec', 'AllocationFailed', /^IPInUse: requested IP 203\.0\.113\.133 /);
    expect(await ipsOf('ip-spec')).toEqual(['203.0.113.135']);
  });

  it('dual-stack follows ipFamilyPolicy and ipFamilies: one address per family', async () => {
    // name, options, expected IPs in ingress order
    const table: [string, ServiceSpecOptions, string[]][] = [
      ['single-default', {}, ['203.0.113.144']],
      ['single-v6', { families: ['IPv6'] }, ['2001:db8:120::']],
      ['prefer', { policy: 'PreferDualStack' }, ['203.0.113.145', '2001:db8:120::1']],
      [
        'require-v6-first',
        { policy: 'RequireDualStack', families: ['IPv6', 'IPv4'] },
        ['2001:db8:120::2', '203.0.113.146'],
      ],
    ];
    for (const [name, o, ips] of table) {
      await svc(name, o);
      const s = await k.served(ns, name, ips.length);
      expect(ingressIPs(s), name).toEqual(ips);
      expect(s.status?.loadBalancer?.ingress?.every((i) => i.ipMode === 'VIP')).toBe(true);
    }
    expect((await k.getService(ns, 'prefer')).metadata?.annotations?.[FROM_POOL]).toBe('sel-z,sel-a');

    // sel-z has no IPv6: RequireDualStack fails, PreferDualStack is served with IPv4 and told why.
    const z = { 'heraldlb.io/address-pool': 'sel-z' };
    await svc('require-z', { policy: 'RequireDualStack', annotations: z });
    await k.event(
      ns,
      'require-z',
      'AllocationFailed',
      /^FamilyNotAvailable: pool "sel-z" has no IPv6 addresses/,
    );
    expect(await ipsOf('require-z')).toEqual([]);
    await svc('prefer-z', { policy: 'PreferDualStack', annotations: z });
    expect(ingressIPs(await k.served(ns, 'prefer-z'))).toEqual(['203.0.113.147']);
    await k.event(ns, 'prefer-z', 'FamilyNotServed', /IPv6 FamilyNotAvailable/);

    // The cause removed: sel-z gains IPv6 addresses; the waiting Service gets both families and
    // the half-served one gets its IPv6 address without its IPv4 address moving.
    try {
      await k.patchPool('sel-z', {
        addresses: ['203.0.113.144/30', '203.0.113.148/32', '2001:db8:122::/124'],
      });
      const [req4, req6] = ingressIPs(await k.served(ns, 'require-z', 2));
      const [pre4, pre6] = ingressIPs(await k.served(ns, 'prefer-z', 2));
      expect([req4, pre4]).toEqual(['203.0.113.148', '203.0.113.147']);
      // Both wait for the same pool edit: which one reconciles first is not specified.
      expect([req6, pre6].sort()).toEqual(['2001:db8:122::', '2001:db8:122::1']);
    } finally {
      await k.patchPool('sel-z', { addresses: ['203.0.113.144/30'] });
    }
  });

  it('sharing: same key, disjoint ports and compatible traffic policy share; everything else does not', async () => {
    const key = (k: string, spelling = 'heraldlb.io') => ({ [`${spelling}/allow-shared-ip`]: k });
    await svc('web', { annotations: key('k1'), ports: [80] });
    const [ip] = ingressIPs(await k.served(ns, 'web'));
    expect(ip).toBe('203.0.113.144');
    // name, options, expected: the shared IP, another IP, or an IPInUse Event matching
    const table: [string, ServiceSpecOptions, 'shared' | 'other' | RegExp][] = [
      ['tls', { annotations: key('k1'), ports: [443] }, 'shared'],
      ['dns-metallb', { annotations: key('k1', 'metallb.io'), ports: ['53/UDP', '53/TCP'] }, 'shared'],
      ['web-again', { annotations: key('k1'), ports: [80] }, 'other'],
      [
        'web-again-asks',
        { annotations: { ...key('k1'), 'heraldlb.io/loadBalancerIPs': ip as string }, ports: [80] },
        new RegExp(`^IPInUse: requested IP ${ip} is in use by Service ${ns}/web \\(their ports overlap\\)`),
      ],
      [
        'other-key-asks',
        { annotations: { ...key('k2'), 'heraldlb.io/loadBalancerIPs': ip as string }, ports: [90] },
        /^IPInUse: .*\(their allow-shared-ip keys differ or are unset\)/,
      ],
      [
        'local-asks',
        {
          annotations: { ...key('k1'), 'heraldlb.io/loadBalancerIPs': ip as string },
          ports: [91],
          trafficPolicy: 'Local',
        },
        /^IPInUse: .*\(their externalTrafficPolicy differs\)/,
      ],
    ];
    const results: Record<string, string[]> = {};
    for (const [name, o, expected] of table) {
      await svc(name, o);
      if (expected instanceof RegExp) {
        await k.event(ns, name, 'AllocationFailed', expected);
        expect(await ipsOf(name), name).toEqual([]);
        continue;
      }
      results[name] = ingressIPs(await k.served(ns, name));
      if (expected === 'shared') expect(results[name], name).toEqual([ip]);
      else expect(results[name], name).not.toEqual([ip]);
    }

    // externalTrafficPolicy Local: identical selectors share, different selectors do not.
    const local = (name: string, port: number, app: string, extra: Record<string, string> = {}) =>
      svc(name, {
        annotations: { ...key('k3'), ...extra },
        ports: [port],
        trafficPolicy: 'Local',
        selector: { app },
      });
    await local('local-a', 8080, 'x');
    const [lip] = ingressIPs(await k.served(ns, 'local-a'));
    await local('local-b', 8081, 'x');
    expect(ingressIPs(await k.served(ns, 'local-b'))).toEqual([lip]);
    await local('local-c', 8082, 'y');
    expect(ingressIPs(await k.served(ns, 'local-c'))).not.toEqual([lip]);
    await local('local-d', 8083, 'y', { 'heraldlb.io/loadBalancerIPs': lip as string });
    await k.event(
      ns,
      'local-d',
      'AllocationFailed',
      /\(externalTrafficPolicy is Local and their selectors differ\)/,
    );
    expect(ingressIPs(await k.getService(ns, 'web'))).toEqual([ip]);
  });
});
