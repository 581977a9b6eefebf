/**
 * Desired state -> the writes that reach it. Pure: given what the API holds now and what
 * the allocator decided, say which patches (if any) to send. Equal in, nothing out, so a
 * reconcile that changes nothing writes nothing.
 */
import type { V1LoadBalancerIngress, V1Service } from '@kubernetes/client-node';
import type { Condition, IPAddressPool, IPAddressPoolStatus } from '../api/crd-types.js';
import type { AssignResult, PoolStats } from './allocator.js';
import type { PoolProblem } from './pools.js';
import { statusCount } from './pools.js';
import { ANNOTATIONS } from './service.js';

export interface DesiredService {
  ingress: { ip: string }[];
  poolAnnotation: string | undefined;
  /** The sharing fingerprint the Service was admitted with; undefined = no annotation. */
  sharingAdmitted: string | undefined;
}

/**
 * What the shell should write for an allocator answer: the ingress IPs (family order), the pool
 * annotation (the pools the IPs were drawn from, in that order, deduplicated, comma-joined; kept
 * for an out-of-pool IP so a restart does not forget it) and, for a Service holding an IP under
 * a sharing key, the fingerprint it was admitted with. A failure writes what the allocator says
 * the Service still holds: nothing for a new Service, its unchanged IPs when only a change failed.
 */
export function desiredStatus(result: AssignResult): DesiredService {
  const ips = result.ok ? result.ips : result.held;
  const pools = [...new Set(ips.map((i) => i.pool).filter((p): p is string => p !== undefined))];
  return {
    ingress: ips.map((i) => ({ ip: i.ip })),
    poolAnnotation: pools.length > 0 ? pools.join(',') : undefined,
    sharingAdmitted: ips.length > 0 && result.admitted !== '' ? result.admitted : undefined,
  };
}

/**
 * One merge patch for the Service's status subresource, or undefined when nothing differs.
 * It carries the pool annotation too: the Service status strategy keeps metadata edits made
 * through /status (it resets only `spec`), so one write per Service does what took two
 * (status, then annotation), halving the API server's work in a bulk create. Where an API
 * server drops them, `annotationApplied` tells, and the reconciler sends the metadata alone.
 */
export interface ServicePatch {
  metadata?: { annotations: Record<string, string | null> };
  status?: { loadBalancer: { ingress: V1LoadBalancerIngress[] | null } };
}

// ipMode VIP: kube-proxy keeps short-circuiting in-cluster traffic to the IP, as it does
// for any L2 VIP; the alternative (Proxy) is for load balancers that rewrite packets.
const ingressOf = (ips: readonly { ip: string }[]): V1LoadBalancerIngress[] =>
  ips.map((i) => ({ ip: i.ip, ipMode: 'VIP' }));

const sameIngress = (a: readonly V1LoadBalancerIngress[], b: readonly V1LoadBalancerIngress[]): boolean =>
  a.length === b.length &&
  a.every((x, i) => x.ip === b[i]?.ip && (x.ipMode ?? 'VIP') === (b[i]?.ipMode ?? 'VIP'));

export function serviceWrites(svc: V1Service, desired: DesiredService): ServicePatch | undefined {
  const out: ServicePatch = {};
  const current = svc.status?.loadBalancer?.ingress ?? [];
  const want = ingressOf(desired.ingress);
  if (!sameIngress(current, want)) {
    out.status = { loadBalancer: { ingress: want.length > 0 ? want : null } };
  }
  const annotations: Record<string, string | null> = {};
  const have = svc.metadata?.annotations ?? {};
  const wanted: [string, string | undefined][] = [
    [ANNOTATIONS.allocatedFromPool, desired.poolAnnotation],
    [ANNOTATIONS.sharingAdmitted, desired.sharingAdmitted],
  ];
  for (const [name, value] of wanted)
    if ((have[name] ?? undefined) !== value) annotations[name] = value ?? null;
  if (Object.keys(annotations).length > 0) out.metadata = { annotations };
  return out.status || out.metadata ? out : undefined;
}

/** Whether `svc` (a write's answer) carries the annotations `patch` asked for. */
export function annotationApplied(svc: V1Service, patch: ServicePatch): boolean {
  const have = svc.metadata?.annotations ?? {};
  return Object.entries(patch.metadata?.annotations ?? {}).every(([k, v]) => (have[k] ?? null) === v);
}

/** What to write when heraldlb stops handling a Service: remove what it wrote, nothing else. */
export function releaseWrites(svc: V1Service): ServicePatch | undefined {
  return serviceWrites(svc, { ingress: [], poolAnnotation: undefined, sharingAdmitted: undefined });
}

function condition(
  type: string,
  ok: boolean,
  reason: string,
  message: string,
  prev: Condition[],
  now: string,
) {
  const status = ok ? 'True' : 'False';
  const old = prev.find((c) => c.type === type);
  // Kubernetes convention: the transition time moves only when status flips.
  const lastTransitionTime = old && old.status === status ? old.lastTransitionTime : now;
  return { type, status, reason, message, lastTransitionTime } as Condition;
}

/** The pool's desired status: exact counts, Ready and Conflict conditions. */
export function poolStatus(
  pool: IPAddressPool,
  stats: PoolStats | undefined,
  problems: readonly PoolProblem[],
  now: string,
): IPAddressPoolStatus {
  const prev = pool.status?.conditions ?? [];
  const mine = problems.filter((p) => p.pool === pool.metadata.name);
  const conflict = mine.find((p) => p.code === 'Conflict');
  const invalid = mine.find((p) => p.code !== 'Conflict');
  const ready = !conflict && !invalid && stats !== undefined;
  const why = conflict ?? invalid;
  const conditions = [
    condition(
      'Ready',
      ready,
      ready ? 'PoolReady' : (why?.code ?? 'NotLoaded'),
      ready ? 'addresses are being handed out' : (why?.message ?? 'pool not loaded yet'),
      prev,
      now,
    ),
    condition(
      'Conflict',
      conflict !== undefined,
      conflict ? 'Overlap' : 'NoOverlap',
      conflict ? conflict.message : 'no overlap with another pool',
      prev,
      now,
    ),
  ];
  const s = stats ?? { assignedV4: 0n, availableV4: 0n, assignedV6: 0n, availableV6: 0n };
  return {
    assignedIPv4: Number(s.assignedV4),
    availableIPv4: Number(s.availableV4),
    assignedIPv6: Number(s.assignedV6),
    availableIPv6: statusCount(s.availableV6),
    conditions,
  };
}

// Canonical form: fixed field order, counts as strings (int-or-string may come back either
// way), conditions by type, times as ISO strings (client-node may hand back Dates).
const norm = (s: IPAddressPoolStatus | undefined): string =>
  JSON.stringify([
    String(s?.assignedIPv4 ?? 0),
    String(s?.availableIPv4 ?? 0),
    String(s?.assignedIPv6 ?? 0),
    String(s?.availableIPv6 ?? 0),
    [...(s?.conditions ?? [])]
      .sort((a, b) => (a.type < b.type ? -1 : 1))
      .map((c) => [
        c.type,
        c.status,
        c.reason,
        c.message,
        new Date(c.lastTransitionTime as string).toISOString(),
      ]),
  ]);

export const samePoolStatus = (
  a: IPAddressPoolStatus | undefined,
  b: IPAddressPoolStatus | undefined,
): boolean => norm(a) === norm(b);
