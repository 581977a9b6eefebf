/**
 * Keeping the last replan's objects where the new ones equal them. Pure.
 *
 * Why: a speaker replans many times a second while IPs move (every status object a speaker
 * writes comes back on a watch), and most replans change nothing. A model and plan rebuilt
 * from scratch each time live until the next replan, so V8 promotes them to the old
 * generation and collects them there: ~0.8 MiB of old garbage per replan at 1,000 IPs, the
 * swing that broke the 64 MiB memory limit (docs/benchmarks.md, "replan"). Handing back the
 * previous object when nothing in it changed turns that into young garbage, which is cheap.
 *
 * Exported API:
 *   sameItems(a, b)                 same length, same elements by identity (===)
 *   sameList(a, b)                  same strings in the same order (undefined only equals undefined)
 *   sameAnnouncement(a, b), sameNodeFacts(a, b)    deep equality of model parts
 *   reuseModel(prev, next) -> SpeakerModel         `next`, with every part equal to `prev`'s
 *                                                  replaced by it; `prev` itself when all are
 */
import type { AdvertisementRef, IpAnnouncement, NodeFacts, SpeakerModel } from './model.js';

export function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function sameList(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  return sameItems(a, b);
}

function sameRecord(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  if (a === b) return true;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (!Object.hasOwn(b, k) || a[k] !== b[k]) return false;
  return true;
}

function sameRef(a: AdvertisementRef, b: AdvertisementRef): boolean {
  return a === b || (a.name === b.name && sameList(a.nodes, b.nodes) && sameList(a.interfaces, b.interfaces));
}

export function sameAnnouncement(a: IpAnnouncement, b: IpAnnouncement): boolean {
  if (a === b) return true;
  if (a.ip !== b.ip || a.family !== b.family || a.pool !== b.pool) return false;
  if (!sameList(a.services, b.services) || !sameList(a.interfaces, b.interfaces)) return false;
  if (!sameList(a.localNodes, b.localNodes)) return false;
  if (a.selectedNodes === 'none' || b.selectedNodes === 'none') {
    if (a.selectedNodes !== b.selectedNodes) return false;
  } else if (!sameList(a.selectedNodes, b.selectedNodes)) return false;
  if (a.ads.length !== b.ads.length) return false;
  for (let i = 0; i < a.ads.length; i++) if (!sameRef(a.ads[i]!, b.ads[i]!)) return false;
  return true;
}

export function sameNodeFacts(a: NodeFacts, b: NodeFacts): boolean {
  return (
    a === b ||
    (a.name === b.name &&
      a.ready === b.ready &&
      a.networkUnavailable === b.networkUnavailable &&
      a.excluded === b.excluded &&
      sameList(a.internalIPs, b.internalIPs) &&
      sameRecord(a.labels, b.labels))
  );
}

// model -> ip -> its announcement, built once per model that is kept as `prev`
const byIpOf = new WeakMap<SpeakerModel, Map<string, IpAnnouncement>>();

function byIp(m: SpeakerModel): Map<string, IpAnnouncement> {
  let map = byIpOf.get(m);
  if (!map) {
    map = new Map();
    for (const a of m.ips) map.set(a.ip, a);
    byIpOf.set(m, map);
  }
  return map;
}

function reuseNodes(
  prev: ReadonlyMap<string, NodeFacts>,
  next: ReadonlyMap<string, NodeFacts>,
): ReadonlyMap<string, NodeFacts> {
  if (prev.size !== next.size) return next;
  const p = prev.entries();
  for (const [name, f] of next) {
    const [pn, pf] = p.next().value as [string, NodeFacts];
    if (pn !== name || !sameNodeFacts(pf, f)) return next;
  }
  return prev;
}

export function reuseModel(prev: SpeakerModel | undefined, next: SpeakerModel): SpeakerModel {
  if (!prev || prev === next) return next;
  const old = byIp(prev);
  let allOld = next.ips.length === prev.ips.length;
  const ips = next.ips.map((a, i) => {
    const p = old.get(a.ip);
    if (p !== undefined && sameAnnouncement(p, a)) {
      if (prev.ips[i] !== p) allOld = false;
      return p;
    }
    allOld = false;
    return a;
  });
  const nodes = reuseNodes(prev.nodes, next.nodes);
  const unannounced = sameList(prev.unannounced, next.unannounced) ? prev.unannounced : next.unannounced;
  if (allOld && nodes === prev.nodes && unannounced === prev.unannounced) return prev;
  return { nodes, ips: allOld ? prev.ips : ips, unannounced };
}
