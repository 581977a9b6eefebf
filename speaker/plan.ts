/**
 * The whole ownership plan: for every IP of the model, who may announce it and who does.
 * Pure and deterministic: the same model, live set and hold-down set give the same plan on
 * every speaker, whatever order anything arrived in.
 *
 * Exported API:
 *   interface Ownership { owner; eligible; ann }
 *   planOwnership(model, live, holdDown, rankOf?) -> Map<ip, Ownership>   model.ips order
 *   ownedBy(plan, node) -> string[]                 IPs `node` announces, plan order
 *   ownerChanges(prev, next) -> { ip, from, to }[]  for Events and metrics
 */

import { chooseOwner, type RankFn, rank } from './election.js';
import { eligibleNodes } from './eligibility.js';
import type { IpAnnouncement, SpeakerModel } from './model.js';

export interface Ownership {
  /** The announcing node; undefined = nobody is eligible (or no L2Advertisement selects the pool). */
  owner: string | undefined;
  /** Eligible nodes, sorted. */
  eligible: string[];
  ann: IpAnnouncement;
}

export function planOwnership(
  model: SpeakerModel,
  live: ReadonlySet<string>,
  holdDown: ReadonlySet<string>,
  rankOf: RankFn = rank,
): Map<string /* ip */, Ownership> {
  const plan = new Map<string, Ownership>();
  for (const ann of model.ips) {
    const eligible = eligibleNodes(ann, model.nodes, live);
    plan.set(ann.ip, { owner: chooseOwner(ann.ip, eligible, holdDown, rankOf), eligible, ann });
  }
  return plan;
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
