import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  ApiextensionsV1Api,
  AppsV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  type KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { readCrdFiles } from '../../lab/gen-chart-crds.js';
import { parseKeyRing } from '../../speaker/membership/keys.js';
import { TestObjects } from '../support/controller.js';
import { CHART_DIR, Helm } from '../support/helm.js';
import { adminKubeConfig, controlPlaneAvailable, kubeconfigPath, uniqueName } from '../support/kube.js';

// `helm install`, `upgrade` and `uninstall` against the real kube-apiserver of this run. There
// is no kubelet or kube-controller-manager here, so no Pod runs (no --wait): what is proven is
// that the API server accepts every object, that an upgrade keeps the heartbeat key, that
// uninstall removes what the release made but keeps the CRDs, and that the installed RBAC
// binds the ServiceAccounts the workloads run as.
const helm = Helm.forTests('chart');
const RELEASE = 'heraldlb';
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const CLUSTER_RBAC = ['heraldlb-controller', 'heraldlb-speaker'];
const isNotFound = (err: unknown) => (err as { code?: number }).code === 404;

/** The names of the CRDs in crds/. */
function crdNames(): string[] {
  return [...readCrdFiles(join(CHART_DIR, '..', '..', 'crds')).values()].map(
    (t) => (parse(t) as { metadata: { name: string } }).metadata.name,
  );
}

async function gone(p: Promise<unknown>): Promise<boolean> {
  try {
    await p;
    return false;
  } catch (err) {
    if (isNotFound(err)) return true;
    throw err;
  }
}

/**
 * The run's global setup applied crds/ with a plain client, and the RBAC tests apply the
 * cluster roles the same way: hand the CRDs over to this release (Helm adopts an object that
 * carries its ownership metadata, the way a user moves kubectl-applied CRDs under the chart),
 * and remove leftover cluster roles, which Helm would refuse to take over.
 */
async function prepareCluster(kc: KubeConfig, ns: string): Promise<void> {
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  for (const name of crdNames()) {
    const body = {
      metadata: {
        labels: { 'app.kubernetes.io/managed-by': 'Helm' },
        annotations: { 'meta.helm.sh/release-name': RELEASE, 'meta.helm.sh/release-namespace': ns },
      },
    };
    await ext.patchCustomResourceDefinition({ name, body }, mergePatch);
  }
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  for (const name of CLUSTER_RBAC) {
    await rbac.deleteClusterRole({ name }).catch((e) => (isNotFound(e) ? undefined : Promise.reject(e)));
    await rbac
      .deleteClusterRoleBinding({ name })
      .catch((e) => (isNotFound(e) ? undefined : Promise.reject(e)));
  }
}

