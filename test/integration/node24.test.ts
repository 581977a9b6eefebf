import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type ControllerHandle, ingressIPs, startController, TestObjects } from '../support/controller.js';
import { adminKubeConfig, controlPlaneAvailable, kubeconfigPath, uniqueName } from '../support/kube.js';
import { refuseOrWarn } from '../support/prerequisites.js';

// The container image runs Node 24 while developers have Node 20: this proves the built
// controller runs on 24 against the real API server. `.ci/run` fetches the binary
// (lab/bin/node24.sh); without it the test skips loudly, and under CI=true it fails.
const cached = join(process.env.HOME ?? '/root', '.cache', 'heraldlb', 'node-24', 'bin', 'node');
const node24 = process.env.HERALDLB_NODE24 || (existsSync(cached) ? cached : '');
const runnable =
  controlPlaneAvailable() &&
  refuseOrWarn('node24', node24 ? [] : ['no Node 24 binary: run lab/bin/node24.sh']);
const CLASS = 'heraldlb.io/test-node24';

describe.runIf(runnable)('the controller on Node 24', () => {
  const objects = new TestObjects(adminKubeConfig());
  let controller: ControllerHandle | undefined;
  afterAll(async () => {
    await controller?.kill();
    await objects.cleanup();
  });

  it('is really Node 24, and serves a Service', async () => {
    expect(execFileSync(node24, ['--version'], { encoding: 'utf8' })).toMatch(/^v24\./);
    const ns = await objects.namespace('node24');
    await objects.createPool(uniqueName('node24'), { addresses: ['2001:db8:2400::/120'] });
    await objects.createService(ns, 'web', {
      loadBalancerClass: CLASS,
      families: ['IPv6'],
      policy: 'SingleStack',
    });
    controller = startController({
      kubeconfig: kubeconfigPath(),
      node: node24,
      args: [`--load-balancer-class=${CLASS}`, '--leader-elect=false', '--metrics-addr='],
    });
    expect(ingressIPs(await objects.served(ns, 'web'))).toEqual(['2001:db8:2400::']);
    await controller.waitForLog((l) => l.action === 'assigned' && l.service === `${ns}/web`);
  });
});
