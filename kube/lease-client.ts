// The coordination.k8s.io/v1 Lease behind the leader election, over plain REST: read, create,
// and replace with the resourceVersion the write was based on (a 409 means another candidate
// wrote first).
import type { V1Lease } from '@kubernetes/client-node';
import type { Connection } from './connection.js';
import { classifyApiError } from './errors.js';
import type { LeaseClient, LeaseRecord } from './leader-election.js';
import { getJson, sendJson } from './rest.js';

function toMillis(t: unknown): number {
  if (t instanceof Date) return t.getTime();
  if (typeof t === 'string' && t !== '') return new Date(t).getTime();
  return 0;
}

/** A MicroTime as the API writes it: RFC 3339 with six fractional digits. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Where the Lease carries LeaseRecord.writtenThrough (kube/term.ts). */
export const WRITTEN_THROUGH_ANNOTATION = 'heraldlb.io/written-through';

function recordOf(lease: V1Lease): LeaseRecord {
  const s = lease.spec ?? {};
  return {
    writtenThrough: lease.metadata?.annotations?.[WRITTEN_THROUGH_ANNOTATION] ?? '',
    holderIdentity: s.holderIdentity ?? '',
    leaseDurationSeconds: s.leaseDurationSeconds ?? 0,
    acquireTime: toMillis(s.acquireTime),
    renewTime: toMillis(s.renewTime),
    leaseTransitions: s.leaseTransitions ?? 0,
  };
}

function specOf(rec: LeaseRecord) {
  return {
    holderIdentity: rec.holderIdentity,
    leaseDurationSeconds: rec.leaseDurationSeconds,
    acquireTime: microTime(rec.acquireTime),
    renewTime: microTime(rec.renewTime),
    leaseTransitions: rec.leaseTransitions,
  };
}

export function restLeaseClient(conn: Connection, namespace: string, name: string): LeaseClient {
  const collection = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`;
  const one = `${collection}/${encodeURIComponent(name)}`;
  const body = (record: LeaseRecord, resourceVersion?: string) => ({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name,
      namespace,
      resourceVersion,
      annotations: record.writtenThrough
        ? { [WRITTEN_THROUGH_ANNOTATION]: record.writtenThrough }
        : undefined,
    },
    spec: specOf(record),
  });
  return {
    async get() {
      try {
        const lease = await getJson<V1Lease>(conn, one, {});
        return { record: recordOf(lease), resourceVersion: lease.metadata?.resourceVersion ?? '' };
      } catch (err) {
        if (classifyApiError(err) === 'gone') return undefined;
        throw err;
      }
    },
    async create(record) {
      const lease = await sendJson<V1Lease>(conn, 'POST', collection, body(record));
      return lease.metadata?.resourceVersion ?? '';
    },
    async update(record, resourceVersion) {
      const lease = await sendJson<V1Lease>(conn, 'PUT', one, body(record, resourceVersion));
      return lease.metadata?.resourceVersion ?? '';
    },
    describe: () => `${namespace}/${name}`,
  };
}
