/**
 * Which eligible node announces an IP: rendezvous (highest-random-weight) hashing, so every
 * speaker computes the same owner from the same inputs and a node joining or leaving moves only
 * the IPs it wins or held. Pure (SHA-256 is computation, not I/O).
 *
 * Exported API:
 *   rank(node, ip) -> bigint                 lower ranks first
 *   chooseOwner(ip, eligible, holdDown, rankOf?) -> string | undefined
 *   class RankCache { rank(node, ip); retain(ips) }   memoised rank for a long-lived speaker
 *
 * The formula (docs/api.md "Which node announces an IP"): rank = the first 8 bytes of
 * SHA-256("<node name>#<ip>"), read as a big-endian unsigned 64-bit integer, with <ip> in
 * canonical form (IPv6 RFC 5952). Lowest rank wins; equal ranks (never seen in practice)
 * go to the lower node name. SHA-256 rather than a faster non-cryptographic hash: its output is
 * uniform for names that differ in one character (node-1, node-2), which keeps each node's
 * share of IPs even, and anyone can reproduce it with `sha256sum`. Its cost (~1-5 µs per pair)
 * is paid once per (node, IP) with RankCache.
 */
import { createHash } from 'node:crypto';

export function rank(node: string, ip: string): bigint {
  return createHash('sha256').update(`${node}#${ip}`).digest().readBigUInt64BE(0);
}

export type RankFn = (node: string, ip: string) => bigint;

/**
 * The owner of `ip` among `eligible`: the lowest rank among the eligible nodes not in
 * hold-down; when every eligible node is in hold-down (a cold start, or the only candidates
 * just came back), the lowest rank among all of them. Hold-down thus delays only a node's
 * return, never a failover away from a dead node. undefined when nobody is eligible.
 */
export function chooseOwner(
  ip: string,
  eligible: readonly string[],
  holdDown: ReadonlySet<string>,
  rankOf: RankFn = rank,
): string | undefined {
  const settled = holdDown.size === 0 ? eligible : eligible.filter((n) => !holdDown.has(n));
  const pool = settled.length > 0 ? settled : eligible;
  let best: string | undefined;
  let bestRank = 0n;
  for (const n of pool) {
    const r = rankOf(n, ip);
    if (best === undefined || r < bestRank || (r === bestRank && n < best)) {
      best = n;
      bestRank = r;
    }
  }
  return best;
}

/**
 * rank() memoised per (IP, node). A speaker re-plans on every membership change; with 10,000
 * IPs on 10 nodes, hashing every pair again would cost ~100 ms on the failover path. Holds no
 * clock, only computed values; `retain` drops the IPs a model no longer has.
 */
export class RankCache {
  // ip -> node -> rank
  private readonly byIp = new Map<string, Map<string, bigint>>();

  readonly rank: RankFn = (node, ip) => {
    let m = this.byIp.get(ip);
    if (!m) {
      m = new Map();
      this.byIp.set(ip, m);
    }
    let r = m.get(node);
    if (r === undefined) {
      r = rank(node, ip);
      m.set(node, r);
    }
    return r;
  };

  /** Forgets every IP not in `ips` (call with the current model's IPs). */
  retain(ips: Iterable<string>): void {
    const keep = new Set(ips);
    for (const ip of this.byIp.keys()) if (!keep.has(ip)) this.byIp.delete(ip);
  }

  get size(): number {
    return this.byIp.size;
  }
}
