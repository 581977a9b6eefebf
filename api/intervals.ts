/**
 * Interval math on bigint addresses, so pools of any size cost memory proportional to their
 * entries and assignments, never to their size.
 *
 * Exported API:
 *   mergeIntervals(ivs) -> Interval[]          // sorted by family (IPv4 first) then start; touching ones joined
 *   overlapping(a, b) -> boolean               // same family and at least one address in common
 *   isBuggyIPv4(v) -> boolean                  // last octet .0 or .255
 *   isAvoided(family, v) -> boolean            // what avoidBuggyIPs skips (IPv4 .0/.255, IPv6 ::0 of a /64)
 *   usableBelow(x, family = IPv4) -> bigint    // addresses in [0, x) that avoidBuggyIPs keeps
 *   class OrdinalSpace                         // a pool's usable addresses of one family, numbered 0..size-1
 *   class RunSet                               // a set of bigints kept as sorted disjoint runs
 */
import type { Family, Interval } from './addresses.js';

const familyRank = (f: Family): number => (f === 'IPv4' ? 0 : 1);

export function compareIntervals(a: Interval, b: Interval): number {
  if (a.family !== b.family) return familyRank(a.family) - familyRank(b.family);
  return a.start < b.start ? -1 : a.start > b.start ? 1 : 0;
}

/** Sorts and joins overlapping or adjacent intervals of the same family. Does not mutate its input. */
export function mergeIntervals(ivs: readonly Interval[]): Interval[] {
  const sorted = [...ivs].sort(compareIntervals);
  const out: Interval[] = [];
  for (const iv of sorted) {
    const last = out[out.length - 1];
    if (last && last.family === iv.family && iv.start <= last.end + 1n) {
      if (iv.end > last.end) out[out.length - 1] = { family: last.family, start: last.start, end: iv.end };
    } else out.push(iv);
  }
  return out;
}

export const overlapping = (a: Interval, b: Interval): boolean =>
  a.family === b.family && a.start <= b.end && b.start <= a.end;

/**
 * What avoidBuggyIPs skips, as a rule per block of addresses: in every IPv4 /24, offsets 0 and
 * 255 (clients that mistake them for network or broadcast addresses); in every IPv6 /64,
 * offset 0, the subnet-router anycast address (RFC 4291 2.6.1), which routers answer.
 * A rule is arithmetic, so a /8 or a /48 is counted and numbered without enumerating it.
 */
interface AvoidRule {
  readonly block: bigint; // addresses per block
  readonly lo: bigint; // first kept offset in a block
  readonly kept: bigint; // kept offsets per block (lo .. lo + kept - 1)
}
const AVOID: Record<Family, AvoidRule> = {
  IPv4: { block: 256n, lo: 1n, kept: 254n },
  IPv6: { block: 1n << 64n, lo: 1n, kept: (1n << 64n) - 1n },
};

export const isAvoided = (family: Family, v: bigint): boolean => {
  const r = AVOID[family];
  const off = v % r.block;
  return off < r.lo || off >= r.lo + r.kept;
};

export const isBuggyIPv4 = (v: bigint): boolean => isAvoided('IPv4', v);

/** Number of addresses in [0, x) that avoidBuggyIPs keeps. */
export function usableBelow(x: bigint, family: Family = 'IPv4'): bigint {
  const r = AVOID[family];
  const off = (x % r.block) - r.lo;
  // biome-ignore lint/complexity/useMathMinMax: bigints (Math.min takes numbers only)
  const inBlock = off <= 0n ? 0n : off > r.kept ? r.kept : off;
  return (x / r.block) * r.kept + inBlock;
}

/** Inverse of usableBelow: the kept address with `rank` kept addresses below it. */
const usableAt = (rank: bigint, family: Family): bigint => {
  const r = AVOID[family];
  return (rank / r.kept) * r.block + (rank % r.kept) + r.lo;
};

interface Segment {
  readonly start: bigint; // first address of the interval
  readonly end: bigint; // last address of the interval
  readonly first: bigint; // ordinal of the interval's first usable address
  readonly size: bigint; // usable addresses in the interval
  readonly rankBase: bigint; // avoidBuggy only: usableBelow(start)
}

/**
 * The usable addresses of one family of one pool, numbered 0..size-1 in address order.
 * With `avoidBuggy` the addresses isAvoided() names are skipped arithmetically, so "lowest
 * free" is "lowest free ordinal" and counts are exact without enumerating anything.
 */
export class OrdinalSpace {
  private readonly segments: Segment[] = [];
  readonly size: bigint;

  /** `intervals` must be merged (see mergeIntervals) and all of `family`. */
  constructor(
    readonly family: Family,
    intervals: readonly Interval[],
    readonly avoidBuggy: boolean,
  ) {
    let first = 0n;
    for (const { start, end } of intervals) {
      const rankBase = avoidBuggy ? usableBelow(start, family) : 0n;
      const size = avoidBuggy ? usableBelow(end + 1n, family) - rankBase : end - start + 1n;
      if (size === 0n) continue;
      this.segments.push({ start, end, first, size, rankBase });
      first += size;
    }
    this.size = first;
  }

