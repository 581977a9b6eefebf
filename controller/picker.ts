/**
 * Choosing an address for a Service that needs one (a new Service, or one whose request moved
 * it), pure: the requested IP if it may have it, else a same-key shared IP, else the lowest
 * free address of the first candidate pool. Never looks at what the Service already holds;
 * keeping that is the allocator's verdict (allocator.ts).
 *
 * Exported API:
 *   type ReasonCode, interface Failure
 *   pick(ctx, svc, family, namespaceLabels) -> Hold | Failure
 */
import { type Address, type Family, formatIP } from '../api/addresses.js';
import type { Labels } from '../api/selectors.js';
import { type Hold, type Holding, type Holdings, unsettled } from './holdings.js';
import type { PoolIndex, PoolState } from './pool-index.js';
import { poolAllows } from './pools.js';
import type { ServiceModel } from './service.js';
import { joinable, whyNotShare } from './sharing.js';

export type ReasonCode =
  | 'InvalidRequest' // malformed or contradictory annotation / spec.loadBalancerIP
  | 'UnknownPool' // requested pool does not exist, is invalid or lost a Conflict
  | 'PoolNotAllowed' // the pool's serviceAllocation does not admit this Service
  | 'FamilyNotAvailable' // no pool (or not the requested pool) has addresses of a wanted family
  | 'NoEligiblePool' // pools of that family exist, but none auto-assigns to this Service
  | 'PoolExhausted' // every candidate pool is full
  | 'RequestedIPOutsidePools' // the requested IP is in no usable pool
  | 'RequestedIPNotInPool' // the requested IP is in another pool than the requested pool
  | 'RequestedIPExcluded' // the requested IP is one avoidBuggyIPs skips
  | 'IPInUse'; // the requested IP is held by a Service it may not share with

export interface Failure {
  readonly reason: ReasonCode;
  readonly message: string;
  readonly family?: Family;
}

/** What picking reads: the pools and who holds what. */
export interface PickContext {
  readonly index: PoolIndex;
  readonly holdings: Holdings;
}

export function pick(ctx: PickContext, svc: ServiceModel, family: Family, ns: Labels): Hold | Failure {
  const req = svc.requestedIPs.find((a) => a.family === family);
  return req ? pickRequested(ctx, svc, req, ns) : pickAuto(ctx, svc, family, ns);
}

function pickRequested(ctx: PickContext, svc: ServiceModel, req: Address, ns: Labels): Hold | Failure {
  const { index, holdings } = ctx;
  const family = req.family;
  const ip = formatIP(req);
  const f = (reason: ReasonCode, message: string): Failure => ({ reason, message, family });
  const wanted = svc.requestedPool;
  if (wanted !== undefined && !index.pool(wanted)) return f('UnknownPool', unknownPool(wanted));
  const st = index.poolAt(family, req.value);
  if (!st) return f('RequestedIPOutsidePools', `requested IP ${ip} is not in any usable pool`);
  const name = st.model.name;
  if (wanted !== undefined && name !== wanted) {
    return f(
      'RequestedIPNotInPool',
      `requested IP ${ip} is in pool "${name}", not in requested pool "${wanted}"`,
    );
  }
  if (!poolAllows(st.model, svc, ns)) return f('PoolNotAllowed', notAllowed(name));
  if (!index.usable(family, req.value)) {
    const what = family === 'IPv4' ? 'ends in .0 or .255' : 'is the all-zero address of its /64';
    return f('RequestedIPExcluded', `requested IP ${ip} ${what} and pool "${name}" sets avoidBuggyIPs`);
  }
  // Every incompatible holder, sorted, so the message does not depend on arrival order.
  const blockers = holdings
    .others(svc.key, family, req.value)
    .sort()
    .flatMap((k) => {
      const h = holdings.get(k) as Holding;
      const why =
        whyNotShare(svc, h.model) ??
        (unsettled(h) ? 'its own allow-shared-ip change is not admitted yet' : undefined);
      return why ? [`${k} (${why})`] : [];
    });
  if (blockers.length > 0) {
    return f(
      'IPInUse',
      `requested IP ${ip} is in use by Service ${blockers.join(', ')}, which cannot share it`,
    );
  }
  return { value: req.value, from: name };
}

function pickAuto(ctx: PickContext, svc: ServiceModel, family: Family, ns: Labels): Hold | Failure {
  const cands = candidates(ctx.index, svc, family, ns);
  if (!Array.isArray(cands)) return cands;
  const shared = sharedIP(ctx, svc, family, cands);
  if (shared) return shared;
  for (const st of cands) {
    const s = st.spaces[family] as NonNullable<PoolState['spaces'][Family]>;
    const k = s.used.lowestFree(s.space.size);
    if (k !== undefined) return { value: s.space.addressAt(k), from: st.model.name };
  }
  const names = cands.map((c) => `"${c.model.name}"`).join(', ');
  return { reason: 'PoolExhausted', message: `no free ${family} address in pool ${names}`, family };
}

/** Candidate pools for an automatic address, in priority-then-name order. */
function candidates(index: PoolIndex, svc: ServiceModel, family: Family, ns: Labels): PoolState[] | Failure {
  const f = (reason: ReasonCode, message: string): Failure => ({ reason, message, family });
  const wanted = svc.requestedPool;
  if (wanted !== undefined) {
    const st = index.pool(wanted);
    if (!st) return f('UnknownPool', unknownPool(wanted));
    if (!poolAllows(st.model, svc, ns)) return f('PoolNotAllowed', notAllowed(wanted));
    if (!st.spaces[family]) return f('FamilyNotAvailable', `pool "${wanted}" has no ${family} addresses`);
    return [st];
  }
  if (!index.hasFamily(family)) return f('FamilyNotAvailable', `no usable pool has ${family} addresses`);
  const cands = index.autoAssign(family, svc, ns);
  if (cands.length > 0) return cands;
  return f(
    'NoEligiblePool',
    `no pool with ${family} addresses auto-assigns to this Service (autoAssign is false or serviceAllocation does not match)`,
  );
}

/** An IP already held by Services with the same sharing key that all may share it, if any. */
function sharedIP(ctx: PickContext, svc: ServiceModel, family: Family, cands: readonly PoolState[]) {
  const { index, holdings } = ctx;
  if (!svc.sharingKey) return undefined;
  let best: { rank: number; value: bigint; from: string } | undefined;
  for (const k of holdings.sharingGroup(svc.sharingKey)) {
    const value = k === svc.key ? undefined : holdings.get(k)?.ips.get(family)?.value;
    if (value === undefined || !index.usable(family, value)) continue;
    const st = index.poolAt(family, value) as PoolState;
    const rank = cands.indexOf(st);
    if (rank < 0 || (best && (best.rank < rank || (best.rank === rank && best.value <= value)))) continue;
    const others = holdings.others(svc.key, family, value);
    if (others.every((o) => joinable(svc, holdings.get(o) as Holding))) {
      best = { rank, value, from: st.model.name };
    }
  }
  return best && { value: best.value, from: best.from };
}

const unknownPool = (name: string) =>
  `no usable pool named "${name}" (it does not exist, is invalid, or conflicts with an earlier pool)`;
const notAllowed = (name: string) =>
  `pool "${name}" does not admit this Service (serviceAllocation namespaces/selectors do not match)`;
