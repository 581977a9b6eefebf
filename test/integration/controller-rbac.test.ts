import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  AuthorizationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { kubeconfigYaml } from '../../lab/pki.js';
import { adminKubeConfig, controlPlaneAvailable, kubeconfigPath, uniqueName } from '../support/kube.js';

// The controller's RBAC in the chart is the least it needs: proven by running it as a
// ServiceAccount bound to exactly those rules, and by checking what that account may not do.
const root = resolve(import.meta.dirname, '..', '..');
const CLASS = 'heraldlb.io/test-rbac';
const POOL = uniqueName('rbac');
const GROUP = { group: 'heraldlb.io', version: 'v1beta1', plural: 'ipaddresspools' };

function renderedRbac(namespace: string): KubernetesObject[] {
  const text = readFileSync(join(root, 'charts/heraldlb/templates/rbac-controller.yaml'), 'utf8');
  return parseAllDocuments(text.replaceAll('{{ .Release.Namespace }}', namespace)).map(
    (d) => d.toJSON() as KubernetesObject,
  );
}

async function applyAll(kc: KubeConfig, objs: KubernetesObject[]): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const o of objs) {
    try {
      await api.create(o);
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
      await api.replace(o); // cluster-scoped rules may exist from an earlier run
    }
  }
}

async function serviceAccountKubeconfig(admin: KubeConfig, ns: string, name: string): Promise<string> {
  const core = admin.makeApiClient(CoreV1Api);
  const tr = await core.createNamespacedServiceAccountToken({
    namespace: ns,
    name,
    body: { spec: { expirationSeconds: 3600, audiences: [] } },
  });
  const cluster = admin.getCurrentCluster();
  const ca = readFileSync(kubeconfigPath(), 'utf8').match(/certificate-authority-data: (\S+)/)?.[1] ?? '';
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
  const core = admin.makeApiClient(CoreV1Api);
  const custom = admin.makeApiClient(CustomObjectsApi);
  const ns = uniqueName('hlb-rbac');
  let saPath = '';
  let proc: ChildProcess | undefined;
  let log = '';

  beforeAll(async () => {
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await applyAll(admin, renderedRbac(ns));
    saPath = await serviceAccountKubeconfig(admin, ns, 'heraldlb-controller');
  });

  afterAll(async () => {
    proc?.kill('SIGKILL');
    await custom.deleteClusterCustomObject({ ...GROUP, name: POOL }).catch(() => undefined);
  });

  it('serves a Service end to end as the ServiceAccount, with no request denied', async () => {
    await custom.createClusterCustomObject({
      ...GROUP,
      body: {
        apiVersion: 'heraldlb.io/v1beta1',
        kind: 'IPAddressPool',
        metadata: { name: POOL },
        spec: { addresses: ['2001:db8:2401::/120'] },
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
    proc = spawn(
      process.execPath,
      [
        join(root, 'dist/controller/main.js'),
        `--kubeconfig=${saPath}`,
        `--load-balancer-class=${CLASS}`,
        `--lease-namespace=${ns}`,
        '--metrics-addr=',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    proc.stdout?.on('data', (d) => {
      log += d;
    });
    proc.stderr?.on('data', (d) => {
      log += d;
    });
    const done = async () => {
      const svc = await core.readNamespacedService({ namespace: ns, name: 'web' });
      const pool = (await custom.getClusterCustomObject({ ...GROUP, name: POOL })) as {
        status?: { assignedIPv6?: number };
      };
      const events = await core.listNamespacedEvent({ namespace: ns });
      return (
        svc.status?.loadBalancer?.ingress?.[0]?.ip === '2001:db8:2401::' &&
        svc.metadata?.annotations?.['heraldlb.io/ip-allocated-from-pool'] === POOL &&
        pool.status?.assignedIPv6 === 1 &&
        events.items.some((e) => e.reason === 'IPAllocated')
      );
    };
    let ok = false;
    for (let i = 0; i < 100 && !ok; i++) {
      ok = await done();
      if (!ok) await new Promise((r) => setTimeout(r, 150));
    }
    expect(ok, `controller log:\n${log}`).toBe(true);
    // Leader election worked in the release namespace only.
    const lease = await admin
      .makeApiClient((await import('@kubernetes/client-node')).CoordinationV1Api)
      .readNamespacedLease({ namespace: ns, name: 'heraldlb-controller' });
    expect(lease.spec?.holderIdentity).toBeTruthy();
    expect(log).not.toMatch(/forbidden|\b403\b/i);
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
          resourceAttributes: {
            verb,
            resource,
            group,
            namespace: where === 'any' ? ns : where || undefined,
          },
        },
      },
    });
    expect(review.status?.allowed).toBe(false);
  });
});
