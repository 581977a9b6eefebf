// client-node's KubeConfig and typed API clients, for the lab, the tests and the benchmarks
// (it lives in lab/ because nothing of the product may use it).
// The product's programs do not use this file: they reach the API through connection.ts and
// rest.ts, because importing client-node costs ~80 MiB of memory. Loading a kubeconfig reads
// files, so it happens in loadKubeConfig(), never in a constructor or at import.
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  EventsV1Api,
  KubeConfig,
} from '@kubernetes/client-node';
import { KubeError } from '../kube/errors.js';
import { withKeepAlive } from '../kube/keep-alive.js';

export interface KubeConfigSource {
  /** Path to a kubeconfig file; when absent, the in-cluster service account is used. */
  kubeconfigPath?: string;
  /** Context to use from the file (default: its current-context). */
  context?: string;
}

/** Loads a KubeConfig from a file or the in-cluster service account; errors carry code KUBECONFIG. */
export function loadKubeConfig(src: KubeConfigSource = {}): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (src.kubeconfigPath) kc.loadFromFile(src.kubeconfigPath);
    else kc.loadFromCluster();
    if (src.context) kc.setCurrentContext(src.context);
  } catch (err) {
    const where = src.kubeconfigPath ?? 'in-cluster service account';
    throw new KubeError('KUBECONFIG', `cannot load kubeconfig from ${where}`, err);
  }
  if (!kc.getCurrentCluster()) {
    throw new KubeError(
      'KUBECONFIG',
      `kubeconfig ${src.kubeconfigPath ?? '(in-cluster)'} has no current cluster`,
    );
  }
  return withKeepAlive(kc);
}

/** The typed clients heraldlb uses; building them does no I/O. */
export interface KubeClients {
  kubeConfig: KubeConfig;
  core: CoreV1Api;
  coordination: CoordinationV1Api;
  custom: CustomObjectsApi;
  discovery: DiscoveryV1Api;
  events: EventsV1Api;
}

export function makeClients(kc: KubeConfig): KubeClients {
  return {
    kubeConfig: kc,
    core: kc.makeApiClient(CoreV1Api),
    coordination: kc.makeApiClient(CoordinationV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    discovery: kc.makeApiClient(DiscoveryV1Api),
    events: kc.makeApiClient(EventsV1Api),
  };
}