  private segmentOf(value: bigint): Segment | undefined {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = this.segments[mid] as Segment;
      if (value < s.start) hi = mid - 1;
      else if (value > s.end) lo = mid + 1;
      else return s;
    }
    return undefined;
  }

  /** Whether the address lies inside the pool's ranges at all (usable or not). */
  covers(value: bigint): boolean {
    return this.segmentOf(value) !== undefined;
  }

  /** The ordinal of a usable address; undefined outside the ranges or when avoided. */
  ordinalOf(value: bigint): bigint | undefined {
    const s = this.segmentOf(value);
    if (!s) return undefined;
    if (!this.avoidBuggy) return s.first + (value - s.start);
    if (isAvoided(this.family, value)) return undefined;
    return s.first + (usableBelow(value, this.family) - s.rankBase);
  }

  /** The address with ordinal `k` (0 <= k < size). */
  addressAt(k: bigint): bigint {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.segments[mid] as Segment).first <= k) lo = mid;
      else hi = mid - 1;
    }
    const s = this.segments[lo] as Segment;
    const off = k - s.first;
    return this.avoidBuggy ? usableAt(s.rankBase + off, this.family) : s.start + off;
  }
}

interface Chunk {
  readonly lo: bigint[]; // run starts, ascending
  readonly hi: bigint[]; // run ends, hi[i] < lo[i + 1] - 1
}

interface Pos {
  readonly c: number; // chunk index, -1 = before every run
  readonly j: number; // run index inside the chunk
}

/**
 * A set of bigints stored as sorted, disjoint, non-adjacent runs [lo, hi]: memory grows with
 * the number of runs (at most the number of members), and the lowest value not in the set is
 * read from the first run. Runs live in chunks of at most 2 × chunkSize, so an insert or a
 * delete binary-searches twice and splices a short array even with many thousands of runs.
 */
export class RunSet {
  private readonly chunks: Chunk[] = [];
  private nruns = 0;
  count = 0n;

  constructor(private readonly chunkSize = 64) {}

  get runs(): number {
    return this.nruns;
  }

  /** The last run with lo <= v, or c = -1. */
  private locate(v: bigint): Pos {
    let a = 0;
    let b = this.chunks.length - 1;
    let c = -1;
    while (a <= b) {
      const mid = (a + b) >> 1;
      if (((this.chunks[mid] as Chunk).lo[0] as bigint) <= v) {
        c = mid;
        a = mid + 1;
      } else b = mid - 1;
    }
    if (c < 0) return { c, j: -1 };
    const lo = (this.chunks[c] as Chunk).lo;
    let j = 0;
    let hi = lo.length - 1;
    while (j < hi) {
      const mid = (j + hi + 1) >> 1;
      if ((lo[mid] as bigint) <= v) j = mid;
      else hi = mid - 1;
    }
    return { c, j };
  }

  private next(p: Pos): Pos | undefined {
    if (p.c < 0) return this.chunks.length > 0 ? { c: 0, j: 0 } : undefined;
    if (p.j + 1 < (this.chunks[p.c] as Chunk).lo.length) return { c: p.c, j: p.j + 1 };
    return p.c + 1 < this.chunks.length ? { c: p.c + 1, j: 0 } : undefined;
  }

  private chunk(p: Pos): Chunk {
    return this.chunks[p.c] as Chunk;
  }

  private removeAt(p: Pos): void {
    const ch = this.chunk(p);
    ch.lo.splice(p.j, 1);
    ch.hi.splice(p.j, 1);
    if (ch.lo.length === 0) this.chunks.splice(p.c, 1);
    this.nruns--;
  }

  private insertAfter(p: Pos, lo: bigint, hi: bigint): void {
    if (this.chunks.length === 0) this.chunks.push({ lo: [], hi: [] });
    const at = p.c < 0 ? { c: 0, j: -1 } : p;
    const ch = this.chunk(at);
    ch.lo.splice(at.j + 1, 0, lo);
    ch.hi.splice(at.j + 1, 0, hi);
    this.nruns++;
    if (ch.lo.length > 2 * this.chunkSize) {
      const half = ch.lo.length >> 1;
      this.chunks.splice(at.c + 1, 0, { lo: ch.lo.splice(half), hi: ch.hi.splice(half) });
    }
  }

  has(v: bigint): boolean {
    const p = this.locate(v);
    return p.c >= 0 && v <= (this.chunk(p).hi[p.j] as bigint);
  }

  add(v: bigint): boolean {
    const p = this.locate(v);
    if (p.c >= 0 && v <= (this.chunk(p).hi[p.j] as bigint)) return false;
    const n = this.next(p);
    const joinsLeft = p.c >= 0 && (this.chunk(p).hi[p.j] as bigint) + 1n === v;
    const joinsRight = n !== undefined && (this.chunk(n).lo[n.j] as bigint) - 1n === v;
    if (joinsLeft && joinsRight && n) {
      this.chunk(p).hi[p.j] = this.chunk(n).hi[n.j] as bigint;
      this.removeAt(n);
    } else if (joinsLeft) this.chunk(p).hi[p.j] = v;
    else if (joinsRight && n) this.chunk(n).lo[n.j] = v;
    else this.insertAfter(p, v, v);
    this.count++;
    return true;
  }

  delete(v: bigint): boolean {
    const p = this.locate(v);
    if (p.c < 0) return false;
    const ch = this.chunk(p);
    const lo = ch.lo[p.j] as bigint;
    const hi = ch.hi[p.j] as bigint;
    if (v > hi) return false;
    if (lo === hi) this.removeAt(p);
    else if (v === lo) ch.lo[p.j] = v + 1n;
    else if (v === hi) ch.hi[p.j] = v - 1n;
    else {
      ch.hi[p.j] = v - 1n;
      this.insertAfter(p, v + 1n, hi);
    }
    this.count--;
    return true;
  }

  /** The lowest value in [0, limit) that is not in the set, or undefined when all are taken. */
  lowestFree(limit: bigint): bigint | undefined {
    const ch = this.chunks[0];
    const first = ch && ch.lo[0] === 0n ? (ch.hi[0] as bigint) + 1n : 0n;
    return first < limit ? first : undefined;
  }
}
