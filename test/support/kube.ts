import { KubeConfig } from '@kubernetes/client-node';
import { inject } from 'vitest';

export { applyCrds } from './crds.js';

/** True when this run has a control plane (false only when the tier was skipped loudly). */
export function controlPlaneAvailable(): boolean {
  return inject('kubeconfig') !== '';
}

export function kubeconfigPath(): string {
  const p = inject('kubeconfig');
  if (!p) throw new Error('no control plane in this run (integration tier skipped)');
  return p;
}

export function adminKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath());
  return kc;
}

/** A name no other test in this run uses, valid as a DNS-1123 label. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}
