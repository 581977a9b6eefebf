/**
 * The real controller without --load-balancer-class: it handles LoadBalancer Services that
 * set no class, and only those. Its pool admits only this file's namespace, so no-class
 * Services elsewhere in the shared API server never draw from it; its Services are deleted
 * at the end so no later controller without a class sees them.
 *
 * Addresses of this file: 203.0.113.192/29.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ControllerHandle,
  eventsFor,
  ingressIPs,
  sleep,
  startLeadingController,
  TestObjects,
} from '../support/controller.js';
import { adminKubeConfig, controlPlaneAvailable, kubeconfigPath } from '../support/kube.js';

describe.runIf(controlPlaneAvailable())(
  'controller: no class means the default class (real API server)',
  () => {
    let ctl: ControllerHandle;
    let k: TestObjects;
    let ns: string;

    beforeAll(async () => {
      k = new TestObjects(adminKubeConfig());
      ns = await k.namespace('ctl-default');
      await k.createPool('dc-pool', {
        addresses: ['203.0.113.192/29'],
        serviceAllocation: { namespaces: [ns] },
      });
      ctl = await startLeadingController({
        kubeconfig: kubeconfigPath(),
        name: 'ctl-default',
        args: ['--leader-elect=false', '--metrics-addr', '127.0.0.1:0'],
      });
    });
    afterAll(async () => {
      await k?.cleanup();
      await ctl?.stop();
    });

    it('serves Services without a class and leaves Services with any class alone', async () => {
      await k.createService(ns, 'classed', { loadBalancerClass: 'heraldlb.io/test-default-other' });
      await k.createService(ns, 'plain', {});
      const s = await k.served(ns, 'plain');
      expect(ingressIPs(s)).toEqual(['203.0.113.192']);
      expect(s.metadata?.annotations?.['heraldlb.io/ip-allocated-from-pool']).toBe('dc-pool');
      await k.event(ns, 'plain', 'IPAllocated', 'assigned 203.0.113.192 from pool dc-pool');
      await sleep(1000);
      const classed = await k.getService(ns, 'classed');
      expect(ingressIPs(classed)).toEqual([]);
      expect(classed.metadata?.annotations?.['heraldlb.io/ip-allocated-from-pool']).toBeUndefined();
      expect(await eventsFor(k.core, ns, 'classed')).toEqual([]);
    });
  },
);
