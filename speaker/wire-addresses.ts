/**
 * Addresses between their wire bytes and the one text form the speaker compares: MACs as
 * lower-case 'aa:bb:cc:dd:ee:ff', IPs as `canonicalIp` prints them (IPv4 dotted decimal,
 * IPv6 in RFC 5952 form: lower case, zero groups compressed, the longest run first — the same
 * form `api/addresses.ts` `formatIP` writes). Pure.
 *
 * Exported API:
 *   class FrameError { code: 'InvalidMac' | 'InvalidIp' | 'WrongFamily' }   bad builder input
 *   canonicalIp(text) -> string | undefined            any textual IP -> canonical; undefined if not an IP
 *   parseIpText(text) -> { addr, ip } | undefined     the same, with the parsed Address (memoized)
 *   writeMac(buf, off, mac); macToBytes(mac) -> Buffer(6);  macFromBytes(buf, off) -> string
 *   writeIpv4(buf, off, ip); ipv4ToBytes(ip) -> Buffer(4);  ipv4FromBytes(buf, off) -> string
 *   writeIpv6(buf, off, ip); ipv6ToBytes(ip) -> Buffer(16); ipv6FromBytes(buf, off) -> string
 * The write* forms put the bytes straight into a frame: the reply path builds one frame per
 * request, and intermediate Buffers were most of its cost.
 */
import { type Address, formatIP, parseIP } from '../api/addresses.js';

export type FrameErrorCode = 'InvalidMac' | 'InvalidIp' | 'WrongFamily';

/** A builder was handed an address it cannot put on the wire: a caller's bug, never traffic. */
export class FrameError extends Error {
  readonly code: FrameErrorCode;

  constructor(code: FrameErrorCode, message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'FrameError';
    this.code = code;
  }
}

/** An IP address parsed, with its canonical text. Shared between callers: never edit it. */
export interface ParsedIp {
  readonly addr: Address;
  readonly ip: string;
}

// text -> its parse (null: not an IP). Every replan reads the same Service, status and node
// IPs again, and parsing IPv6 on bigints was the largest part of a replan's time and garbage
// (the bench's 1,000 Services: every ingress and status IP parsed and formatted again on every
// replan, ~100 replans a second while they arrived). Bounded:
// cleared when full, and the next replan fills it again with what is in use.
const PARSED_MAX = 16_384;
const parsed = new Map<string, ParsedIp | null>();

/** `text` parsed as by canonicalIp, or undefined; the same object for the same text. */
export function parseIpText(text: string): ParsedIp | undefined {
  let p = parsed.get(text);
  if (p === undefined) {
    const addr = parseIP(text);
    p = addr ? Object.freeze({ addr, ip: formatIP(addr) }) : null;
    if (parsed.size >= PARSED_MAX) parsed.clear();
    parsed.set(text, p);
  }
  return p ?? undefined;
}

/**
 * The canonical text of an IP address, or undefined when `text` is not one (zones, prefixes and
 * IPv4 octets with leading zeros are refused). Use it on every IP before comparing: Service
 * status IPs, node addresses and parsed frames then agree byte for byte.
 */
export function canonicalIp(text: string): string | undefined {
  return parseIpText(text)?.ip;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

export function writeMac(buf: Buffer, off: number, mac: string): void {
  if (!MAC.test(mac))
    throw new FrameError('InvalidMac', `"${mac}" is not a MAC address like aa:bb:cc:dd:ee:ff`);
  for (let i = 0; i < 6; i++) buf[off + i] = Number.parseInt(mac.slice(i * 3, i * 3 + 2), 16);
}

export function macToBytes(mac: string): Buffer {
  const b = Buffer.alloc(6);
  writeMac(b, 0, mac);
  return b;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function macFromBytes(buf: Buffer, off: number): string {
  return `${HEX[buf[off]!]}:${HEX[buf[off + 1]!]}:${HEX[buf[off + 2]!]}:${HEX[buf[off + 3]!]}:${HEX[buf[off + 4]!]}:${HEX[buf[off + 5]!]}`;
}

function parseFamily(ip: string, family: 'IPv4' | 'IPv6'): bigint {
  const a = parseIpText(ip)?.addr; // memoised: frames for the same IPs are built again and again
  if (!a) throw new FrameError('InvalidIp', `"${ip}" is not an IP address`);
  if (a.family !== family) throw new FrameError('WrongFamily', `"${ip}" is not an ${family} address`);
  return a.value;
}

const DOTTED =
  /^(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}$/;

export function writeIpv4(buf: Buffer, off: number, ip: string): void {
  // Fast path for the canonical form the speaker passes around; anything else goes through parseIP.
  if (DOTTED.test(ip)) {
    const p = ip.split('.');
    for (let i = 0; i < 4; i++) buf[off + i] = Number(p[i]);
    return;
  }
  buf.writeUInt32BE(Number(parseFamily(ip, 'IPv4')), off);
}

export function ipv4ToBytes(ip: string): Buffer {
  const b = Buffer.alloc(4);
  writeIpv4(b, 0, ip);
  return b;
}

export function ipv4FromBytes(buf: Buffer, off: number): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

export function writeIpv6(buf: Buffer, off: number, ip: string): void {
  const v = parseFamily(ip, 'IPv6');
  buf.writeBigUInt64BE(v >> 64n, off);
  buf.writeBigUInt64BE(v & 0xffff_ffff_ffff_ffffn, off + 8);
}

export function ipv6ToBytes(ip: string): Buffer {
  const b = Buffer.alloc(16);
  writeIpv6(b, 0, ip);
  return b;
}

export function ipv6FromBytes(buf: Buffer, off: number): string {
  const value = (buf.readBigUInt64BE(off) << 64n) | buf.readBigUInt64BE(off + 8);
  return formatIP({ family: 'IPv6', value });
}
