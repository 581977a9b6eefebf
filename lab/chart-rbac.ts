// The chart's controller RBAC, rendered for a namespace and applied: the RBAC test proves it is
// enough and no more, and the controller benchmark runs under it, as the controller does in a
// cluster (a ServiceAccount token, not an admin certificate).
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type KubeConfig, type KubernetesObject, KubernetesObjectApi } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';

/** The ServiceAccount the chart's controller runs as. */
export const CONTROLLER_SERVICE_ACCOUNT = 'heraldlb-controller';

function chartFile(rel: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4 && !existsIn(dir); i++) dir = resolve(dir, '..');
  return join(dir, 'charts', 'heraldlb', rel);
}

function existsIn(dir: string): boolean {
  try {
    readFileSync(join(dir, 'charts', 'heraldlb', 'templates', 'rbac-controller.yaml'));
    return true;
  } catch {
    return false;
  }
}

/** The controller's ServiceAccount, ClusterRole, Role and bindings for `namespace`. */
export function renderedControllerRbac(namespace: string): KubernetesObject[] {
  const text = readFileSync(chartFile('templates/rbac-controller.yaml'), 'utf8');
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
