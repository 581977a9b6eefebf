/** The reconciler's Writer and EventSink over a real API server. */
import type { V1Service } from '@kubernetes/client-node';
import type { IPAddressPool } from '../api/crd-types.js';
import { GROUP, IPADDRESSPOOL_PLURAL, VERSION } from '../api/crd-types.js';
import type { Connection } from '../kube/connection.js';
import { classifyApiError } from '../kube/errors.js';
import type { EventRecorder } from '../kube/events.js';
import { sendJson } from '../kube/rest.js';
import { trimObject } from '../kube/trim.js';
import type { EventSink, Writer } from './reconciler.js';
import { serviceProjection } from './service-cache.js';

/** A Service deleted between read and write is not an error: its deletion event follows. */
async function unlessGone<T>(fallback: T, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (classifyApiError(err) === 'gone') return fallback;
    throw err;
  }
}

const servicePath = (s: V1Service) =>
  `/api/v1/namespaces/${encodeURIComponent(s.metadata?.namespace ?? '')}/services/${encodeURIComponent(s.metadata?.name ?? '')}`;

/** Names our writes in managedFields, so `kubectl get -o yaml --show-managed-fields` shows them. */
export const FIELD_MANAGER = 'heraldlb-controller';

export function apiWriter(conn: Connection): Writer {
  const patch = <T>(path: string, body: object) =>
    sendJson<T>(conn, 'PATCH', path, body, { query: { fieldManager: FIELD_MANAGER } });
  // Answers are kept until the cache catches up, so in the cache's form.
  const patchService = async (path: string, body: object) =>
    serviceProjection(await patch<V1Service>(path, body));
  return {
    patchServiceStatus: (svc, body) =>
      unlessGone(svc, () => patchService(`${servicePath(svc)}/status`, body)),
    patchServiceMetadata: (svc, body) => unlessGone(svc, () => patchService(servicePath(svc), body)),
    patchPoolStatus: (pool, status) =>
      unlessGone(pool, async () =>
        trimObject(
          await patch<IPAddressPool>(
            `/apis/${GROUP}/${VERSION}/${IPADDRESSPOOL_PLURAL}/${encodeURIComponent(pool.metadata.name ?? '')}/status`,
            // Replace the whole status: a merge patch would keep stale condition entries.
            { status: { ...status, conditions: status.conditions ?? [] } },
          ),
        ),
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
