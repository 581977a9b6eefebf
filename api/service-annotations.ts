/**
 * What heraldlb reads and writes on a Service, shared by both programs: the annotation names and
 * which Services heraldlb handles at all. The controller writes `allocatedFromPool`; the speaker
 * reads it to learn each IP's pool, so both must spell it from this one place.
 *
 * Exported API:
 *   ANNOTATIONS                       annotation names (heraldlb.io and the metallb.io spellings)
 *   type IgnoreReason                 why a Service is not heraldlb's
 *   ignoredReason(svc, cls) -> IgnoreReason | undefined
 *   annotatedPool(pools, i, count) -> the pool the annotation names for the i-th of count IPs
 */

export const ANNOTATIONS = {
  loadBalancerIPs: ['heraldlb.io/loadBalancerIPs', 'metallb.io/loadBalancerIPs'],
  addressPool: ['heraldlb.io/address-pool', 'metallb.io/address-pool'],
  allowSharedIP: ['heraldlb.io/allow-shared-ip', 'metallb.io/allow-shared-ip'],
  allocatedFromPool: 'heraldlb.io/ip-allocated-from-pool',
  /**
   * Written by the controller on a Service holding an IP under a sharing key: the fingerprint
   * of its sharing inputs when it was admitted. After a restart it tells which of two Services
   * that can no longer share an IP changed since (that one gives the IP up).
   */
  sharingAdmitted: 'heraldlb.io/sharing-admitted',
} as const;

export type IgnoreReason = 'NotLoadBalancer' | 'OtherClass' | 'Unnamed';

/** The parts of a V1Service the rule reads (structural, so api/ needs no client types). */
export interface ClassifiedService {
  readonly metadata?: { readonly name?: string; readonly namespace?: string };
  readonly spec?: { readonly type?: string; readonly loadBalancerClass?: string };
}

/**
 * Why heraldlb leaves `svc` alone, or undefined when it handles it. `cls` is the
 * --load-balancer-class option: undefined (or '') = Services with no class, else exactly that class.
 */
export function ignoredReason(svc: ClassifiedService, cls: string | undefined): IgnoreReason | undefined {
  if (!svc.metadata?.name || !svc.metadata.namespace) return 'Unnamed';
  if (svc.spec?.type !== 'LoadBalancer') return 'NotLoadBalancer';
  if ((svc.spec.loadBalancerClass || undefined) !== (cls || undefined)) return 'OtherClass';
  return undefined;
}

/**
 * The pool the `allocatedFromPool` annotation names for the i-th of `count` ingress IPs: the
 * controller lists the pools in ingress order, deduplicated, so one name covers every IP and
 * two names go by position. undefined when the annotation cannot tell.
 */
export function annotatedPool(pools: readonly string[], i: number, count: number): string | undefined {
  if (pools.length === 1) return pools[0];
  if (pools.length === count) return pools[i];
  return undefined;
}
