// The chart's RBAC, rendered for a namespace and applied: the RBAC tests prove it is enough and
// no more, and the controller benchmark runs under it, as the controller does in a cluster (a
// ServiceAccount token, not an admin certificate).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type KubeConfig, type KubernetesObject, KubernetesObjectApi } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from './control-plane.js';

/** The ServiceAccounts the chart's programs run as. */
export const CONTROLLER_SERVICE_ACCOUNT = 'heraldlb-controller';
export const SPEAKER_SERVICE_ACCOUNT = 'heraldlb-speaker';

/**
 * A chart RBAC template rendered for `namespace` without helm: those files use no template
 * but the release namespace (test/unit/chart-template.test.ts proves helm renders the same).
 */
export function renderRbacTemplate(text: string, namespace: string): KubernetesObject[] {
  const rendered = text.replaceAll('{{ .Release.Namespace }}', namespace);
  if (rendered.includes('{{')) {
    throw new Error('chart RBAC template uses more than {{ .Release.Namespace }}: render it with helm');
  }
  return parseAllDocuments(rendered)
    .map((d) => d.toJSON() as KubernetesObject | null)
    .filter((o): o is KubernetesObject => o !== null);
}

function rbacTemplate(file: string): string {
  return readFileSync(join(repoRoot(), 'charts', 'heraldlb', 'templates', file), 'utf8');
}

/** The controller's ServiceAccount, ClusterRole, Role and bindings for `namespace`. */
export function renderedControllerRbac(namespace: string): KubernetesObject[] {
  return renderRbacTemplate(rbacTemplate('rbac-controller.yaml'), namespace);
}

/** The speaker's ServiceAccount, ClusterRole, presence-Lease Role and bindings for `namespace`. */
export function renderedSpeakerRbac(namespace: string): KubernetesObject[] {
  return renderRbacTemplate(rbacTemplate('rbac-speaker.yaml'), namespace);
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
