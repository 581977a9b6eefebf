import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  ApiextensionsV1Api,
  KubeConfig,
  loadYaml,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';

const crdDir = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', '..', 'crds');

export function crdObjects(): V1CustomResourceDefinition[] {
  return (
    readdirSync(crdDir)
      .filter((f) => f.endsWith('.yaml'))
      .sort()
      // loadYaml maps `x-kubernetes-*` keys to client-node's field names; a plain YAML parse
      // would have them dropped on serialization, CEL rules included.
      .map((f) => loadYaml<V1CustomResourceDefinition>(readFileSync(join(crdDir, f), 'utf8')))
  );
}

/** Creates or replaces every CRD in crds/ and waits until each is Established. */
export async function applyCrds(kc: KubeConfig): Promise<void> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  for (const crd of crdObjects()) {
    const name = crd.metadata?.name ?? '';
    try {
      const cur = await api.readCustomResourceDefinition({ name });
      crd.metadata = { ...crd.metadata, resourceVersion: cur.metadata?.resourceVersion };
      await api.replaceCustomResourceDefinition({ name, body: crd });
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
      await api.createCustomResourceDefinition({ body: crd });
    }
    for (let i = 0; i < 300; i++) {
      const cur = await api.readCustomResourceDefinition({ name });
      if (cur.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (i === 299) throw new Error(`CRD ${name} not Established after 30 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export async function applyCrdsFrom(kubeconfigPath: string): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  await applyCrds(kc);
}
