/**
 * When two Services may hold the same IP (the `allow-shared-ip` rule), pure.
 *
 * Exported API:
 *   portsOverlap(a, b) -> boolean      same port number and protocol in both
 *   canShare(a, b) -> boolean          same non-empty sharing key, no port overlap, and
 *                                      externalTrafficPolicy both Cluster, or both Local with
 *                                      identical spec.selector (so every node that announces the IP
 *                                      for one has endpoints for the other)
 *   whyNotShare(a, b) -> string | undefined   the reason in words, for Events
 *   joinable(svc, holder) -> boolean   svc may join an IP's holder: canShare with the model it
 *                                      was admitted with, and no sharing change of its pending
 */
import { sameLabels } from '../api/selectors.js';
import { type Holding, unsettled } from './holdings.js';
import type { ServiceModel } from './service.js';

type Sharable = Pick<ServiceModel, 'key' | 'sharingKey' | 'ports' | 'trafficPolicy' | 'selector'>;

export function portsOverlap(a: Sharable, b: Sharable): boolean {
  const used = new Set(a.ports.map((p) => `${p.protocol}/${p.port}`));
  return b.ports.some((p) => used.has(`${p.protocol}/${p.port}`));
}

export function canShare(a: Sharable, b: Sharable): boolean {
  if (a.key === b.key) return true;
  if (!a.sharingKey || a.sharingKey !== b.sharingKey) return false;
  if (portsOverlap(a, b)) return false;
  if (a.trafficPolicy !== b.trafficPolicy) return false;
  return a.trafficPolicy === 'Cluster' || sameLabels(a.selector, b.selector);
}

/** Why `a` may not share an IP with `b`, in words for an Event; undefined when it may. */
export function whyNotShare(a: Sharable, b: Sharable): string | undefined {
  if (canShare(a, b)) return undefined;
  if (!a.sharingKey || a.sharingKey !== b.sharingKey) return 'their allow-shared-ip keys differ or are unset';
  if (portsOverlap(a, b)) return 'their ports overlap';
  if (a.trafficPolicy !== b.trafficPolicy) return 'their externalTrafficPolicy differs';
  return 'externalTrafficPolicy is Local and their selectors differ';
}

/**
 * Whether `svc` may take an IP `holder` holds. A holder whose own sharing change is not admitted
 * yet takes no one (holdings.ts unsettled()): what it could share by is not settled.
 */
export function joinable(svc: Sharable, holder: Holding): boolean {
  return canShare(svc, holder.model) && !unsettled(holder);
}
