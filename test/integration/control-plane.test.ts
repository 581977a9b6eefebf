import { existsSync } from 'node:fs';
import {
  AuthorizationV1Api,
  CoreV1Api,
  KubeConfig,
  RbacAuthorizationV1Api,
  VersionApi,
} from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { alive, startControlPlane } from '../../lab/control-plane.js';
import { adminKubeConfig, controlPlaneAvailable, uniqueName } from '../support/kube.js';

describe.runIf(controlPlaneAvailable())('control plane', () => {
  it('serves the pinned Kubernetes minor with our CRDs installed', async () => {
    const kc = adminKubeConfig();
    const v = await kc.makeApiClient(VersionApi).getCode();
    expect(v.gitVersion).toBe('v1.36.3');
    const groups = await kc.makeApiClient(CoreV1Api).getAPIResources();
    expect(groups.resources.some((r) => r.name === 'services')).toBe(true);
  });

  it('enforces RBAC for a ServiceAccount, and honours a RoleBinding', async () => {
    // A second, short-lived control plane: this also proves stop() leaves nothing behind.
    const cp = await startControlPlane({ authorization: 'RBAC' });
    try {
      const ns = uniqueName('rbac');
      const saPath = await cp.serviceAccountKubeconfig(ns, 'reader');
      const sa = new KubeConfig();
      sa.loadFromFile(saPath);
      const review = await sa.makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({
        body: { spec: { resourceAttributes: { verb: 'list', resource: 'services', namespace: ns } } },
      });
      expect(review.status?.allowed).toBe(false);
      await expect(
        sa.makeApiClient(CoreV1Api).listNamespacedService({ namespace: ns }),
      ).rejects.toMatchObject({
        code: 403,
      });

      const admin = new KubeConfig();
      admin.loadFromFile(cp.kubeconfigPath);
      const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
      await rbac.createNamespacedRole({
        namespace: ns,
        body: {
          metadata: { name: 'svc-read' },
          rules: [{ apiGroups: [''], resources: ['services'], verbs: ['list'] }],
        },
      });
      await rbac.createNamespacedRoleBinding({
        namespace: ns,
        body: {
          metadata: { name: 'svc-read' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'svc-read' },
          subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: ns }],
        },
      });
      const list = await sa.makeApiClient(CoreV1Api).listNamespacedService({ namespace: ns });
      expect(list.items).toEqual([]);
    } finally {
      await cp.stop();
    }
    expect(alive(cp.pids.apiserver)).toBe(false);
    expect(alive(cp.pids.etcd)).toBe(false);
    expect(existsSync(cp.dir)).toBe(false);
  });
});
