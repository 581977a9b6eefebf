/** The reconciler's Writer and EventSink over a real API server. */
import {
  type CoreV1Api,
  type CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type V1Service,
} from '@kubernetes/client-node';
import type { IPAddressPool } from '../api/crd-types.js';
import { GROUP, IPADDRESSPOOL_PLURAL, VERSION } from '../api/crd-types.js';
import { classifyApiError } from '../kube/errors.js';
import type { EventRecorder } from '../kube/events.js';
import type { EventSink, Writer } from './reconciler.js';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** A Service deleted between read and write is not an error: its deletion event follows. */
async function unlessGone<T>(fallback: T, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (classifyApiError(err) === 'gone') return fallback;
    throw err;
  }
}

export function apiWriter(core: CoreV1Api, custom: CustomObjectsApi): Writer {
  const ref = (s: V1Service) => ({ name: s.metadata?.name ?? '', namespace: s.metadata?.namespace ?? '' });
  return {
    patchServiceStatus: (svc, body) =>
      unlessGone(svc, () => core.patchNamespacedServiceStatus({ ...ref(svc), body }, mergePatch)),
    patchServiceMetadata: (svc, body) =>
      unlessGone(svc, () => core.patchNamespacedService({ ...ref(svc), body }, mergePatch)),
    patchPoolStatus: (pool, status) =>
      unlessGone(
        pool,
        async () =>
          (await custom.patchClusterCustomObjectStatus(
            {
              group: GROUP,
              version: VERSION,
              plural: IPADDRESSPOOL_PLURAL,
              name: pool.metadata.name ?? '',
              // Replace the whole status: a merge patch would keep stale condition entries.
              body: { status: { ...status, conditions: status.conditions ?? [] } },
            },
            mergePatch,
          )) as IPAddressPool,
      ),
  };
}

export function apiEvents(recorder: EventRecorder): EventSink {
  return {
    service: (svc, type, reason, message) =>
      recorder.record(
        {
          kind: 'Service',
          apiVersion: 'v1',
          name: svc.metadata?.name,
          namespace: svc.metadata?.namespace,
          uid: svc.metadata?.uid,
        },
        type,
        reason,
        message,
      ),
    pool: (pool, type, reason, message) =>
      recorder.record(
        {
          kind: 'IPAddressPool',
          apiVersion: `${GROUP}/${VERSION}`,
          name: pool.metadata.name,
          // Events of a cluster-scoped object live in `default`, as kubectl expects.
          namespace: 'default',
          uid: pool.metadata.uid as string | undefined,
        },
        type,
        reason,
        message,
      ),
  };
}