describe.runIf(controlPlaneAvailable() && helm)('chart: helm install, upgrade, uninstall', () => {
  const kc = adminKubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  const objects = new TestObjects(kc);
  const POOL = uniqueName('chart');
  let ns = '';
  const h = (...args: string[]) => helm!.ok([...args, '--namespace', ns], kubeconfigPath());

  beforeAll(async () => {
    ns = await objects.namespace('hlb-chart');
    await prepareCluster(kc, ns);
  });

  afterAll(async () => {
    if (ns) helm!.run(['uninstall', RELEASE, '--namespace', ns], kubeconfigPath());
    await objects.cleanup();
    helm!.dispose();
  });

  it('install creates every object, with the CRDs taken over by the release', async () => {
    const out = h('install', RELEASE, CHART_DIR, '--set=image.repository=heraldlb.test/heraldlb');
    expect(out).toContain('STATUS: deployed');
    // NOTES.txt: the next step and how to check it.
    expect(out).toContain('kind: IPAddressPool');
    expect(out).toContain('kubectl get l2announcements -A');

    const d = await apps.readNamespacedDeployment({ namespace: ns, name: 'heraldlb-controller' });
    expect(d.spec?.replicas).toBe(2);
    expect(d.spec?.template.spec?.containers[0]?.image).toBe('heraldlb.test/heraldlb:0.1.0');
    const ds = await apps.readNamespacedDaemonSet({ namespace: ns, name: 'heraldlb-speaker' });
    expect(ds.spec?.template.spec?.hostNetwork).toBe(true);
    await core.readNamespacedServiceAccount({ namespace: ns, name: 'heraldlb-controller' });
    await core.readNamespacedServiceAccount({ namespace: ns, name: 'heraldlb-speaker' });
    for (const name of CLUSTER_RBAC) {
      await rbac.readClusterRole({ name });
      await rbac.readClusterRoleBinding({ name });
    }
    await rbac.readNamespacedRole({ namespace: ns, name: 'heraldlb-speaker-presence' });
    await rbac.readNamespacedRole({ namespace: ns, name: 'heraldlb-controller-leader-election' });
    const secret = await core.readNamespacedSecret({ namespace: ns, name: 'heraldlb-heartbeat' });
    expect(Buffer.from(secret.data?.keys ?? '', 'base64').toString()).toMatch(/^k1:[A-Za-z0-9+/]{43}=\n$/);
    const crd = await ext.readCustomResourceDefinition({ name: 'ipaddresspools.heraldlb.io' });
    expect(crd.metadata?.annotations?.['helm.sh/resource-policy']).toBe('keep');
    expect(crd.metadata?.labels?.['helm.sh/chart']).toBe('heraldlb-0.1.0');
    // The CRDs still serve: a pool is admitted (and survives the uninstall below).
    await objects.createPool(POOL, { addresses: ['2001:db8:1c5::/120'] });
  });

  it('binds the ServiceAccounts the workloads run as to their rules', async () => {
    const authz = kc.makeApiClient(AuthorizationV1Api);
    const may = async (
      sa: string,
      verb: string,
      resource: string,
      group = '',
      namespace?: string,
      sub?: string,
    ) => {
      const r = await authz.createSubjectAccessReview({
        body: {
          spec: {
            user: `system:serviceaccount:${ns}:${sa}`,
            groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
            resourceAttributes: { verb, resource, group, namespace, subresource: sub },
          },
        },
      });
      return r.status?.allowed === true;
    };
    expect(await may('heraldlb-controller', 'patch', 'services', '', 'default', 'status')).toBe(true);
    expect(await may('heraldlb-controller', 'update', 'leases', 'coordination.k8s.io', ns)).toBe(true);
    expect(await may('heraldlb-speaker', 'patch', 'leases', 'coordination.k8s.io', ns)).toBe(true);
    expect(await may('heraldlb-speaker', 'create', 'l2announcements', 'heraldlb.io', 'default')).toBe(true);
    expect(await may('heraldlb-speaker', 'patch', 'leases', 'coordination.k8s.io', 'default')).toBe(false);
    expect(await may('heraldlb-speaker', 'get', 'secrets', '', ns)).toBe(false);
  });

  it('upgrade applies new values and keeps the heartbeat key', async () => {
    const before = (await core.readNamespacedSecret({ namespace: ns, name: 'heraldlb-heartbeat' })).data
      ?.keys;
    const out = h(
      'upgrade',
      RELEASE,
      CHART_DIR,
      '--set=image.repository=heraldlb.test/heraldlb',
      '--set=controller.logLevel=debug',
    );
    expect(out).toContain('REVISION: 2');
    const d = await apps.readNamespacedDeployment({ namespace: ns, name: 'heraldlb-controller' });
    expect(d.spec?.template.spec?.containers[0]?.args).toContain('--log-level=debug');
    const after = (await core.readNamespacedSecret({ namespace: ns, name: 'heraldlb-heartbeat' })).data?.keys;
    expect(after).toBe(before);
  });

  it('keeps a key rotated in the Secret across an upgrade, in the form the speaker reads', async () => {
    const read = async () =>
      Buffer.from(
        (await core.readNamespacedSecret({ namespace: ns, name: 'heraldlb-heartbeat' })).data?.keys ?? '',
        'base64',
      ).toString();
    const generated = await read();
    expect(parseKeyRing(generated).signing.id).toBe('k1');
    // docs/install.md's rotation, step 1: the new key as a second line.
    const rotated = `${generated.trim()}\nk2:${randomBytes(32).toString('base64')}\n`;
    await core.patchNamespacedSecret(
      {
        namespace: ns,
        name: 'heraldlb-heartbeat',
        body: { data: { keys: Buffer.from(rotated).toString('base64') } },
      },
      mergePatch,
    );
    h('upgrade', RELEASE, CHART_DIR, '--set=image.repository=heraldlb.test/heraldlb');
    expect(await read()).toBe(rotated);
    expect([...parseKeyRing(rotated).verifying.keys()]).toEqual(['k1', 'k2']);
  });

  it('an upgrade with crds.enabled=false keeps the CRDs and pools; turning it back on takes them over again', async () => {
    const image = '--set=image.repository=heraldlb.test/heraldlb';
    h('upgrade', RELEASE, CHART_DIR, image, '--set=crds.enabled=false');
    expect(h('get', 'manifest', RELEASE)).not.toContain('kind: CustomResourceDefinition');
    for (const name of crdNames()) await ext.readCustomResourceDefinition({ name });
    expect((await objects.getPool(POOL)).spec?.addresses).toEqual(['2001:db8:1c5::/120']);
    h('upgrade', RELEASE, CHART_DIR, image);
    expect(h('get', 'manifest', RELEASE)).toContain('kind: CustomResourceDefinition');
  });

  it('uninstall removes what the release made and keeps the CRDs and the pools', async () => {
    h('uninstall', RELEASE);
    expect(await gone(apps.readNamespacedDeployment({ namespace: ns, name: 'heraldlb-controller' }))).toBe(
      true,
    );
    expect(await gone(apps.readNamespacedDaemonSet({ namespace: ns, name: 'heraldlb-speaker' }))).toBe(true);
    expect(await gone(core.readNamespacedSecret({ namespace: ns, name: 'heraldlb-heartbeat' }))).toBe(true);
    expect(await gone(core.readNamespacedServiceAccount({ namespace: ns, name: 'heraldlb-speaker' }))).toBe(
      true,
    );
    for (const name of CLUSTER_RBAC) expect(await gone(rbac.readClusterRole({ name }))).toBe(true);
    for (const name of crdNames()) await ext.readCustomResourceDefinition({ name });
    expect((await objects.getPool(POOL)).spec?.addresses).toEqual(['2001:db8:1c5::/120']);
  });

  it('refuses a namespace whose Pod Security level would reject the speaker, naming the fix', async () => {
    const strict = await objects.namespace('hlb-chart-psa', {
      'pod-security.kubernetes.io/enforce': 'baseline',
    });
    const r = helm!.run(['install', RELEASE, CHART_DIR, '--namespace', strict], kubeconfigPath());
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      `kubectl label namespace ${strict} pod-security.kubernetes.io/enforce=privileged`,
    );
    // Nothing of it was created.
    expect(await gone(apps.readNamespacedDaemonSet({ namespace: strict, name: 'heraldlb-speaker' }))).toBe(
      true,
    );
    const generic = KubernetesObjectApi.makeApiClient(kc);
    expect(
      await gone(
        generic.read({
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'heraldlb-heartbeat', namespace: strict },
        }),
      ),
    ).toBe(true);
  });
});
