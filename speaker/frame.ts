/**
 * One Ethernet frame from the wire -> the ARP or NDP message the speaker acts on. Pure; never
 * throws on any input: a frame it cannot use comes back as `{ ok: false, reason }`.
 *
 * Exported API:
 *   type Inbound, ArpMessage, NsMessage, NaMessage, ParseResult, ParseFailure
 *   parseFrame(frame: Buffer) -> ParseResult
 *   canonicalIp(text) -> string | undefined   (from wire-addresses.ts: the one IP text form)
 *   the builders: arpReply, gratuitousArp, arpProbe (arp.ts); neighborAdvert, unsolicitedNA,
 *   nsProbe, solicitedNodeAddress, solicitedNodeMac (ndp.ts)
 *
 * Text forms in every message: MACs lower-case 'aa:bb:cc:dd:ee:ff', IPs as canonicalIp prints
 * them (IPv6 RFC 5952: lower case, longest zero run compressed).
 */
import { parseArp } from './arp.js';
import { ETHERTYPE, readEthernet } from './ethernet.js';
import { parseNdp } from './ndp.js';

export { arpProbe, arpReply, gratuitousArp } from './arp.js';
export { neighborAdvert, nsProbe, solicitedNodeAddress, solicitedNodeMac, unsolicitedNA } from './ndp.js';
export { canonicalIp } from './wire-addresses.js';

export interface ArpMessage {
  kind: 'arp-request' | 'arp-reply';
  /** Ethernet source and destination. */
  srcMac: string;
  dstMac: string;
  senderMac: string;
  /** '0.0.0.0' in an RFC 5227 probe. */
  senderIp: string;
  targetMac: string;
  targetIp: string;
}

/** Neighbor Solicitation (ICMPv6 135). */
export interface NsMessage {
  kind: 'ns';
  srcMac: string;
  dstMac: string;
  /** '::' for duplicate address detection. */
  srcIp: string;
  dstIp: string;
  targetIp: string;
  /** The source link-layer address option; absent in DAD and often in unicast NUD probes. */
  sourceLinkAddr?: string;
}

/** Neighbor Advertisement (ICMPv6 136). */
export interface NaMessage {
  kind: 'na';
  srcMac: string;
  dstMac: string;
  srcIp: string;
  dstIp: string;
  targetIp: string;
  targetLinkAddr?: string;
  override: boolean;
  solicited: boolean;
  router: boolean;
}

export type Inbound = ArpMessage | NsMessage | NaMessage;

export type ParseFailure =
  | 'truncated'
  | 'vlan'
  | 'not-arp-or-nd'
  | 'wrong-hardware'
  | 'bad-checksum'
  | 'bad-hop-limit'
  | 'malformed';

export type ParseResult = { ok: true; msg: Inbound } | { ok: false; reason: ParseFailure };

/**
 * Ethernet II only. A VLAN-tagged frame (0x8100, 0x88a8) is 'vlan': the speaker answers on the
 * untagged link, and a tagged frame reaching the socket belongs to a VLAN interface that has
 * its own socket. IPv6 is NDP only when ICMPv6 follows the fixed header directly.
 */
export function parseFrame(frame: Buffer): ParseResult {
  const eth = readEthernet(frame);
  if (!eth) return { ok: false, reason: 'truncated' };
  switch (eth.etherType) {
    case ETHERTYPE.arp:
      return parseArp(frame, eth);
    case ETHERTYPE.ipv6:
      return parseNdp(frame, eth);
    case ETHERTYPE.vlan:
    case ETHERTYPE.qinq:
      return { ok: false, reason: 'vlan' };
    default:
      return { ok: false, reason: 'not-arp-or-nd' };
  }
}
