import { KubeConfig } from '@kubernetes/client-node';
import { applyCrds } from '../../lab/crds.js';

// One installer for the lab and the tests: lab/crds.ts.
export { applyCrds };

export async function applyCrdsFrom(kubeconfigPath: string): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  await applyCrds(kc);
}
