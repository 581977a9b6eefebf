/**
 * Service (V1Service) -> ServiceModel, and the allocator's answer -> desired Service status.
 * The one translation layer for Services: the allocator never sees a V1Service.
 *
 * Exported API:
 *   ANNOTATIONS                      annotation names (heraldlb.io and the metallb.io spellings)
 *   interface ServiceModel           see below
 *   parseService(svc, opts: { loadBalancerClass?: string }) -> ServiceModel | { ignored: IgnoreReason; message }
 *   desiredStatus(result) -> { ingress: { ip }[]; poolAnnotation: string | undefined }
 *
 * Interpretations:
 * - Requested IPs: `heraldlb.io/loadBalancerIPs`, else `metallb.io/loadBalancerIPs`, else
 *   `spec.loadBalancerIP`. Pool and sharing key: heraldlb.io spelling first, then metallb.io.
 * - A malformed request is not ignored: the model carries `requestError` and the allocator
 *   answers InvalidRequest (so the user gets an Event) without touching what the Service holds.
 * - Families: SingleStack (or no policy) wants `ipFamilies[0]` (IPv4 when absent);
 *   PreferDualStack wants `ipFamilies` as the API server filled them (1 or 2 families);
 *   RequireDualStack wants both, `ipFamilies` order first.
 */
import type { V1Service } from '@kubernetes/client-node';
import { type Address, type Family, parseIP } from '../api/addresses.js';
import type { Labels } from '../api/selectors.js';
import type { AssignResult } from './allocator.js';

export const ANNOTATIONS = {
  loadBalancerIPs: ['heraldlb.io/loadBalancerIPs', 'metallb.io/loadBalancerIPs'],
  addressPool: ['heraldlb.io/address-pool', 'metallb.io/address-pool'],
  allowSharedIP: ['heraldlb.io/allow-shared-ip', 'metallb.io/allow-shared-ip'],
  allocatedFromPool: 'heraldlb.io/ip-allocated-from-pool',
} as const;

export type IPFamilyPolicy = 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';
export type IgnoreReason = 'NotLoadBalancer' | 'OtherClass' | 'Deleting' | 'Unnamed';

export interface ServicePort {
  readonly port: number;
  readonly protocol: string;
}

export interface ServiceModel {
  /** `namespace/name` */
  readonly key: string;
  readonly namespace: string;
  readonly labels: Labels;
  /** creationTimestamp in ms (Infinity when unknown): breaks ties between conflicting restores. */
  readonly created: number;
  readonly policy: IPFamilyPolicy;
  /** Families wanted, in preference order, one address each. */
  readonly families: readonly Family[];
  /** Explicitly requested addresses, at most one per family, each of a wanted family. */
  readonly requestedIPs: readonly Address[];
  readonly requestedPool: string | undefined;
  readonly requestError: string | undefined;
  readonly sharingKey: string | undefined;
  readonly ports: readonly ServicePort[];
  readonly trafficPolicy: 'Cluster' | 'Local';
  /** spec.selector, compared for Local sharing. */
  readonly selector: Labels;
  /** What the Service already holds, for restore: status ingress IPs and the pool annotation. */
  readonly current: { readonly ips: readonly Address[]; readonly pools: readonly string[] };
}

const FAMILIES: readonly Family[] = ['IPv4', 'IPv6'];

function annotation(ann: Labels, names: readonly string[]): string | undefined {
  for (const n of names) {
    const v = ann[n]?.trim();
    if (v) return v;
  }
  return undefined;
}

function wantedFamilies(policy: IPFamilyPolicy, listed: readonly string[]): Family[] {
  const fams = listed.filter((f): f is Family => f === 'IPv4' || f === 'IPv6');
  const unique = [...new Set(fams)];
  if (unique.length === 0) unique.push('IPv4');
  if (policy === 'SingleStack') return unique.slice(0, 1);
  if (policy === 'RequireDualStack') return [...unique, ...FAMILIES.filter((f) => !unique.includes(f))];
  return unique;
}

