import type { TestProject } from 'vitest/node';
import { startControlPlane } from '../../lab/control-plane.js';
import { applyCrdsFrom } from './crds.js';
import { missing, refuseOrWarn } from './prerequisites.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin kubeconfig of this run's control plane; '' when the tier is skipped. */
    kubeconfig: string;
    controlPlaneDir: string;
  }
}

// One real etcd + kube-apiserver for the whole integration tier, with our CRDs installed.
export default async function setup(project: TestProject) {
  project.provide('kubeconfig', '');
  project.provide('controlPlaneDir', '');
  if (!refuseOrWarn('integration', missing({ go: true, commands: ['openssl'] }))) return;
  const started = Date.now();
  const cp = await startControlPlane({ authorization: 'RBAC' });
  try {
    await applyCrdsFrom(cp.kubeconfigPath);
  } catch (err) {
    await cp.stop();
    throw err;
  }
  process.stderr.write(`control plane ${cp.server} ready in ${Date.now() - started} ms (dir ${cp.dir})\n`);
  project.provide('kubeconfig', cp.kubeconfigPath);
  project.provide('controlPlaneDir', cp.dir);
  return async () => cp.stop();
}
