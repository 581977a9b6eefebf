/**
 * The whole ownership plan: for every IP of the model, who may announce it and who does.
 * Pure and deterministic: the same model, live set and hold-down set give the same plan on
 * every speaker, whatever order anything arrived in.
 *
 * Exported API:
 *   interface Ownership { owner; eligible; ann }
 *   planOwnership(model, live, holdDown, rankOf?, prev?) -> ReadonlyMap<ip, Ownership>   model.ips order
 *   ownedBy(plan, node) -> string[]                 IPs `node` announces, plan order
 *   ownerChanges(prev, next) -> { ip, from, to }[]  for Events and metrics
 */

import { chooseOwner, type RankFn, rank } from './election.js';
import { eligibleNodes } from './eligibility.js';
import type { IpAnnouncement, SpeakerModel } from './model.js';
import { sameAnnouncement, sameItems, sameList } from './reuse.js';

export interface Ownership {
  /** The announcing node; undefined = nobody is eligible (or no L2Advertisement selects the pool). */
  owner: string | undefined;
  /** Eligible nodes, sorted. */
  eligible: string[];
  ann: IpAnnouncement;
}

/** What a plan was computed from, to hand it back when a replan's inputs are the same. */
interface PlannedFrom {
  model: SpeakerModel;
  rankOf: RankFn;
  live: string[];
  holdDown: string[];
}
const plannedFrom = new WeakMap<ReadonlyMap<string, Ownership>, PlannedFrom>();

const sortedOf = (s: ReadonlySet<string>): string[] => [...s].sort();

/**
 * `prev`: the plan this returned last time, if any. The result always equals a fresh plan;
 * `prev` lets it be the same objects where nothing changed (reuse.ts): `prev` itself when the
 * model is the same object and the live and hold-down sets hold the same nodes, else each
 * IP's previous entry where its announcement, eligible nodes and owner are unchanged.
 */
export function planOwnership(
  model: SpeakerModel,
  live: ReadonlySet<string>,
  holdDown: ReadonlySet<string>,
  rankOf: RankFn = rank,
  prev?: ReadonlyMap<string, Ownership>,
): ReadonlyMap<string /* ip */, Ownership> {
  const inputs = { model, rankOf, live: sortedOf(live), holdDown: sortedOf(holdDown) };
  const last = prev && plannedFrom.get(prev);
  if (
    prev &&
    last?.model === model &&
    last.rankOf === rankOf &&
    sameList(last.live, inputs.live) &&
    sameList(last.holdDown, inputs.holdDown)
  )
    return prev;
  const plan = new Map<string, Ownership>();
  let allOld = prev !== undefined && prev.size === model.ips.length;
  for (const ann of model.ips) {
    const eligible = eligibleNodes(ann, model.nodes, live);
    const owner = chooseOwner(ann.ip, eligible, holdDown, rankOf);
    const p = prev?.get(ann.ip);
    if (p && owner === p.owner && sameList(eligible, p.eligible) && sameAnnouncement(ann, p.ann)) {
      plan.set(ann.ip, p);
    } else {
      allOld = false;
      plan.set(ann.ip, { owner, eligible, ann });
    }
  }
  // Same entries in the same order (model.ips order is the plan's): the old Map will do.
  const out = allOld && prev && sameItems([...prev.values()], [...plan.values()]) ? prev : plan;
  plannedFrom.set(out, inputs);
  return out;
}

export function ownedBy(plan: ReadonlyMap<string, Ownership>, node: string): string[] {
  const out: string[] = [];
  for (const [ip, o] of plan) if (o.owner === node) out.push(ip);
  return out;
}

export interface OwnerChange {
  ip: string;
  /** undefined: the IP was not in the plan or had no owner. */
  from: string | undefined;
  to: string | undefined;
}

/** Every IP whose owner differs between two plans (an IP gone from `next` goes to undefined). */
export function ownerChanges(
  prev: ReadonlyMap<string, Ownership>,
  next: ReadonlyMap<string, Ownership>,
): OwnerChange[] {
  const out: OwnerChange[] = [];
  for (const [ip, o] of next) {
    const from = prev.get(ip)?.owner;
    if (from !== o.owner) out.push({ ip, from, to: o.owner });
  }
  for (const [ip, o] of prev)
    if (!next.has(ip) && o.owner !== undefined) out.push({ ip, from: o.owner, to: undefined });
  return out;
}
