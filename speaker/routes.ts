/**
 * Which of the node's interfaces the kernel routes an address through, from /proc/net/route
 * and /proc/net/ipv6_route, so the L2Announcement can name the MAC a client on that LAN sees.
 * Sorting interfaces by name is not enough: on a node with a CNI bridge (cni0, docker0) the
 * bridge sorts before eth0, and the status named the bridge's MAC, which no client ever sees.
 *
 * Exported API:
 *   interface Route { iface; family; prefix: bigint; length }
 *   parseRoutes(ipv4Text, ipv6Text) -> Route[]                           // pure
 *   routeInterface(routes, ip, candidates) -> string | undefined         // pure, longest prefix
 *   readRoutes(procRoot = '/proc') -> Route[]                            // I/O
 */
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';

export interface Route {
  iface: string;
  family: 4 | 6;
  /** The destination as an integer of 32 or 128 bits. */
  prefix: bigint;
  length: number;
}

const RTF_UP = 0x1;
const RTF_REJECT = 0x200;

/** /proc/net/route prints each u32 in host byte order as %08X. */
function ipv4FromProcHex(hex: string, littleEndian: boolean): bigint {
  const v = Number.parseInt(hex, 16);
  const bytes = [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
  if (littleEndian) bytes.reverse();
  return bytes.reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
}

function popcount32(v: number): number {
  let n = 0;
  for (let x = v >>> 0; x !== 0; x >>>= 1) n += x & 1;
  return n;
}

export function parseRoutes(
  ipv4Text: string,
  ipv6Text: string,
  littleEndian = endianness() === 'LE',
): Route[] {
  const out: Route[] = [];
  // Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT
  for (const line of ipv4Text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || !/^[0-9A-Fa-f]{8}$/.test(f[1] ?? '') || !/^[0-9A-Fa-f]{8}$/.test(f[7] ?? ''))
      continue;
    const flags = Number.parseInt(f[3] ?? '0', 16);
    if ((flags & RTF_UP) === 0 || (flags & RTF_REJECT) !== 0) continue;
    out.push({
      iface: f[0] as string,
      family: 4,
      prefix: ipv4FromProcHex(f[1] as string, littleEndian),
      length: popcount32(Number.parseInt(f[7] as string, 16)),
    });
  }
  // dest destlen src srclen nexthop metric refcnt use flags iface (dest in network order)
  for (const line of ipv6Text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || !/^[0-9a-f]{32}$/i.test(f[0] ?? '')) continue;
    const flags = Number.parseInt(f[8] ?? '0', 16);
    if ((flags & RTF_UP) === 0 || (flags & RTF_REJECT) !== 0) continue;
    out.push({
      iface: f[9] as string,
      family: 6,
      prefix: BigInt(`0x${f[0]}`),
      length: Number.parseInt(f[1] as string, 16),
    });
  }
  return out;
}

function toBig(ip: string): { family: 4 | 6; value: bigint } | undefined {
  if (!ip.includes(':')) {
    const p = ip.split('.').map(Number);
    if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) return undefined;
    return { family: 4, value: p.reduce((acc, b) => (acc << 8n) | BigInt(b), 0n) };
  }
  const [head = '', tail] = ip.split('::');
  const groups = (s: string) => (s ? s.split(':') : []);
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  if (all.length !== 8 || all.some((g) => !/^[0-9a-f]{1,4}$/i.test(g))) return undefined;
  return { family: 6, value: all.reduce((acc, g) => (acc << 16n) | BigInt(`0x${g}`), 0n) };
}

/**
 * The candidate with the longest route prefix covering `ip` (a connected route beats the
 * default route); undefined when no candidate has a route to it. Interfaces outside
 * `candidates` (lo, which holds the pool's local routes) are not considered.
 */
export function routeInterface(
  routes: readonly Route[],
  ip: string,
  candidates: readonly string[],
): string | undefined {
  const a = toBig(ip);
  if (!a) return undefined;
  const bits = a.family === 4 ? 32 : 128;
  let best: Route | undefined;
  for (const r of routes) {
    if (r.family !== a.family || !candidates.includes(r.iface)) continue;
    if (r.length < 0 || r.length > bits) continue;
    const shift = BigInt(bits - r.length);
    if (a.value >> shift !== r.prefix >> shift) continue;
    if (!best || r.length > best.length) best = r;
  }
  return best?.iface;
}

function readOptional(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return ''; // no IPv6, or no /proc: no preference, the first interface by name is used
  }
}

export function readRoutes(procRoot = '/proc'): Route[] {
  return parseRoutes(readOptional(`${procRoot}/net/route`), readOptional(`${procRoot}/net/ipv6_route`));
}
