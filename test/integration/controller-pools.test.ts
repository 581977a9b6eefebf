/**
 * The real controller against the real API server: IPAddressPool behaviour — address math in
 * pool status (CIDRs, ranges, both families, counts beyond 2^53), autoAssign, avoidBuggyIPs,
 * serviceAllocation, and overlapping pools.
 *
 * Addresses of this file: 203.0.113.64/26 and 203.0.113.240/28, 2001:db8:110::/44 pieces
 * and 2001:db8:1f0::/44. Services carry loadBalancerClass heraldlb.io/test-pools.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type ControllerHandle,
  ingressIPs,
  type PoolObject,
  startLeadingController,
  TestObjects,
} from '../support/controller.js';
import { adminKubeConfig, controlPlaneAvailable, kubeconfigPath } from '../support/kube.js';

const CLASS = 'heraldlb.io/test-pools';

const cond = (p: PoolObject, type: string) => p.status?.conditions?.find((c) => c.type === type)?.status;

describe.runIf(controlPlaneAvailable())('controller: pools (real API server)', () => {
  let ctl: ControllerHandle;
  let k: TestObjects;
  let ns: string;

  beforeAll(async () => {
    k = new TestObjects(adminKubeConfig());
    ns = await k.namespace('ctl-pools');
    ctl = await startLeadingController({
      kubeconfig: kubeconfigPath(),
      name: 'ctl-pools',
      args: ['--load-balancer-class', CLASS, '--leader-elect=false', '--metrics-addr', '127.0.0.1:0'],
    });
  });
  afterEach(async () => k.cleanup());
  afterAll(async () => {
    await k?.cleanup();
    await ctl?.stop();
  });

  const svc = (name: string, o: Parameters<TestObjects['createService']>[2] = {}, namespace = ns) =>
    k.createService(namespace, name, { loadBalancerClass: CLASS, ...o });

  it('counts CIDRs and inclusive ranges of both families exactly, large IPv6 counts as strings', async () => {
    // name, addresses, expected [assignedIPv4, availableIPv4, assignedIPv6, availableIPv6]
    const table: [string, string[], [number, number, number, number | string]][] = [
      ['pl-cidr4', ['203.0.113.64/29'], [0, 8, 0, 0]],
      ['pl-range4', ['203.0.113.73-203.0.113.77'], [0, 5, 0, 0]],
      ['pl-cidr6', ['2001:db8:110::/120'], [0, 0, 0, 256]],
      ['pl-range6', ['2001:db8:110::1:0-2001:db8:110::1:9'], [0, 0, 0, 10]],
      ['pl-mixed', ['203.0.113.80/30', '203.0.113.84-203.0.113.85', '2001:db8:111::/126'], [0, 6, 0, 4]],
      // touching and overlapping entries of one pool are merged, counted once
      ['pl-merged', ['203.0.113.88/30', '203.0.113.90-203.0.113.93'], [0, 6, 0, 0]],
      ['pl-2p52', ['2001:db8:114::/76'], [0, 0, 0, 4503599627370496]],
      ['pl-2p53', ['2001:db8:113::/75'], [0, 0, 0, '9007199254740992']],
      ['pl-64', ['2001:db8:112::/64'], [0, 0, 0, '18446744073709551616']],
      ['pl-44', ['2001:db8:1f0::/44'], [0, 0, 0, '19342813113834066795298816']],
    ];
    for (const [name, addresses] of table) await k.createPool(name, { addresses });
    for (const [name, , [a4, v4, a6, v6]] of table) {
      const p = await k.poolWhere(name, (p) => {
        expect(cond(p, 'Ready')).toBe('True');
        expect(p.status).toMatchObject({ assignedIPv4: a4, availableIPv4: v4, assignedIPv6: a6 });
        expect(p.status?.availableIPv6).toStrictEqual(v6);
      });
      expect(cond(p, 'Conflict'), name).toBe('False');
    }

    // One address out of a /64: the count goes down by exactly one and stays a string.
    await svc('huge', { families: ['IPv6'], annotations: { 'heraldlb.io/address-pool': 'pl-64' } });
    const s = await k.served(ns, 'huge');
    expect(ingressIPs(s)).toEqual(['2001:db8:112::']);
    await k.poolWhere('pl-64', (p) => {
      expect(p.status?.assignedIPv6).toBe(1);
      expect(p.status?.availableIPv6).toBe('18446744073709551615');
    });
  });

  it('avoidBuggyIPs never hands out .255, does not count it, and refuses a request for it', async () => {
    await k.createPool('pl-buggy', { addresses: ['203.0.113.252-203.0.113.255'], avoidBuggyIPs: true });
    await k.poolWhere('pl-buggy', (p) =>
      expect(p.status).toMatchObject({ assignedIPv4: 0, availableIPv4: 3 }),
    );
    const pool = { 'heraldlb.io/address-pool': 'pl-buggy' };
    const got: string[] = [];
    for (const name of ['b1', 'b2', 'b3']) {
      await svc(name, { annotations: pool });
      got.push(...ingressIPs(await k.served(ns, name)));
    }
    expect(got).toEqual(['203.0.113.252', '203.0.113.253', '203.0.113.254']);
    await svc('b4', { annotations: pool });
    await k.event(ns, 'b4', 'AllocationFailed', /^PoolExhausted: .*"pl-buggy"/);
    await svc('b255', { annotations: { 'heraldlb.io/loadBalancerIPs': '203.0.113.255' } });
    await k.event(ns, 'b255', 'AllocationFailed', /^RequestedIPExcluded: requested IP 203\.0\.113\.255 /);
    expect(ingressIPs(await k.getService(ns, 'b4'))).toEqual([]);
    await k.poolWhere('pl-buggy', (p) =>
      expect(p.status).toMatchObject({ assignedIPv4: 3, availableIPv4: 0 }),
    );

    // Turning the option off is a pool edit: held IPs stay, the pending Service gets .255.
    await k.deleteService(ns, 'b255');
    await k.patchPool('pl-buggy', { avoidBuggyIPs: false });
    expect(ingressIPs(await k.served(ns, 'b4'))).toEqual(['203.0.113.255']);
    for (const [i, name] of ['b1', 'b2', 'b3'].entries()) {
      expect(ingressIPs(await k.getService(ns, name))).toEqual([got[i]]);
    }
  });

  it('autoAssign false: used only by pool annotation or requested IP', async () => {
    await k.createPool('pl-manual', { addresses: ['203.0.113.84/30'], autoAssign: false });
    await k.poolWhere('pl-manual', (p) => expect(cond(p, 'Ready')).toBe('True'));
    await svc('plain');
    await k.event(ns, 'plain', 'AllocationFailed', /^NoEligiblePool: /);
    await svc('by-pool', { annotations: { 'heraldlb.io/address-pool': 'pl-manual' } });
    await svc('by-ip', { annotations: { 'heraldlb.io/loadBalancerIPs': '203.0.113.86' } });
    expect(ingressIPs(await k.served(ns, 'by-pool'))).toEqual(['203.0.113.84']);
    expect(ingressIPs(await k.served(ns, 'by-ip'))).toEqual(['203.0.113.86']);
    expect(
      (await k.getService(ns, 'by-ip')).metadata?.annotations?.['heraldlb.io/ip-allocated-from-pool'],
    ).toBe('pl-manual');
    expect(ingressIPs(await k.getService(ns, 'plain'))).toEqual([]);

    // The cause removed (an auto-assign pool appears): the pending Service is served.
    await k.createPool('pl-auto', { addresses: ['203.0.113.88/30'] });
    expect(ingressIPs(await k.served(ns, 'plain'))).toEqual(['203.0.113.88']);
  });

  it('serviceAllocation: priority then name, namespaces, namespaceSelectors, serviceSelectors', async () => {
    const nsA = await k.namespace('ctl-pools-a');
    const nsGold = await k.namespace('ctl-pools-gold', { tier: 'gold' });
    const nsPlain = await k.namespace('ctl-pools-plain');
    const nsLater = await k.namespace('ctl-pools-later');
    const web = { matchExpressions: [{ key: 'app', operator: 'In', values: ['web'] }] };
    await k.createPool('pl-ns', {
      addresses: ['203.0.113.96/30'],
      serviceAllocation: { priority: 10, namespaces: [nsA] },
    });
    await k.createPool('pl-nssel', {
      addresses: ['203.0.113.100/30'],
      serviceAllocation: { priority: 10, namespaceSelectors: [{ matchLabels: { tier: 'gold' } }] },
    });
    await k.createPool('pl-svcsel', {
      addresses: ['203.0.113.104/30'],
      serviceAllocation: { priority: 10, serviceSelectors: [web] },
    });
    await k.createPool('pl-open', { addresses: ['203.0.113.108/30'], serviceAllocation: { priority: 20 } });
    // No priority: after every pool that sets one, even though its name sorts first.
    await k.createPool('pl-any', { addresses: ['203.0.113.112/30'] });
    for (const p of ['pl-ns', 'pl-nssel', 'pl-svcsel', 'pl-open', 'pl-any']) {
      await k.poolWhere(p, (x) => expect(cond(x, 'Ready')).toBe('True'));
    }

    // namespace, name, labels, expected IP (created one at a time: lowest free is deterministic)
    const table: [string, string, Record<string, string> | undefined, string][] = [
      [nsA, 'in-listed-ns', undefined, '203.0.113.96'],
      [nsGold, 'in-gold-ns', undefined, '203.0.113.100'],
      [nsPlain, 'web-label', { app: 'web' }, '203.0.113.104'],
      [nsPlain, 'no-match', undefined, '203.0.113.108'],
      [nsGold, 'gold-and-web', { app: 'web' }, '203.0.113.101'], // pl-nssel < pl-svcsel by name
      [nsA, 'listed-and-web', { app: 'web' }, '203.0.113.97'], // pl-ns < pl-svcsel
    ];
    for (const [namespace, name, labels, ip] of table) {
      await svc(name, { labels }, namespace);
      expect(ingressIPs(await k.served(namespace, name)), name).toEqual([ip]);
    }
    // Fill pl-open (4 addresses, one held): the next one falls through to the unprioritized pool.
    for (const name of ['fill1', 'fill2', 'fill3']) {
      await svc(name, {}, nsPlain);
      await k.served(nsPlain, name);
    }
    await svc('overflow', {}, nsPlain);
    expect(ingressIPs(await k.served(nsPlain, 'overflow'))).toEqual(['203.0.113.112']);

    // A pool the namespace may not use: refused by name, then admitted once the label appears.
    await svc('wants-gold', { annotations: { 'heraldlb.io/address-pool': 'pl-nssel' } }, nsLater);
    await k.event(nsLater, 'wants-gold', 'AllocationFailed', /^PoolNotAllowed: pool "pl-nssel" /);
    await k.labelNamespace(nsLater, { tier: 'gold' });
    expect(ingressIPs(await k.served(nsLater, 'wants-gold'))).toEqual(['203.0.113.102']);
  });

  it('overlapping pools: the later one gets Conflict and a PoolConflict Event and is not used', async () => {
    await k.createPool('pl-ov-first', { addresses: ['203.0.113.120/29'] });
    await k.poolWhere('pl-ov-first', (p) => expect(cond(p, 'Ready')).toBe('True'));
    await k.createPool('pl-ov-second', { addresses: ['203.0.113.124/30', '2001:db8:115::/120'] });
    const second = await k.poolWhere('pl-ov-second', (p) => {
      expect(cond(p, 'Conflict')).toBe('True');
      expect(cond(p, 'Ready')).toBe('False');
    });
    expect(second.status?.conditions?.find((c) => c.type === 'Conflict')?.message).toMatch(/"pl-ov-first"/);
    const ev = await k.event('default', 'pl-ov-second', 'PoolConflict', /overlap pool "pl-ov-first"/);
    expect(ev.type).toBe('Warning');
    expect(ev.involvedObject.kind).toBe('IPAddressPool');
    const first = await k.getPool('pl-ov-first');
    expect(cond(first, 'Conflict')).toBe('False');
    expect(cond(first, 'Ready')).toBe('True');

    // Not used: neither by name nor for its other addresses; the earlier pool keeps working.
    await svc('to-second', { annotations: { 'heraldlb.io/address-pool': 'pl-ov-second' } });
    await k.event(ns, 'to-second', 'AllocationFailed', /^UnknownPool: no usable pool named "pl-ov-second"/);
    await svc('v6-from-second', {
      families: ['IPv6'],
      annotations: { 'heraldlb.io/loadBalancerIPs': '2001:db8:115::1' },
    });
    await k.event(ns, 'v6-from-second', 'AllocationFailed', /^RequestedIPOutsidePools: /);
    await svc('to-first', { annotations: { 'heraldlb.io/address-pool': 'pl-ov-first' } });
    expect(ingressIPs(await k.served(ns, 'to-first'))).toEqual(['203.0.113.120']);
    expect(ingressIPs(await k.getService(ns, 'to-second'))).toEqual([]);

    // The earlier pool gone: the later one is accepted and serves what waited for it.
    await k.deleteService(ns, 'to-first');
    await k.deletePool('pl-ov-first');
    await k.poolWhere('pl-ov-second', (p) => {
      expect(cond(p, 'Conflict')).toBe('False');
      expect(cond(p, 'Ready')).toBe('True');
    });
    expect(ingressIPs(await k.served(ns, 'to-second'))).toEqual(['203.0.113.124']);
    expect(ingressIPs(await k.served(ns, 'v6-from-second'))).toEqual(['2001:db8:115::1']);
  });
});
