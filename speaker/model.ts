/**
 * What the speaker knows about the cluster, validated: the one shape its pure core (eligibility,
 * election, plan) reads. Built by translate.ts from API objects; never holds a raw object.
 *
 * Exported API:
 *   interface NodeFacts, AdvertisementRef, IpAnnouncement, SpeakerModel
 *   interfacesOn(ann, node) -> string[] | undefined     where `node` announces `ann.ip`
 *
 * Arrays in a model are shared between the IPs of one pool and frozen: read them, never edit.
 */

export interface NodeFacts {
  name: string;
  /** The Ready condition is True. */
  ready: boolean;
  /** The NetworkUnavailable condition is True. */
  networkUnavailable: boolean;
  /** Labelled node.kubernetes.io/exclude-from-external-load-balancers (any value). */
  excluded: boolean;
  labels: Record<string, string>;
  /** status.addresses of type InternalIP, canonical (canonicalIp), in status order. */
  internalIPs: string[];
}

/** One L2Advertisement that selects an IP's pool. */
export interface AdvertisementRef {
  name: string;
  /** Nodes matching its nodeSelectors (all nodes when it has none), sorted. */
  nodes: readonly string[];
  /** Its interfaces, sorted; undefined = every usable interface. */
  interfaces: readonly string[] | undefined;
}

export interface IpAnnouncement {
  /** canonicalIp form. */
  ip: string;
  family: 4 | 6;
  /** 'namespace/name' of every Service holding this IP, sorted. */
  services: string[];
  /** The pool the IP was drawn from (the controller's heraldlb.io/ip-allocated-from-pool). */
  pool: string;
  /**
   * Nodes matching the nodeSelectors of any L2Advertisement selecting the pool, sorted;
   * 'none' = no L2Advertisement selects the pool, so nobody announces the IP.
   */
  selectedNodes: string[] | 'none';
  /** Union of those advertisements' interfaces, sorted; undefined = every usable interface. */
  interfaces: string[] | undefined;
  /**
   * Set when a Service holding the IP has externalTrafficPolicy Local: the nodes with a ready
   * endpoint of every such Service, sorted. Cluster Services sharing the IP add no restriction.
   */
  localNodes?: string[];
  /** The L2Advertisements selecting the pool, by name (empty when selectedNodes is 'none'). */
  ads: readonly AdvertisementRef[];
}

export interface SpeakerModel {
  /** Every named Node, by name, in name order. */
  nodes: ReadonlyMap<string, NodeFacts>;
  /** Every IP heraldlb assigned, IPv4 first, each family in numeric order, each IP once. */
  ips: readonly IpAnnouncement[];
  /** The IPs of `ips` that no L2Advertisement selects (selectedNodes 'none'), same order. */
  unannounced: readonly string[];
}

/**
 * The interfaces `node` announces `ann.ip` on: the union over the advertisements that select
 * the pool and the node; undefined = every usable interface (one of them names none, or none
 * selects the node: then the node is not eligible anyway).
 */
export function interfacesOn(ann: IpAnnouncement, node: string): string[] | undefined {
  let out: Set<string> | undefined; // made only when an advertisement names interfaces: most name none
  for (const ad of ann.ads) {
    if (!ad.nodes.includes(node)) continue;
    if (ad.interfaces === undefined) return undefined;
    out ??= new Set();
    for (const i of ad.interfaces) out.add(i);
  }
  return out ? [...out].sort() : undefined;
}
