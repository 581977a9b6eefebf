/**
 * From the cluster-wide plan to what this node announces, and what changed since last time.
 * Pure. An IP is ours when the plan makes us its owner and the guard holds nothing against it:
 * not yielded to a better-ranked speaker seen answering (split brain), not held back because a
 * foreign host answers for it (a conflict).
 */
import { interfacesOn } from './model.js';
import type { Ownership } from './plan.js';
import { sameList } from './reuse.js';

export interface OwnedIp {
  ip: string;
  family: 4 | 6;
  /** 'ns/name' of every Service sharing the IP. */
  services: readonly string[];
  /** Interfaces to announce on; undefined = every usable interface. */
  interfaces: readonly string[] | undefined;
}

export interface Holds {
  /** ip -> the speaker we yielded to */
  yielded: ReadonlyMap<string, string>;
  /** ip -> the foreign MAC answering for it */
  conflicted: ReadonlyMap<string, string>;
}

export function announcedBy(
  self: string,
  plan: ReadonlyMap<string, Ownership>,
  holds: Holds,
): Map<string, OwnedIp> {
  const out = new Map<string, OwnedIp>(); // ip -> what we announce for it
  // forEach, not for-of over entries: each entry would be a fresh [ip, e] pair, every replan
  plan.forEach((e, ip) => {
    if (e.owner !== self || holds.yielded.has(ip) || holds.conflicted.has(ip)) return;
    out.set(ip, {
      ip,
      family: e.ann.family,
      services: e.ann.services,
      interfaces: interfacesOn(e.ann, self),
    });
  });
  return out;
}

/** ip -> the interfaces it is answered on (undefined: every watched one), as the responder reads it. */
export function answerIndex(
  owned: ReadonlyMap<string, OwnedIp>,
): ReadonlyMap<string, ReadonlySet<string> | undefined> {
  const map = new Map<string, ReadonlySet<string> | undefined>();
  for (const [ip, ow] of owned) map.set(ip, ow.interfaces ? new Set(ow.interfaces) : undefined);
  return map;
}

export interface Transition {
  /** IPs we begin announcing. */
  gained: OwnedIp[];
  /** IPs we stop announcing. */
  lost: string[];
  /** IPs still ours whose Services or interfaces changed. */
  changed: OwnedIp[];
}

export function transition(
  before: ReadonlyMap<string, OwnedIp>,
  after: ReadonlyMap<string, OwnedIp>,
): Transition {
  const t: Transition = { gained: [], lost: [], changed: [] };
  after.forEach((o, ip) => {
    const b = before.get(ip);
    if (!b) t.gained.push(o);
    else if (!sameList(b.services, o.services) || !sameList(b.interfaces, o.interfaces)) t.changed.push(o);
  });
  for (const ip of before.keys()) if (!after.has(ip)) t.lost.push(ip);
  return t;
}
