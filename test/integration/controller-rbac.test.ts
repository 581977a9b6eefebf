import { rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { AuthorizationV1Api, CoordinationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyObjects, renderedControllerRbac } from '../../lab/chart-rbac.js';
import { kubeconfigYaml } from '../../lab/pki.js';
import { type ControllerHandle, ingressIPs, startController, TestObjects } from '../support/controller.js';
import { adminKubeConfig, controlPlaneAvailable, uniqueName } from '../support/kube.js';

// The controller's RBAC in the chart is the least it needs: proven by running it as a
// ServiceAccount bound to exactly those rules, and by checking what that account may not do.
const CLASS = 'heraldlb.io/test-rbac';
const POOL = uniqueName('rbac');

async function serviceAccountKubeconfig(admin: KubeConfig, ns: string, name: string): Promise<string> {
  const core = admin.makeApiClient(CoreV1Api);
  const tr = await core.createNamespacedServiceAccountToken({
    namespace: ns,
    name,
    body: { spec: { expirationSeconds: 3600, audiences: [] } },
  });
  const cluster = admin.getCurrentCluster();
  // The parsed admin kubeconfig, not its text: the lab writes kubeconfigs as JSON.
  const ca = cluster?.caData ?? '';
  const dir = await mkdtemp(join(tmpdir(), 'heraldlb-rbac-'));
  const path = join(dir, 'kubeconfig');
  const yaml = kubeconfigYaml(cluster?.server ?? '', Buffer.from(ca, 'base64').toString(), {
    name,
    token: tr.status?.token ?? '',
  });
  writeFileSync(path, yaml, { mode: 0o600 });
  return path;
}

describe.runIf(controlPlaneAvailable())('controller RBAC (chart) is enough, and no more', () => {
  const admin = adminKubeConfig();
  const objects = new TestObjects(admin);
  let ns = '';
  let saPath = '';
  let controller: ControllerHandle | undefined;

  beforeAll(async () => {
    ns = await objects.namespace('hlb-rbac');
    await applyObjects(admin, renderedControllerRbac(ns));
    saPath = await serviceAccountKubeconfig(admin, ns, 'heraldlb-controller');
  });

  afterAll(async () => {
    await controller?.kill();
    await objects.cleanup();
    // The ServiceAccount's token kubeconfig: a credential, never left behind.
    if (saPath) rmSync(dirname(saPath), { recursive: true, force: true });
  });

  it('serves a Service end to end as the ServiceAccount, with no request denied', async () => {
    await objects.createPool(POOL, { addresses: ['2001:db8:2401::/120'] });
    await objects.createService(ns, 'web', {
      loadBalancerClass: CLASS,
      families: ['IPv6'],
      policy: 'SingleStack',
    });
    controller = startController({
      kubeconfig: saPath,
      args: [`--load-balancer-class=${CLASS}`, `--lease-namespace=${ns}`, '--metrics-addr='],
    });
    const svc = await objects.served(ns, 'web');
    expect(ingressIPs(svc)).toEqual(['2001:db8:2401::']);
    expect(svc.metadata?.annotations?.['heraldlb.io/ip-allocated-from-pool']).toBe(POOL);
    await objects.poolWhere(POOL, (p) => expect(p.status?.assignedIPv6).toBe(1));
    await objects.event(ns, 'web', 'IPAllocated');
    // Leader election worked in the release namespace only.
    const lease = await admin
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ namespace: ns, name: 'heraldlb-controller' });
    expect(lease.spec?.holderIdentity).toBeTruthy();
    const denied = controller.logs().filter((l) => /forbidden|\b403\b/i.test(JSON.stringify(l)));
    expect(denied).toEqual([]);
  });

  it.each([
    ['delete', 'services', '', 'any'],
    ['create', 'services', '', 'any'],
    ['update', 'services', '', 'any'],
    ['create', 'ipaddresspools', 'heraldlb.io', ''],
    ['delete', 'ipaddresspools', 'heraldlb.io', ''],
    ['get', 'secrets', '', 'any'],
    ['list', 'pods', '', 'any'],
    ['update', 'leases', 'coordination.k8s.io', 'default'],
  ])('may not %s %s (group "%s")', async (verb, resource, group, where) => {
    const sa = new KubeConfig();
    sa.loadFromFile(saPath);
    const review = await sa.makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({
      body: {
        spec: {
          resourceAttributes: { verb, resource, group, namespace: where === 'any' ? ns : where || undefined },
        },
      },
    });
    expect(review.status?.allowed).toBe(false);
  });
});
