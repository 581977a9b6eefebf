/**
 * The reconciler's Writer and EventSink over a real API server. Every write of a term goes
 * through the term's fence (kube/term.ts): none starts after the term ended, none outlives the
 * time the Lease is surely ours, and each names the resourceVersion its decision was computed
 * from, so the API server refuses it (409) if the object changed since.
 */
import type { V1Service } from '@kubernetes/client-node';
import type { IPAddressPool } from '../api/crd-types.js';
import { GROUP, IPADDRESSPOOL_PLURAL, VERSION } from '../api/crd-types.js';
import type { Connection } from '../kube/connection.js';
import { classifyApiError, outcomeUnknown } from '../kube/errors.js';
import type { EventRecorder } from '../kube/events.js';
import { sendJson } from '../kube/rest.js';
import type { LeadershipTerm } from '../kube/term.js';
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

type Versioned = { metadata?: { resourceVersion?: string } };

/** A merge patch body made conditional on `base`'s resourceVersion (409 when it moved on). */
function conditional(base: Versioned, body: { metadata?: object; status?: unknown }): object {
  const resourceVersion = base.metadata?.resourceVersion;
  return resourceVersion ? { ...body, metadata: { ...body.metadata, resourceVersion } } : body;
}

export function apiWriter(conn: Connection, term: LeadershipTerm): Writer {
  // `handOn`: the answer's resourceVersion goes into the term's writtenThrough, which the next
  // leader's Service cache must reach before it allocates. Only Service writes: that cache moves
  // only with Service events, so a pool status written last named a version it never saw, and
  // the successor waited out its whole catch-up bound (10 s) before listing afresh — a
  // graceful handover without a leader for 10 s. Pool status is derived from the Services and
  // rewritten by every leader; its writes are fenced and their unknown outcomes counted as any.
  const patch = async <T extends Versioned>(
    path: string,
    base: Versioned,
    body: { metadata?: object; status?: unknown },
    handOn: boolean,
  ) => {
    const timeoutMs = Math.min(30_000, term.writeBudgetMs()); // throws FENCED once the term is over
    try {
      const out = await sendJson<T>(conn, 'PATCH', path, conditional(base, body), {
        query: { fieldManager: FIELD_MANAGER },
        timeoutMs,
      });
      if (handOn) term.wrote(out.metadata?.resourceVersion);
      return out;
    } catch (err) {
      if (outcomeUnknown(err)) term.outcomeUnknown();
      throw err;
    }
  };
  // Answers are kept until the cache catches up, so in the cache's form.
  const patchService = async (path: string, svc: V1Service, body: object) =>
    serviceProjection(await patch<V1Service>(path, svc, body, true));
  return {
    patchServiceStatus: (svc, body) =>
      unlessGone(svc, () => patchService(`${servicePath(svc)}/status`, svc, body)),
    patchServiceMetadata: (svc, body) => unlessGone(svc, () => patchService(servicePath(svc), svc, body)),
    patchPoolStatus: (pool, status) =>
      unlessGone(pool, async () =>
        trimObject(
          await patch<IPAddressPool>(
            `/apis/${GROUP}/${VERSION}/${IPADDRESSPOOL_PLURAL}/${encodeURIComponent(pool.metadata.name ?? '')}/status`,
            pool,
            // Replace the whole status: a merge patch would keep stale condition entries.
            { status: { ...status, conditions: status.conditions ?? [] } },
            false,
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
