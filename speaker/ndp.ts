/**
 * IPv6 Neighbor Discovery over Ethernet (RFC 4861): Neighbor Solicitations and Advertisements
 * in and out, with their ICMPv6 checksums, and the DAD probe of RFC 4862. Pure.
 *
 * Exported API:
 *   parseNdp(frame, eth) -> ParseResult                 frame starts at the Ethernet header
 *   neighborAdvert(ns, ourMac, srcIp?) -> Buffer        the answer to an NS for a VIP we own
 *   unsolicitedNA(ip, mac) -> Buffer                    to all-nodes: "ip is at mac now"
 *   nsProbe(ip, mac) -> Buffer                          DAD-style NS from :: ("anyone using ip?")
 *   solicitedNodeAddress(ipv6) -> string                ff02::1:ffXX:XXXX
 *   multicastMac(ipv6Multicast) -> string;  solicitedNodeMac(ipv6) -> string   33:33:xx:xx:xx:xx
 *   icmpv6Checksum(frame) -> number                     over the IPv6 payload of `frame`, 0 if valid
 */
import { ETH_HEADER, ETHERTYPE, type EthernetHeader, ethernetFrame } from './ethernet.js';
import type { NaMessage, NsMessage, ParseResult } from './frame.js';
import { ipv6FromBytes, ipv6ToBytes, macFromBytes, writeIpv6, writeMac } from './wire-addresses.js';

const IP6_HEADER = 40;
const ICMP = ETH_HEADER + IP6_HEADER; // offset of the ICMPv6 message
const NEXT_ICMPV6 = 58;
const TYPE_NS = 135;
const TYPE_NA = 136;
const ND_BODY = 24; // type, code, checksum, 4 bytes flags/reserved, 16 bytes target
const OPT_SOURCE_LL = 1;
const OPT_TARGET_LL = 2;
const ALL_NODES = 'ff02::1';
const ALL_NODES_MAC = '33:33:00:00:00:01';
const NA_ROUTER = 0x80;
const NA_SOLICITED = 0x40;
const NA_OVERRIDE = 0x20;

/** One's-complement sum of `len` bytes of `buf` from `off`, added to `sum` (not folded). */
function sumBytes(buf: Buffer, off: number, len: number, sum: number): number {
  let s = sum;
  const end = off + len;
  let i = off;
  for (; i + 1 < end; i += 2) s += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) s += buf[i]! << 8;
  return s;
}

/**
 * The ICMPv6 checksum (RFC 4443 §2.3) over the pseudo-header and the IPv6 payload of `frame`,
 * taking the checksum field as it stands: 0 when the frame's checksum is right; with the field
 * zeroed, the one's complement of the result is the value to write.
 */
