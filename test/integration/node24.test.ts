import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { adminKubeConfig, controlPlaneAvailable, kubeconfigPath, uniqueName } from '../support/kube.js';
import { refuseOrWarn } from '../support/prerequisites.js';

// The container image runs Node 24 while developers have Node 20: this proves the built
// controller runs on 24 against the real API server. `.ci/run` fetches the binary
// (lab/bin/node24.sh); without it the test skips loudly, and under CI=true it fails.
const root = resolve(import.meta.dirname, '..', '..');
const cached = join(process.env.HOME ?? '/root', '.cache', 'heraldlb', 'node-24', 'bin', 'node');
const node24 = process.env.HERALDLB_NODE24 || (existsSync(cached) ? cached : '');
const runnable =
  controlPlaneAvailable() &&
  refuseOrWarn('node24', node24 ? [] : ['no Node 24 binary: run lab/bin/node24.sh']);

const CLASS = 'heraldlb.io/test-node24';
const POOL = uniqueName('node24');

describe.runIf(runnable)('the controller on Node 24', () => {
  const kc = adminKubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const ns = uniqueName('node24');
  const child = () =>
    spawn(
      node24,
      [
        join(root, 'dist', 'controller', 'main.js'),
        `--kubeconfig=${kubeconfigPath()}`,
        `--load-balancer-class=${CLASS}`,
        '--leader-elect=false',
        '--metrics-addr=',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
  let proc: ReturnType<typeof child> | undefined;

  afterAll(async () => {
    proc?.kill('SIGKILL');
    await custom
      .deleteClusterCustomObject({
        group: 'heraldlb.io',
        version: 'v1beta1',
        plural: 'ipaddresspools',
        name: POOL,
      })
      .catch(() => undefined);
  });

  it('is really Node 24, and serves a Service', async () => {
    expect(execFileSync(node24, ['--version'], { encoding: 'utf8' })).toMatch(/^v24\./);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await custom.createClusterCustomObject({
      group: 'heraldlb.io',
      version: 'v1beta1',
      plural: 'ipaddresspools',
      body: {
        apiVersion: 'heraldlb.io/v1beta1',
        kind: 'IPAddressPool',
        metadata: { name: POOL },
        spec: { addresses: ['2001:db8:2400::/120'] },
      },
    });
    await core.createNamespacedService({
      namespace: ns,
      body: {
        metadata: { name: 'web' },
        spec: {
          type: 'LoadBalancer',
          loadBalancerClass: CLASS,
          ipFamilyPolicy: 'SingleStack',
          ipFamilies: ['IPv6'],
          ports: [{ port: 80 }],
        },
      },
    });
    proc = child();
    let log = '';
    proc.stdout?.on('data', (d) => {
      log += d;
    });
    proc.stderr?.on('data', (d) => {
      log += d;
    });
    let ip: string | undefined;
    for (let i = 0; i < 150 && !ip; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const svc = await core.readNamespacedService({ namespace: ns, name: 'web' });
      ip = svc.status?.loadBalancer?.ingress?.[0]?.ip;
    }
    expect(ip, `controller log:\n${log}`).toBe('2001:db8:2400::');
    // The decision is logged right after the write that made it visible.
    for (let i = 0; i < 50 && !log.includes('"action":"assigned"'); i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(log).toContain('"action":"assigned"');
  });
});
