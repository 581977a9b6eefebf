/**
 * ARP for IPv4 over Ethernet (RFC 826), and the RFC 5227 probe and announcement forms. Pure:
 * bytes in, a message or a reason out; messages in, bytes out.
 *
 * Exported API:
 *   parseArp(frame, eth) -> ParseResult           frame starts at the Ethernet header
 *   arpReply(req, ourMac) -> Buffer               unicast answer to a request for a VIP we own
 *   gratuitousArp(ip, mac) -> [request, reply]    broadcast announcements, sender = target = ip
 *   arpProbe(ip, mac) -> Buffer                   RFC 5227 probe: sender IP 0.0.0.0, target ip
 */
import { BROADCAST_MAC, ETH_HEADER, ETHERTYPE, type EthernetHeader, ethernetFrame } from './ethernet.js';
import type { ArpMessage, ParseResult } from './frame.js';
import { ipv4FromBytes, macFromBytes, writeIpv4, writeMac } from './wire-addresses.js';

const ARP_LENGTH = 28;
const FIXED = 8; // htype, ptype, hlen, plen, oper
const OP_REQUEST = 1;
const OP_REPLY = 2;
const ZERO_MAC = '00:00:00:00:00:00';

export function parseArp(frame: Buffer, eth: EthernetHeader): ParseResult {
  const o = ETH_HEADER;
  if (frame.length < o + FIXED) return { ok: false, reason: 'truncated' };
  // Only Ethernet/IPv4 ARP: other hardware or protocol types carry other address sizes.
  const htype = frame.readUInt16BE(o);
  const ptype = frame.readUInt16BE(o + 2);
  if (htype !== 1 || ptype !== 0x0800 || frame[o + 4] !== 6 || frame[o + 5] !== 4) {
    return { ok: false, reason: 'wrong-hardware' };
  }
  if (frame.length < o + ARP_LENGTH) return { ok: false, reason: 'truncated' };
  const op = frame.readUInt16BE(o + 6);
  if (op !== OP_REQUEST && op !== OP_REPLY) return { ok: false, reason: 'malformed' };
  const msg: ArpMessage = {
    kind: op === OP_REQUEST ? 'arp-request' : 'arp-reply',
    srcMac: eth.srcMac,
    dstMac: eth.dstMac,
    senderMac: macFromBytes(frame, o + 8),
    senderIp: ipv4FromBytes(frame, o + 14),
    targetMac: macFromBytes(frame, o + 18),
    targetIp: ipv4FromBytes(frame, o + 24),
  };
  return { ok: true, msg };
}

function arpFrame(
  dstMac: string,
  op: number,
  senderMac: string,
  senderIp: string,
  targetMac: string,
  targetIp: string,
): Buffer {
  const f = ethernetFrame(dstMac, senderMac, ETHERTYPE.arp, ARP_LENGTH);
  const o = ETH_HEADER;
  f.writeUInt16BE(1, o);
  f.writeUInt16BE(0x0800, o + 2);
  f[o + 4] = 6;
  f[o + 5] = 4;
  f.writeUInt16BE(op, o + 6);
  writeMac(f, o + 8, senderMac);
  writeIpv4(f, o + 14, senderIp);
  writeMac(f, o + 18, targetMac);
  writeIpv4(f, o + 24, targetIp);
  return f;
}

/**
 * The reply to `req` (a request for `req.targetIp`, which we own): sent unicast to the
 * requester's ARP sender MAC, as Linux does. An RFC 5227 probe (sender IP 0.0.0.0) gets a reply
 * to 0.0.0.0 at its MAC, which is what tells the prober the address is taken.
 */
export function arpReply(
  req: Pick<ArpMessage, 'senderMac' | 'senderIp' | 'targetIp'>,
  ourMac: string,
): Buffer {
  return arpFrame(req.senderMac, OP_REPLY, ourMac, req.targetIp, req.senderMac, req.senderIp);
}

/**
 * Both gratuitous forms, broadcast: a request (RFC 5227 announcement: target MAC zero) and a
 * reply (target MAC = ours). Hosts differ in which one updates their cache, so send both.
 */
export function gratuitousArp(ip: string, mac: string): [request: Buffer, reply: Buffer] {
  return [
    arpFrame(BROADCAST_MAC, OP_REQUEST, mac, ip, ZERO_MAC, ip),
    arpFrame(BROADCAST_MAC, OP_REPLY, mac, ip, mac, ip),
  ];
}

/** RFC 5227 §2.1.1 probe: "who has ip?" from 0.0.0.0, so no host caches us while we ask. */
export function arpProbe(ip: string, mac: string): Buffer {
  return arpFrame(BROADCAST_MAC, OP_REQUEST, mac, '0.0.0.0', ZERO_MAC, ip);
}