function parseRequest(text: string | undefined, families: readonly Family[]): Address[] | string {
  if (text === undefined) return [];
  const out: Address[] = [];
  for (const part of text.split(',').map((s) => s.trim())) {
    if (part === '') continue;
    const a = parseIP(part);
    if (!a) return `requested address "${part}" is not a valid IP address`;
    if (out.some((o) => o.family === a.family)) return `more than one ${a.family} address requested`;
    if (!families.includes(a.family)) {
      return `requested ${a.family} address ${part}, but the Service wants ${families.join(',')}`;
    }
    out.push(a);
  }
  return out;
}

function currentIPs(svc: V1Service): Address[] {
  const ips: Address[] = [];
  for (const ing of svc.status?.loadBalancer?.ingress ?? []) {
    const a = ing.ip ? parseIP(ing.ip) : undefined;
    if (a) ips.push(a);
  }
  return ips;
}

function ignoredReason(svc: V1Service, cls: string | undefined): IgnoreReason | undefined {
  if (!svc.metadata?.name || !svc.metadata.namespace) return 'Unnamed';
  if (svc.metadata.deletionTimestamp) return 'Deleting';
  if (svc.spec?.type !== 'LoadBalancer') return 'NotLoadBalancer';
  if ((svc.spec.loadBalancerClass ?? undefined) !== cls) return 'OtherClass';
  return undefined;
}

export function parseService(
  svc: V1Service,
  opts: { readonly loadBalancerClass?: string },
): ServiceModel | { ignored: IgnoreReason; message: string } {
  const why = ignoredReason(svc, opts.loadBalancerClass);
  if (why) return { ignored: why, message: `not handled by heraldlb: ${why}` };
  const meta = svc.metadata!;
  const spec = svc.spec!;
  const ann: Labels = meta.annotations ?? {};
  const policy = (spec.ipFamilyPolicy ?? 'SingleStack') as IPFamilyPolicy;
  const families = wantedFamilies(policy, spec.ipFamilies ?? []);
  const requestText = annotation(ann, ANNOTATIONS.loadBalancerIPs) ?? (spec.loadBalancerIP || undefined);
  const request = parseRequest(requestText, families);
  const created = meta.creationTimestamp ? new Date(meta.creationTimestamp).getTime() : Number.NaN;
  const pools = ann[ANNOTATIONS.allocatedFromPool] ?? '';
  return {
    key: `${meta.namespace}/${meta.name}`,
    namespace: meta.namespace!,
    labels: { ...(meta.labels ?? {}) },
    created: Number.isNaN(created) ? Number.POSITIVE_INFINITY : created,
    policy,
    families,
    requestedIPs: typeof request === 'string' ? [] : request,
    requestError: typeof request === 'string' ? request : undefined,
    requestedPool: annotation(ann, ANNOTATIONS.addressPool),
    sharingKey: annotation(ann, ANNOTATIONS.allowSharedIP),
    ports: (spec.ports ?? []).map((p) => ({ port: p.port, protocol: p.protocol ?? 'TCP' })),
    trafficPolicy: spec.externalTrafficPolicy === 'Local' ? 'Local' : 'Cluster',
    selector: { ...(spec.selector ?? {}) },
    current: {
      ips: currentIPs(svc),
      pools: pools
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    },
  };
}

/**
 * What the shell should write: the ingress IPs (family order) and the pool annotation (the
 * pools the IPs were drawn from, in family order, deduplicated, comma-joined; kept for an
 * out-of-pool IP so a restart does not forget it). A failure writes what the allocator says the
 * Service still holds: nothing for a new Service, its unchanged IPs when only a change failed.
 */
export function desiredStatus(result: AssignResult): {
  ingress: { ip: string }[];
  poolAnnotation: string | undefined;
} {
  const ips = result.ok ? result.ips : result.held;
  const pools = [...new Set(ips.map((i) => i.pool).filter((p): p is string => p !== undefined))];
  return {
    ingress: ips.map((i) => ({ ip: i.ip })),
    poolAnnotation: pools.length > 0 ? pools.join(',') : undefined,
  };
}
