/**
 * IP address parsing and formatting on bigints, plus pool entries (`CIDR` or `A-B`).
 *
 * Pure and allocation-light: an address is `{ family, value }` with `value` a bigint, so a
 * /64 or a /8 is two numbers, never a list. No dependency on the rest of heraldlb.
 *
 * Exported API:
 *   type Family = 'IPv4' | 'IPv6'
 *   interface Address { family; value: bigint }
 *   interface Interval { family; start: bigint; end: bigint }      // inclusive
 *   familyBits(f) -> 32 | 128;  familyMax(f) -> 2^bits - 1
 *   parseIP(text) -> Address | undefined                           // strict, no zones, no prefix
 *   formatIP(addr) -> string                                       // IPv6 in RFC 5952 form
 *   parsePoolEntry(text) -> { ok: true, interval } | { ok: false, error }
 *   formatInterval(iv) -> 'A-B'
 *   SPECIAL_BLOCKS, specialBlockIn(iv) -> the first block iv touches that can never be a
 *                                          LoadBalancer IP (unspecified, loopback, ...), or undefined
 */

export type Family = 'IPv4' | 'IPv6';

export interface Address {
  readonly family: Family;
  readonly value: bigint;
}

/** An inclusive range of addresses of one family: `start <= end`. */
export interface Interval {
  readonly family: Family;
  readonly start: bigint;
  readonly end: bigint;
}

export type EntryResult = { ok: true; interval: Interval } | { ok: false; error: string };

export const familyBits = (f: Family): 32 | 128 => (f === 'IPv4' ? 32 : 128);
export const familyMax = (f: Family): bigint => (1n << BigInt(familyBits(f))) - 1n;

const DECIMAL_OCTET = /^(0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseV4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const p of parts) {
    // Leading zeros are rejected: `010` is octal to some tools and decimal to others.
    if (!DECIMAL_OCTET.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    value = (value << 8n) | BigInt(n);
  }
  return value;
}

function parseGroups(text: string): bigint[] | undefined {
  if (text === '') return [];
  const out: bigint[] = [];
  const parts = text.split(':');
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i] as string;
    if (i === parts.length - 1 && p.includes('.')) {
      const v4 = parseV4(p);
      if (v4 === undefined) return undefined;
      out.push(v4 >> 16n, v4 & 0xffffn);
    } else if (HEX_GROUP.test(p)) out.push(BigInt(`0x${p}`));
    else return undefined;
  }
  return out;
}

function parseV6(text: string): bigint | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = parseGroups(halves[0] as string);
  const tail = halves.length === 2 ? parseGroups(halves[1] as string) : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...new Array<bigint>(missing).fill(0n), ...tail];
  return groups.reduce((acc, g) => (acc << 16n) | g, 0n);
}

/** Parses one address; `undefined` for anything that is not exactly an IPv4 or IPv6 address. */
export function parseIP(text: string): Address | undefined {
  const t = text.trim();
  if (t.includes(':')) {
    const value = parseV6(t);
    return value === undefined ? undefined : { family: 'IPv6', value };
  }
  const value = parseV4(t);
  return value === undefined ? undefined : { family: 'IPv4', value };
}

function formatV6(value: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: compress the longest run (>= 2) of zero groups, the first one on a tie.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

export function formatIP(addr: Address): string {
  if (addr.family === 'IPv6') return formatV6(addr.value);
  const v = Number(addr.value); // < 2^32: exact as a number, and much cheaper than bigint shifts
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

export const formatInterval = (iv: Interval): string =>
  `${formatIP({ family: iv.family, value: iv.start })}-${formatIP({ family: iv.family, value: iv.end })}`;

function parseCIDR(text: string): EntryResult {
  const [ipText, bitsText = ''] = text.split('/', 2);
  const addr = parseIP(ipText as string);
  if (!addr) return { ok: false, error: `"${text}": not a valid address before "/"` };
  const width = familyBits(addr.family);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(bitsText) || Number(bitsText) > width) {
    return { ok: false, error: `"${text}": prefix length must be 0..${width}` };
  }
  const hostBits = BigInt(width - Number(bitsText));
  const hostMask = (1n << hostBits) - 1n;
  // Host bits are masked off, as MetalLB (Go's net.ParseCIDR) does: 10.0.0.7/24 means 10.0.0.0/24.
  const start = addr.value & ~hostMask & familyMax(addr.family);
  return { ok: true, interval: { family: addr.family, start, end: start | hostMask } };
}

function parseRange(text: string): EntryResult {
  const [a, b] = text.split('-').map((s) => parseIP(s));
  if (!a || !b) return { ok: false, error: `"${text}": a range is "first-last" with two valid addresses` };
  if (a.family !== b.family) return { ok: false, error: `"${text}": range mixes IPv4 and IPv6` };
  if (a.value > b.value) return { ok: false, error: `"${text}": range start is after its end` };
  return { ok: true, interval: { family: a.family, start: a.value, end: b.value } };
}

/** One `spec.addresses` entry: a CIDR (`10.0.0.0/24`), an inclusive range (`A-B`) or one address. */
export function parsePoolEntry(text: string): EntryResult {
  const t = text.trim();
  if (t.includes('/')) return parseCIDR(t);
  if (t.split('-').length === 2) return parseRange(t);
  const single = parseIP(t);
  if (single)
    return { ok: true, interval: { family: single.family, start: single.value, end: single.value } };
  return { ok: false, error: `"${text}": not a CIDR, a range "first-last" or an address` };
}

/**
 * Address blocks that can never be a LoadBalancer IP: nothing answers ARP/NDP for them on a LAN
 * the way a VIP needs. The CRD rejects pool entries touching them at admission (CEL, same list);
 * the controller checks again so a pool admitted by an older CRD is refused, not served.
 */
export const SPECIAL_BLOCKS: readonly { readonly cidr: string; readonly what: string }[] = [
  { cidr: '0.0.0.0/32', what: 'the unspecified address' },
  { cidr: '127.0.0.0/8', what: 'loopback' },
  { cidr: '169.254.0.0/16', what: 'link-local' },
  { cidr: '224.0.0.0/4', what: 'multicast' },
  { cidr: '255.255.255.255/32', what: 'the broadcast address' },
  { cidr: '::/128', what: 'the unspecified address' },
  { cidr: '::1/128', what: 'loopback' },
  { cidr: 'fe80::/10', what: 'link-local' },
  { cidr: 'ff00::/8', what: 'multicast' },
];

const specialIntervals = SPECIAL_BLOCKS.map((b) => {
  const r = parseCIDR(b.cidr);
  if (!r.ok) throw new Error(`bad built-in block ${b.cidr}`);
  return { ...b, interval: r.interval };
});

/** The first special block `iv` shares an address with, as "127.0.0.0/8 (loopback)"; else undefined. */
export function specialBlockIn(iv: Interval): string | undefined {
  const hit = specialIntervals.find(
    (b) => b.interval.family === iv.family && b.interval.start <= iv.end && iv.start <= b.interval.end,
  );
  return hit && `${hit.cidr} (${hit.what})`;
}
