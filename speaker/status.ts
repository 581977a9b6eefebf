/**
 * The L2Announcement objects this node should have: one per Service it announces IPs of, named
 * <service>.<node> in the Service's namespace. Pure. Each node writes only its own objects
 * (selected by the heraldlb.io/node label), so two speakers never race on one object and the
 * old owner's record disappears when it stops, not when the new owner gets round to it.
 */
import { createHash } from 'node:crypto';
import { GROUP, L2ANNOUNCEMENT_KIND, type L2Announcement, VERSION } from '../api/crd-types.js';
import { objectKey, splitKey } from '../api/object-key.js';
import type { OwnedIp } from './decider.js';

export const NODE_LABEL = 'heraldlb.io/node';

/** Label values are at most 63 characters; longer node names are hashed (they stay unique). */
export function nodeLabelValue(node: string): string {
  if (node.length <= 63) return node;
  return `h-${createHash('sha256').update(node).digest('hex').slice(0, 40)}`;
}

export function announcementName(service: string, node: string): string {
  const name = `${service}.${node}`;
  if (name.length <= 253) return name;
  const h = createHash('sha256').update(name).digest('hex').slice(0, 16);
  return `${name.slice(0, 253 - 17)}-${h}`;
}

export interface ServiceRef {
  uid: string;
}

export interface AnnouncementFacts {
  /** ip -> when this node began announcing it (RFC 3339) */
  since: ReadonlyMap<string, string>;
  /** interface -> its MAC */
  macs: ReadonlyMap<string, string>;
  /** The interfaces used when an IP names none (every usable one), sorted. */
  allInterfaces: readonly string[];
  /** 'ns/name' -> the Service's uid, for the ownerReference (Services not seen are skipped). */
  services: ReadonlyMap<string, ServiceRef>;
  /**
   * Which of `candidates` the kernel routes `ip` through (routes.ts); its MAC is the one a
   * client on that LAN sees. Absent or undefined: the first interface by name.
   */
  routeInterface?: (ip: string, candidates: readonly string[]) => string | undefined;
}

/** 'ns/name' of the object -> its desired body. */
export function desiredAnnouncements(
  node: string,
  owned: ReadonlyMap<string, OwnedIp>,
  f: AnnouncementFacts,
): Map<string, L2Announcement> {
  // service key -> its owned IPs
  const bySvc = new Map<string, OwnedIp[]>();
  for (const o of owned.values()) {
    for (const s of o.services) bySvc.set(s, [...(bySvc.get(s) ?? []), o]);
  }
  const out = new Map<string, L2Announcement>();
  for (const [svc, ips] of bySvc) {
    const ref = f.services.get(svc);
    if (!ref) continue;
    const { namespace, name } = splitKey(svc);
    const ifs = [...new Set(ips.flatMap((o) => o.interfaces ?? f.allInterfaces))].sort();
    const since =
      ips
        .map((o) => f.since.get(o.ip) ?? '')
        .filter((t) => t !== '')
        .sort()[0] ?? '';
    const objName = announcementName(name, node);
    out.set(`${namespace}/${objName}`, {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: L2ANNOUNCEMENT_KIND,
      metadata: {
        name: objName,
        namespace,
        labels: { [NODE_LABEL]: nodeLabelValue(node) },
        ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name, uid: ref.uid }],
      },
      status: {
        service: name,
        node,
        ips: ips.map((o) => o.ip).sort(),
        interfaces: ifs,
        mac: f.macs.get(macInterface(ips, ifs, f) ?? '') ?? '',
        ...(since ? { since } : {}),
      },
    } as L2Announcement);
  }
  return out;
}

function macInterface(ips: readonly OwnedIp[], ifs: readonly string[], f: AnnouncementFacts) {
  for (const o of [...ips].sort((a, b) => (a.ip < b.ip ? -1 : 1))) {
    const routed = f.routeInterface?.(o.ip, ifs);
    if (routed) return routed;
  }
  return ifs[0];
}

/** Whether the stored object already says what we want (only status is ours to compare). */
export function sameStatus(a: L2Announcement | undefined, b: L2Announcement): boolean {
  return JSON.stringify(a?.status ?? null) === JSON.stringify(b.status ?? null);
}

/**
 * The stored L2Announcement objects this node's writer manages: its own, plus the records of
 * speakers that are not live for Services this node now announces — a node that died cannot
 * remove its own, and a user must not see two nodes answering for one IP.
 * `announced`: 'ns/name' of every Service this node announces an IP of.
 */
export function managedAnnouncements(
  node: string,
  stored: Iterable<L2Announcement>,
  live: ReadonlySet<string>,
  announced: ReadonlySet<string>,
): Map<string, L2Announcement> {
  const mine = nodeLabelValue(node);
  const out = new Map<string, L2Announcement>();
  for (const a of stored) {
    const by = a.status?.node;
    const svc = `${a.metadata.namespace}/${a.status?.service}`;
    const stale = by !== undefined && by !== node && !live.has(by) && announced.has(svc);
    if (a.metadata.labels?.[NODE_LABEL] === mine || stale) out.set(objectKey(a), a);
  }
  return out;
}
