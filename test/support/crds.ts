import { KubeConfig } from '@kubernetes/client-node';
import { applyCrds as applyLabCrds } from '../../lab/crds.js';

/** Creates or replaces every CRD in crds/ and waits until each is Established (the lab's
 * installer: one implementation for the lab and the tests). */
export async function applyCrds(kc: KubeConfig): Promise<void> {
  await applyLabCrds(kc);
}

export async function applyCrdsFrom(kubeconfigPath: string): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  await applyCrds(kc);
}