export function icmpv6Checksum(frame: Buffer): number {
  const len = frame.readUInt16BE(ETH_HEADER + 4);
  let s = sumBytes(frame, ETH_HEADER + 8, 32, 0); // source and destination addresses
  s += len + NEXT_ICMPV6; // upper-layer length (< 2^16 here) and next header
  s = sumBytes(frame, ICMP, len, s);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** Options from `off` to `end`: type -> first 6 bytes as a MAC; undefined when malformed. */
function linkLayerOptions(frame: Buffer, off: number, end: number): Map<number, string> | undefined {
  const out = new Map<number, string>();
  let i = off;
  while (i < end) {
    if (i + 2 > end) return undefined;
    const type = frame[i]!;
    const len = frame[i + 1]! * 8; // in units of 8 bytes, header included
    if (len === 0 || i + len > end) return undefined; // RFC 4861 §4.6: length 0 is invalid
    if ((type === OPT_SOURCE_LL || type === OPT_TARGET_LL) && !out.has(type)) {
      out.set(type, macFromBytes(frame, i + 2));
    }
    i += len;
  }
  return out;
}

const isMulticast = (frame: Buffer, off: number): boolean => frame[off] === 0xff;

function isUnspecified(frame: Buffer, off: number): boolean {
  for (let i = 0; i < 16; i++) if (frame[off + i] !== 0) return false;
  return true;
}

// ff02::1:ff00:0/104
const SOLICITED_PREFIX = Buffer.from(`ff02${'00'.repeat(9)}01ff`, 'hex');
const isSolicitedNode = (frame: Buffer, off: number): boolean =>
  frame.subarray(off, off + 13).equals(SOLICITED_PREFIX);

export function parseNdp(frame: Buffer, eth: EthernetHeader): ParseResult {
  const ip = ETH_HEADER;
  if (frame.length < ICMP) return { ok: false, reason: 'truncated' };
  if (frame[ip]! >> 4 !== 6) return { ok: false, reason: 'malformed' };
  // Extension headers before ICMPv6 are not followed: NDP is never sent with them.
  if (frame[ip + 6] !== NEXT_ICMPV6) return { ok: false, reason: 'not-arp-or-nd' };
  const len = frame.readUInt16BE(ip + 4);
  if (frame.length < ICMP + len) return { ok: false, reason: 'truncated' };
  if (len < 4) return { ok: false, reason: 'malformed' };
  const type = frame[ICMP]!;
  if (type !== TYPE_NS && type !== TYPE_NA) return { ok: false, reason: 'not-arp-or-nd' };
  // RFC 4861 §7.1: hop limit 255 proves the sender is on this link (no router forwarded it).
  if (frame[ip + 7] !== 255) return { ok: false, reason: 'bad-hop-limit' };
  if (frame[ICMP + 1] !== 0 || len < ND_BODY) return { ok: false, reason: 'malformed' };
  if (icmpv6Checksum(frame) !== 0) return { ok: false, reason: 'bad-checksum' };
  const opts = linkLayerOptions(frame, ICMP + ND_BODY, ICMP + len);
  if (!opts || isMulticast(frame, ICMP + 8)) return { ok: false, reason: 'malformed' };
  const base = {
    srcMac: eth.srcMac,
    dstMac: eth.dstMac,
    srcIp: ipv6FromBytes(frame, ip + 8),
    dstIp: ipv6FromBytes(frame, ip + 24),
    targetIp: ipv6FromBytes(frame, ICMP + 8),
  };
  return type === TYPE_NS ? solicitation(frame, base, opts) : advertisement(frame, base, opts);
}

type Base = Omit<NsMessage, 'kind' | 'sourceLinkAddr'>;

function solicitation(frame: Buffer, base: Base, opts: Map<number, string>): ParseResult {
  const sll = opts.get(OPT_SOURCE_LL);
  // RFC 4861 §7.1.1: a DAD probe (source ::) goes to a solicited-node group and carries no
  // source link-layer address.
  if (
    isUnspecified(frame, ETH_HEADER + 8) &&
    (sll !== undefined || !isSolicitedNode(frame, ETH_HEADER + 24))
  ) {
    return { ok: false, reason: 'malformed' };
  }
  const msg: NsMessage = { kind: 'ns', ...base };
  if (sll !== undefined) msg.sourceLinkAddr = sll;
  return { ok: true, msg };
}

function advertisement(frame: Buffer, base: Base, opts: Map<number, string>): ParseResult {
  const flags = frame[ICMP + 4]!;
  const solicited = (flags & NA_SOLICITED) !== 0;
  // RFC 4861 §7.1.2: a multicast advertisement is never a solicited one.
  if (solicited && isMulticast(frame, ETH_HEADER + 24)) return { ok: false, reason: 'malformed' };
  const msg: NaMessage = {
    kind: 'na',
    ...base,
    override: (flags & NA_OVERRIDE) !== 0,
    solicited,
    router: (flags & NA_ROUTER) !== 0,
  };
  const tll = opts.get(OPT_TARGET_LL);
  if (tll !== undefined) msg.targetLinkAddr = tll;
  return { ok: true, msg };
}

/** The solicited-node multicast group of an IPv6 address (RFC 4291 §2.7.1): ff02::1:ff + low 24 bits. */
export function solicitedNodeAddress(ipv6: string): string {
  const b = ipv6ToBytes(ipv6);
  const g = Buffer.concat([SOLICITED_PREFIX, b.subarray(13)]);
  return ipv6FromBytes(g, 0);
}

/** The Ethernet group MAC of an IPv6 multicast address (RFC 2464 §7): 33:33 + its low 32 bits. */
export function multicastMac(ipv6: string): string {
  const b = ipv6ToBytes(ipv6);
  return macFromBytes(Buffer.concat([Buffer.from([0x33, 0x33]), b.subarray(12)]), 0);
}

export const solicitedNodeMac = (ipv6: string): string => multicastMac(solicitedNodeAddress(ipv6));

interface IcmpOut {
  dstMac: string;
  srcMac: string;
  srcIp: string;
  dstIp: string;
  type: number;
  flags: number;
  target: string;
  /** A link-layer address option to append (type, MAC), or none. */
  option?: [number, string];
}

function icmpFrame(m: IcmpOut): Buffer {
  const len = ND_BODY + (m.option ? 8 : 0);
  const f = ethernetFrame(m.dstMac, m.srcMac, ETHERTYPE.ipv6, IP6_HEADER + len);
  const ip = ETH_HEADER;
  f[ip] = 0x60;
  f.writeUInt16BE(len, ip + 4);
  f[ip + 6] = NEXT_ICMPV6;
  f[ip + 7] = 255;
  writeIpv6(f, ip + 8, m.srcIp);
  writeIpv6(f, ip + 24, m.dstIp);
  f[ICMP] = m.type;
  f[ICMP + 4] = m.flags;
  writeIpv6(f, ICMP + 8, m.target);
  if (m.option) {
    f[ICMP + ND_BODY] = m.option[0];
    f[ICMP + ND_BODY + 1] = 1;
    writeMac(f, ICMP + ND_BODY + 2, m.option[1]);
  }
  f.writeUInt16BE(icmpv6Checksum(f), ICMP + 2);
  return f;
}

/**
 * The advertisement answering `ns` for its target (a VIP we own): solicited, override set,
 * router clear, with our MAC as the target link-layer option, sent to the solicitor at the MAC
 * its source link-layer option names, else the frame's Ethernet source (unicast NUD probes
 * often carry no option). A DAD probe (source ::) is answered to all-nodes with the solicited
 * flag clear, as RFC 4861 §7.2.4 requires. The IPv6 source is the target unless `srcIp` (such
 * as the interface's link-local address) is given.
 */
export function neighborAdvert(
  ns: Pick<NsMessage, 'srcMac' | 'srcIp' | 'targetIp' | 'sourceLinkAddr'>,
  ourMac: string,
  srcIp: string = ns.targetIp,
): Buffer {
  const dad = ns.srcIp === '::';
  return icmpFrame({
    dstMac: dad ? ALL_NODES_MAC : (ns.sourceLinkAddr ?? ns.srcMac),
    srcMac: ourMac,
    srcIp,
    dstIp: dad ? ALL_NODES : ns.srcIp,
    type: TYPE_NA,
    flags: dad ? NA_OVERRIDE : NA_OVERRIDE | NA_SOLICITED,
    target: ns.targetIp,
    option: [OPT_TARGET_LL, ourMac],
  });
}

/** "ip is at mac": to all-nodes, override set, not solicited (RFC 4861 §7.2.6). */
export function unsolicitedNA(ip: string, mac: string): Buffer {
  return icmpFrame({
    dstMac: ALL_NODES_MAC,
    srcMac: mac,
    srcIp: ip,
    dstIp: ALL_NODES,
    type: TYPE_NA,
    flags: NA_OVERRIDE,
    target: ip,
    option: [OPT_TARGET_LL, mac],
  });
}

/**
 * A DAD-style solicitation (RFC 4862 §5.4.2) for ip: from ::, to its solicited-node group, no
 * source link-layer option, so asking does not teach anyone our MAC. Any NA for ip in answer
 * means another host uses it.
 */
export function nsProbe(ip: string, mac: string): Buffer {
  return icmpFrame({
    dstMac: solicitedNodeMac(ip),
    srcMac: mac,
    srcIp: '::',
    dstIp: solicitedNodeAddress(ip),
    type: TYPE_NS,
    flags: 0,
    target: ip,
  });
}
