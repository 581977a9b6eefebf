/**
 * The allocator's run-time view of the accepted pools (from parsePools, pools.ts): candidate
 * order, lookup by name and by address, and which addresses of each pool are taken.
 *
 * Exported API:
 *   interface PoolSpace, PoolState        one family of one pool; one pool
 *   class PoolIndex(pools)                ordered, pool(name), poolAt(family, v), usable(family, v),
 *                                         hasFamily(f), autoAssign(f, svc, nsLabels), mark(f, v, used)
 */
import type { Family } from '../api/addresses.js';
import { OrdinalSpace, RunSet } from '../api/intervals.js';
import type { Labels } from '../api/selectors.js';
import { comparePoolOrder, type PoolModel, poolAllows } from './pools.js';

/** One family of one pool at run time: its usable addresses and which of them are taken. */
export interface PoolSpace {
  readonly space: OrdinalSpace;
  readonly used: RunSet; // ordinals of addresses held by at least one Service
}

export interface PoolState {
  readonly model: PoolModel;
  readonly spaces: Partial<Record<Family, PoolSpace>>;
}

interface Range {
  readonly start: bigint;
  readonly end: bigint;
  readonly pool: PoolState;
}

/**
 * The allocator's run-time view of the accepted pools: candidate order, lookup by name and by
 * address (binary search over every pool's ranges), and per-pool usage. Pools must not
 * overlap (parsePools guarantees it); on overlap the lowest range start wins a lookup.
 */
export class PoolIndex {
  readonly ordered: readonly PoolState[];
  private readonly auto: Record<Family, PoolState[]> = { IPv4: [], IPv6: [] }; // autoAssign pools, in order
  private readonly anyRules: boolean; // some pool has a serviceAllocation rule
  private readonly byName = new Map<string, PoolState>(); // pool name -> state
  private readonly ranges: Record<Family, Range[]> = { IPv4: [], IPv6: [] }; // sorted by start

  constructor(pools: readonly PoolModel[]) {
    this.ordered = [...pools].sort(comparePoolOrder).map((model) => {
      const spaces: Partial<Record<Family, PoolSpace>> = {};
      for (const family of ['IPv4', 'IPv6'] as const) {
        const ivs = model.intervals.filter((iv) => iv.family === family);
        if (ivs.length > 0)
          spaces[family] = { space: new OrdinalSpace(family, ivs, model.avoidBuggyIPs), used: new RunSet() };
      }
      return { model, spaces };
    });
    this.anyRules = pools.some(
      (p) => p.namespaces.length + p.namespaceSelectors.length + p.serviceSelectors.length > 0,
    );
    for (const st of this.ordered) {
      this.byName.set(st.model.name, st);
      for (const family of ['IPv4', 'IPv6'] as const) {
        if (st.spaces[family] && st.model.autoAssign) this.auto[family].push(st);
      }
      for (const iv of st.model.intervals)
        this.ranges[iv.family].push({ start: iv.start, end: iv.end, pool: st });
    }
    for (const list of Object.values(this.ranges)) list.sort((a, b) => (a.start < b.start ? -1 : 1));
  }

  hasFamily(family: Family): boolean {
    return this.ranges[family].length > 0;
  }

  /** autoAssign pools of a family that admit the Service, in candidate order (do not mutate). */
  autoAssign(
    family: Family,
    svc: { readonly namespace: string; readonly labels: Labels },
    ns: Labels,
  ): PoolState[] {
    const all = this.auto[family];
    return this.anyRules ? all.filter((st) => poolAllows(st.model, svc, ns)) : all;
  }

  pool(name: string): PoolState | undefined {
    return this.byName.get(name);
  }

  /** The pool whose ranges cover the address (even an avoided .0/.255), if any. */
  poolAt(family: Family, value: bigint): PoolState | undefined {
    const list = this.ranges[family];
    let lo = 0;
    let hi = list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = list[mid] as Range;
      if (value < r.start) hi = mid - 1;
      else if (value > r.end) lo = mid + 1;
      else return r.pool;
    }
    return undefined;
  }

  /** Whether some pool hands out this address (covered and not avoided). */
  usable(family: Family, value: bigint): boolean {
    return this.poolAt(family, value)?.spaces[family]?.space.ordinalOf(value) !== undefined;
  }

  /** Records that an address became held (`used`) or free; addresses outside every pool are ignored. */
  mark(family: Family, value: bigint, used: boolean): void {
    const s = this.poolAt(family, value)?.spaces[family];
    const k = s?.space.ordinalOf(value);
    if (s === undefined || k === undefined) return;
    if (used) s.used.add(k);
    else s.used.delete(k);
  }
}
