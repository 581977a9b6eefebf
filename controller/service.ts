/**
 * Service (V1Service) -> ServiceModel, and the allocator's answer -> desired Service status.
 * The one translation layer for Services: the allocator never sees a V1Service.
 *
 * Exported API:
 *   ANNOTATIONS                      annotation names (heraldlb.io and the metallb.io spellings)
 *   interface ServiceModel           see below
 *   parseService(svc, opts: { loadBalancerClass?: string }) -> ServiceModel | { ignored: IgnoreReason; message }
 *   sharingFingerprint(model) -> string   what of a Service decides whom it may share with, hashed
 * A leaf: the allocator's answer becomes a desired status in status.ts.
 *
 * Interpretations:
 * - Requested IPs: `heraldlb.io/loadBalancerIPs`, else `metallb.io/loadBalancerIPs`, else
 *   `spec.loadBalancerIP`. Pool and sharing key: heraldlb.io spelling first, then metallb.io.
 * - A malformed request is not ignored: the model carries `requestError` and the allocator
 *   answers InvalidRequest (so the user gets an Event) without touching what the Service holds.
 * - Families: SingleStack (or no policy) wants `ipFamilies[0]` (IPv4 when absent);
 *   PreferDualStack wants `ipFamilies` as the API server filled them (1 or 2 families);
 *   RequireDualStack wants both, `ipFamilies` order first.
 * - A Service being deleted (deletionTimestamp set: finalizers still run) is not ignored: it
 *   keeps what it holds until it is gone, because its status still shows the IP.
 */
import { createHash } from 'node:crypto';
import type { V1Service } from '@kubernetes/client-node';
import { type Address, type Family, parseIP } from '../api/addresses.js';
import { serviceKey } from '../api/object-key.js';
import type { Labels } from '../api/selectors.js';
import { ANNOTATIONS, type IgnoreReason, ignoredReason } from '../api/service-annotations.js';

export type { IgnoreReason };
export { ANNOTATIONS };

export type IPFamilyPolicy = 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';

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
  /** sharingFingerprint of this model ('' without a sharing key). */
  readonly sharing: string;
  /** deletionTimestamp is set: hold what is held, allocate and write nothing. */
  readonly deleting: boolean;
  /**
   * What the Service's status and our annotations say it holds: the ingress IPs, the pools they
   * were drawn from, and the sharing fingerprint it was admitted with (undefined: admitted
   * without a sharing key, or by a controller that did not write it).
   */
  readonly current: {
    readonly ips: readonly Address[];
    readonly pools: readonly string[];
    readonly sharingAdmitted: string | undefined;
  };
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
  const model: Omit<ServiceModel, 'sharing'> = {
    key: serviceKey(meta.namespace!, meta.name!),
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
    deleting: Boolean(meta.deletionTimestamp),
    current: {
      ips: currentIPs(svc),
      pools: pools
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
      sharingAdmitted: ann[ANNOTATIONS.sharingAdmitted] || undefined,
    },
  };
  return { ...model, sharing: sharingFingerprint(model) };
}

/**
 * A short hash of what decides whom a Service may share an IP with (sharing.ts): the key, the
 * ports, the traffic policy and, for Local, the selector. '' without a key: such a Service
 * shares with nobody, whatever its ports.
 */
export function sharingFingerprint(
  m: Pick<ServiceModel, 'sharingKey' | 'ports' | 'trafficPolicy' | 'selector'>,
): string {
  if (!m.sharingKey) return '';
  const ports = m.ports.map((p) => `${p.protocol}/${p.port}`).sort();
  const selector = m.trafficPolicy === 'Local' ? Object.entries(m.selector).sort() : null;
  const text = JSON.stringify([m.sharingKey, ports, m.trafficPolicy, selector]);
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}
