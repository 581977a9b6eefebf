// The chart's controller RBAC, rendered for a namespace and applied: the RBAC test proves it is
// enough and no more, and the controller benchmark runs under it, as the controller does in a
// cluster (a ServiceAccount token, not an admin certificate).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type KubeConfig, type KubernetesObject, KubernetesObjectApi } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from './control-plane.js';

/** The ServiceAccount the chart's controller runs as. */
export const CONTROLLER_SERVICE_ACCOUNT = 'heraldlb-controller';

/** The controller's ServiceAccount, ClusterRole, Role and bindings for `namespace`. */
export function renderedControllerRbac(namespace: string): KubernetesObject[] {
  const text = readFileSync(
    join(repoRoot(), 'charts', 'heraldlb', 'templates', 'rbac-controller.yaml'),
    'utf8',
  );
  return parseAllDocuments(text.replaceAll('{{ .Release.Namespace }}', namespace)).map(
    (d) => d.toJSON() as KubernetesObject,
  );
}

/** Creates each object, replacing it where it exists (cluster-scoped ones outlive a namespace). */
export async function applyObjects(kc: KubeConfig, objs: readonly KubernetesObject[]): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const o of objs) {
    try {
      await api.create(o);
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
      await api.replace(o);
    }
  }
}
