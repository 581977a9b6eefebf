/**
 * The real controller against the real API server: which Services it handles, how failures
 * show, that an assigned IP never moves (restarts, leader changes, pool edits and deletion),
 * and what it exposes (/metrics, /healthz, /readyz, one JSON log line per decision).
 *
 * Addresses of this file: 203.0.113.160/27. Services carry loadBalancerClass
 * heraldlb.io/test-lifecycle. The controller runs with a Lease in this file's namespace.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ControllerHandle,
  eventsFor,
  httpGet,
  ingressIPs,
  type LogLine,
  metricsPort,
  metricValue,
  type ServiceSpecOptions,
  sleep,
  startController,
  startLeadingController,
  TestObjects,
  waitFor,
} from '../support/controller.js';
import { adminKubeConfig, controlPlaneAvailable, kubeconfigPath } from '../support/kube.js';

const CLASS = 'heraldlb.io/test-lifecycle';
const FROM_POOL = 'heraldlb.io/ip-allocated-from-pool';
const DECISIONS = new Set(['assigned', 'failed', 'released', 'retained', 'cleared']);

describe.runIf(controlPlaneAvailable())(
  'controller: lifecycle, stability, visibility (real API server)',
  () => {
    let k: TestObjects;
    let ns: string;
    let ctl: ControllerHandle;
    const all: ControllerHandle[] = []; // every instance started, for the log checks and afterAll

    const start = async (identity: string, leading = true) => {
      const o = {
        kubeconfig: kubeconfigPath(),
        name: `ctl-lc-${identity}`,
        args: [
          ...['--load-balancer-class', CLASS, '--lease-namespace', ns, '--lease-name', 'ctl-lifecycle'],
          ...['--identity', identity, '--metrics-addr', '127.0.0.1:0'],
        ],
      };
      const c = leading ? await startLeadingController(o) : startController(o);
      all.push(c);
      return c;
    };
    const metrics = async (c: ControllerHandle) => (await httpGet(await metricsPort(c), '/metrics'))[1];

    beforeAll(async () => {
      k = new TestObjects(adminKubeConfig());
      ns = await k.namespace('ctl-lc');
      await k.createPool('lc-main', { addresses: ['203.0.113.160/29'] });
      ctl = await start('lc-1');
    });
    afterAll(async () => {
      await k?.cleanup();
      for (const c of all) await c.stop();
    });

    const svc = (name: string, o: ServiceSpecOptions = {}) =>
      k.createService(ns, name, { loadBalancerClass: CLASS, ...o });
    const sameIPs = (a: string[], b: string[]) => JSON.stringify(a) === JSON.stringify(b);
    const ipsOf = async (name: string) => ingressIPs(await k.getService(ns, name));

    it('serves /healthz and /readyz, and /metrics with the leader gauge and pool gauges', async () => {
      const port = await metricsPort(ctl);
      expect(await httpGet(port, '/healthz')).toEqual([200, 'ok\n']);
      expect(await waitFor(async () => (await httpGet(port, '/readyz'))[0] === 200)).toBe(true);
      const text = await waitFor(async () => {
        const t = await metrics(ctl);
        return metricValue(t, 'heraldlb_pool_addresses{pool="lc-main",family="IPv4"}') === 8 ? t : undefined;
      });
      expect(metricValue(text, 'heraldlb_leader')).toBe(1);
      expect(metricValue(text, 'heraldlb_pool_addresses_available{pool="lc-main",family="IPv4"}')).toBe(8);
      expect(metricValue(text, 'heraldlb_pool_addresses_in_use{pool="lc-main",family="IPv4"}')).toBe(0);
      expect(metricValue(text, 'heraldlb_pool_addresses{pool="lc-main",family="IPv6"}')).toBe(0);
      expect(metricValue(text, 'heraldlb_services_out_of_pool')).toBe(0);
      expect(text).toContain('# TYPE heraldlb_reconcile_duration_seconds histogram');
      expect(text).toMatch(/^heraldlb_reconcile_duration_seconds_bucket\{kind="pools",le="\+Inf"\} [1-9]/m);
      expect((await httpGet(port, '/nope'))[0]).toBe(404);
    });

    it('handles only its own class of LoadBalancer Services and leaves foreign status alone', async () => {
      await k.createService(ns, 'foreign', { loadBalancerClass: 'example.com/other' });
      await k.patchServiceStatus(ns, 'foreign', {
        status: { loadBalancer: { ingress: [{ ip: '203.0.113.190' }] } },
      });
      await k.createService(ns, 'no-class', {});
      await k.createService(ns, 'node-port', { type: 'NodePort' });
      await k.createService(ns, 'cluster-ip', { type: 'ClusterIP' });
      await svc('mine');
      expect(ingressIPs(await k.served(ns, 'mine'))).toEqual(['203.0.113.160']);
      await sleep(1000); // time enough for any (wrong) reaction to the others
      for (const name of ['foreign', 'no-class', 'node-port', 'cluster-ip']) {
        const s = await k.getService(ns, name);
        expect(ingressIPs(s), name).toEqual(name === 'foreign' ? ['203.0.113.190'] : []);
        expect(s.metadata?.annotations?.[FROM_POOL], name).toBeUndefined();
        expect(await eventsFor(k.core, ns, name), name).toEqual([]);
        expect(
          ctl.logs().filter((l) => l.service === `${ns}/${name}`),
          name,
        ).toEqual([]);
      }
      for (const name of ['foreign', 'no-class', 'node-port', 'cluster-ip', 'mine'])
        await k.deleteService(ns, name);
    });

    it('a Service leaving LoadBalancer loses its IP, annotation and ingress; a waiting Service gets the IP', async () => {
      await k.createPool('lc-one', { addresses: ['203.0.113.176/32'] });
      const one = { 'heraldlb.io/address-pool': 'lc-one' };
      await svc('leaver', { annotations: one });
      expect(ingressIPs(await k.served(ns, 'leaver'))).toEqual(['203.0.113.176']);
      await svc('waiter', { annotations: one });
      await k.event(ns, 'waiter', 'AllocationFailed', 'PoolExhausted: no free IPv4 address in pool "lc-one"');
      await k.patchService(ns, 'leaver', {
        spec: {
          type: 'ClusterIP',
          loadBalancerClass: null,
          allocateLoadBalancerNodePorts: null,
          externalTrafficPolicy: null,
        },
      });
      const left = await waitFor(async () => {
        const s = await k.getService(ns, 'leaver');
        return ingressIPs(s).length === 0 && s.metadata?.annotations?.[FROM_POOL] === undefined
          ? s
          : undefined;
      });
      expect(left.spec?.type).toBe('ClusterIP');
      await k.event(ns, 'leaver', 'IPReleased', /no longer handled by heraldlb \(NotLoadBalancer\)/);
      expect(ingressIPs(await k.served(ns, 'waiter'))).toEqual(['203.0.113.176']);
      await k.deleteService(ns, 'leaver');
      await k.deleteService(ns, 'waiter');
      await k.deletePool('lc-one');
    });

    it('makes every failure visible with a precise AllocationFailed Event, and serves once the cause is gone', async () => {
      await k.createPool('lc-tiny', { addresses: ['203.0.113.177/32'] });
      await k.createPool('lc-restricted', {
        addresses: ['203.0.113.180/30'],
        serviceAllocation: { namespaces: ['nobody'] },
      });
      await svc('holder', { annotations: { 'heraldlb.io/address-pool': 'lc-tiny' } });
      expect(ingressIPs(await k.served(ns, 'holder'))).toEqual(['203.0.113.177']);

      // name, Service options, reason, Event message, fix, IP once fixed (fixed in table order)
      const rows: [string, ServiceSpecOptions, string, RegExp, () => Promise<unknown>, string][] = [
        [
          'f-exhausted',
          { annotations: { 'heraldlb.io/address-pool': 'lc-tiny' } },
          'PoolExhausted',
          /^PoolExhausted: no free IPv4 address in pool "lc-tiny"$/,
          () => k.patchPool('lc-tiny', { addresses: ['203.0.113.177-203.0.113.178'] }),
          '203.0.113.178',
        ],
        [
          'f-outside',
          { annotations: { 'heraldlb.io/loadBalancerIPs': '203.0.113.185' } },
          'RequestedIPOutsidePools',
          /^RequestedIPOutsidePools: requested IP 203\.0\.113\.185 is not in any usable pool$/,
          () => k.createPool('lc-extra', { addresses: ['203.0.113.184/30'] }),
          '203.0.113.185',
        ],
        [
          'f-in-use',
          { annotations: { 'heraldlb.io/loadBalancerIPs': '203.0.113.177' } },
          'IPInUse',
          new RegExp(`^IPInUse: requested IP 203\\.0\\.113\\.177 is in use by Service ${ns}/holder \\(`),
          () => k.deleteService(ns, 'holder'),
          '203.0.113.177',
        ],
        [
          'f-unknown',
          { annotations: { 'heraldlb.io/address-pool': 'lc-later' } },
          'UnknownPool',
          /^UnknownPool: no usable pool named "lc-later"/,
          () => k.createPool('lc-later', { addresses: ['203.0.113.188/30'] }),
          '203.0.113.188',
        ],
        [
          'f-not-allowed',
          { annotations: { 'heraldlb.io/address-pool': 'lc-restricted' } },
          'PoolNotAllowed',
          /^PoolNotAllowed: pool "lc-restricted" does not admit this Service/,
          () => k.patchPool('lc-restricted', { serviceAllocation: { namespaces: ['nobody', ns] } }),
          '203.0.113.180',
        ],
        [
          'f-invalid',
          { annotations: { 'heraldlb.io/loadBalancerIPs': '203.0.113.500' } },
          'InvalidRequest',
          /^InvalidRequest: requested address "203\.0\.113\.500" is not a valid IP address$/,
          () =>
            k.patchService(ns, 'f-invalid', {
              metadata: { annotations: { 'heraldlb.io/loadBalancerIPs': '203.0.113.163' } },
            }),
          '203.0.113.163',
        ],
      ];
      for (const [name, o, , message] of rows) {
        await svc(name, o);
        const ev = await k.event(ns, name, 'AllocationFailed', message);
        expect(ev.type, name).toBe('Warning');
        expect(ev.source?.component ?? ev.reportingComponent).toBe('heraldlb-controller');
        expect(await ipsOf(name), name).toEqual([]);
      }
      const text = await metrics(ctl);
      for (const [, , reason] of rows) {
        expect(
          metricValue(text, `heraldlb_allocation_failures_total{reason="${reason}"}`),
          reason,
        ).toBeGreaterThanOrEqual(1);
      }
      for (const [name, , , , fix, ip] of rows) {
        await fix();
        expect(ingressIPs(await k.served(ns, name)), name).toEqual([ip]);
        await k.event(
          ns,
          name,
          'IPAllocated',
          new RegExp(`^assigned ${ip.replaceAll('.', '\\.')} from pool `),
        );
      }
      for (const [name] of rows) await k.deleteService(ns, name);
      for (const p of ['lc-tiny', 'lc-restricted', 'lc-extra', 'lc-later']) await k.deletePool(p);
    });

    it('never moves an assigned IP: other Services, restarts, leader changes, pool shrink and deletion', async () => {
      await k.createPool('lc-stab', { addresses: ['203.0.113.168/29'] });
      const want: Record<string, string> = {}; // service -> the IP it must keep
      const check = async () => {
        for (const [name, ip] of Object.entries(want)) expect(await ipsOf(name), name).toEqual([ip]);
      };
      const pool = { 'heraldlb.io/address-pool': 'lc-stab' };
      for (const [name, ip] of [
        ['st1', '.168'],
        ['st2', '.169'],
        ['st3', '.170'],
      ] as const) {
        await svc(name, { annotations: pool });
        expect(ingressIPs(await k.served(ns, name))).toEqual([`203.0.113${ip}`]);
        want[name] = `203.0.113${ip}`;
      }
      const ev = await k.event(ns, 'st1', 'IPAllocated', 'assigned 203.0.113.168 from pool lc-stab');
      expect(ev.type).toBe('Normal');

      // Others come and go.
      await k.deleteService(ns, 'st2');
      delete want.st2;
      await svc('st4', { annotations: pool });
      expect(ingressIPs(await k.served(ns, 'st4'))).toEqual(['203.0.113.169']);
      want.st4 = '203.0.113.169';
      await check();

      // Logs: one JSON line per decision, keyed by `service`; one `assigned` per assignment.
      const decisions = (c: ControllerHandle, key: string, msg: string) =>
        c.logs().filter((l: LogLine) => l.service === `${ns}/${key}` && l.msg === msg);
      for (const l of ctl.logs().filter((x) => DECISIONS.has(x.msg ?? ''))) {
        expect(l.service).toMatch(/^[a-z0-9-]+\/[a-z0-9-]+$/);
        expect(l.component).toBe('controller');
      }
      expect(decisions(ctl, 'st1', 'assigned')).toHaveLength(1);
      expect(decisions(ctl, 'st1', 'assigned')[0]).toMatchObject({
        ips: ['203.0.113.168'],
        pools: 'lc-stab',
      });
      expect(decisions(ctl, 'st2', 'released')).toHaveLength(1);
      expect(decisions(ctl, 'f-exhausted', 'failed')[0]).toMatchObject({ reason: 'PoolExhausted' });

      // A standby replica waits; the leader stops; the standby takes over; nothing moves, nothing is rewritten.
      const standby = await start('lc-2', false);
      await standby.waitForLog((l) => l.msg === 'leader observed' && l.leader === 'lc-1');
      expect(metricValue(await metrics(standby), 'heraldlb_leader')).toBe(0);
      expect((await httpGet(await metricsPort(standby), '/readyz'))[0]).toBe(200);
      expect(await ctl.stop()).toBe(0);
      expect(ctl.logs().at(-1)?.msg).toBe('stopped');
      await svc('st5', { annotations: pool }); // created while nobody leads
      await standby.waitForLog((l) => l.msg === 'leading: existing assignments loaded', 30_000);
      ctl = standby;
      expect(ingressIPs(await k.served(ns, 'st5'))).toEqual(['203.0.113.171']);
      want.st5 = '203.0.113.171';
      await check();
      expect(metricValue(await metrics(ctl), 'heraldlb_leader')).toBe(1);
      for (const name of ['st1', 'st3', 'st4']) expect(decisions(ctl, name, 'assigned'), name).toEqual([]);

      // Pool shrinks under two of them: they keep their IPs, with a Warning, and are counted.
      await k.patchPool('lc-stab', { addresses: ['203.0.113.168/31'] });
      for (const name of ['st3', 'st5']) {
        const w = await k.event(
          ns,
          name,
          'IPRetained',
          new RegExp(`^${want[name]?.replaceAll('.', '\\.')} is no longer in any pool`),
        );
        expect(w.type).toBe('Warning');
      }
      await check();
      const shrunk = await waitFor(async () => {
        const t = await metrics(ctl);
        return metricValue(t, 'heraldlb_services_out_of_pool') === 2 ? t : undefined;
      });
      // A count, not a series per Service (thousands of them when a pool goes): the IPRetained
      // Events above name the Services.
      expect(shrunk).not.toContain('heraldlb_service_out_of_pool{');
      await k.poolWhere('lc-stab', (p) =>
        expect(p.status).toMatchObject({ assignedIPv4: 2, availableIPv4: 0 }),
      );
      expect((await k.getService(ns, 'st3')).metadata?.annotations?.[FROM_POOL]).toBe('lc-stab');

      // Pool deleted: everyone keeps; then a plain restart with no pool at all: still kept.
      await k.deletePool('lc-stab');
      for (const name of ['st1', 'st4']) await k.event(ns, name, 'IPRetained', /is no longer in any pool/);
      await waitFor(async () => metricValue(await metrics(ctl), 'heraldlb_services_out_of_pool') === 4);
      await check();
      expect(await ctl.stop()).toBe(0);
      // While nobody runs: st4 goes away (its IP must be free afterwards), and `dup` appears with
      // a status claiming st1's IP (say, restored from a backup): the earlier-created st1 keeps it.
      await k.deleteService(ns, 'st4');
      delete want.st4;
      await svc('dup', { annotations: { [FROM_POOL]: 'lc-stab' } });
      await k.patchServiceStatus(ns, 'dup', {
        status: { loadBalancer: { ingress: [{ ip: '203.0.113.168' }] } },
      });
      ctl = await start('lc-3');
      const conflict = await waitFor(async () => {
        const evs = [...(await eventsFor(k.core, ns, 'dup')), ...(await eventsFor(k.core, ns, 'st1'))];
        return evs.find((e) => e.reason === 'IPConflict');
      });
      expect(conflict.type).toBe('Warning');
      expect(conflict.message).toMatch(/^203\.0\.113\.168 is also held by /);
      await waitFor(async () => sameIPs(await ipsOf('dup'), ['203.0.113.160'])); // lowest free of lc-main
      await waitFor(async () => metricValue(await metrics(ctl), 'heraldlb_services_out_of_pool') === 3);
      await check();

      // The pool back: nobody is out of pool any more, the counts include what is held, and the
      // address st4 held while the controller was down is free again.
      await k.createPool('lc-stab', { addresses: ['203.0.113.168/29'] });
      await waitFor(async () => metricValue(await metrics(ctl), 'heraldlb_services_out_of_pool') === 0);
      await k.poolWhere('lc-stab', (p) =>
        expect(p.status).toMatchObject({ assignedIPv4: 3, availableIPv4: 5 }),
      );
      await check();
      for (const name of Object.keys(want)) expect(decisions(ctl, name, 'assigned'), name).toEqual([]);
      await svc('st6', { annotations: pool });
      expect(ingressIPs(await k.served(ns, 'st6'))).toEqual(['203.0.113.169']);
      await check();
    });
  },
);
