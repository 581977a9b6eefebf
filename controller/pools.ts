/**
 * IPAddressPool CRs -> validated pool model + problems (the one translation layer for pools).
 *
 * Exported API:
 *   interface PoolModel        validated pool; `intervals` merged, sorted, IPv4 first
 *   interface PoolProblem      { pool, code: PoolProblemCode, message, conflictsWith? }
 *   parsePools(pools: readonly IPAddressPool[]) -> { pools: PoolModel[], problems: PoolProblem[] }
 *   comparePoolOrder(a, b)     candidate order: priority (unset last), then name
 *   statusCount(n: bigint) -> number | string   exact count for pool status; a string above 2^53
 *   poolAllows(pool, svc, namespaceLabels) -> boolean   the serviceAllocation rule
 * The allocator's run-time view of the accepted pools is PoolIndex (pool-index.ts).
 *
 * Rules:
 * - A pool with any invalid entry or selector is not used at all (problem InvalidAddress /
 *   InvalidSelector / InvalidPriority): half a pool would hand out addresses the user did not mean.
 * - Entries of one pool that overlap or touch are merged (counted once), not an error.
 * - Overlapping pools: pools are ranked by creationTimestamp (missing = newest), then name; a
 *   pool overlapping an earlier *accepted* pool gets a Conflict problem naming it and is not used.
 * - The output never shares objects with the input, and the input is never mutated.
 */
import { type Interval, parsePoolEntry, specialBlockIn } from '../api/addresses.js';
import type { IPAddressPool, LabelSelector } from '../api/crd-types.js';
import { mergeIntervals, overlapping } from '../api/intervals.js';
import { type Labels, matchesAny, selectorProblem } from '../api/selectors.js';

export interface PoolModel {
  readonly name: string;
  readonly intervals: readonly Interval[];
  readonly autoAssign: boolean;
  readonly avoidBuggyIPs: boolean;
  /** serviceAllocation.priority; undefined sorts after every pool that sets one. */
  readonly priority: number | undefined;
  /** serviceAllocation.namespaces (OR-ed with namespaceSelectors); empty = no namespace rule. */
  readonly namespaces: readonly string[];
  readonly namespaceSelectors: readonly LabelSelector[];
  /** OR-ed among themselves, AND-ed with the namespace rule; empty = no service rule. */
  readonly serviceSelectors: readonly LabelSelector[];
}

export type PoolProblemCode = 'InvalidAddress' | 'InvalidSelector' | 'InvalidPriority' | 'Conflict';

export interface PoolProblem {
  readonly pool: string;
  readonly code: PoolProblemCode;
  readonly message: string;
  /** For Conflict: the earlier pool that keeps the overlapping addresses. */
  readonly conflictsWith?: string;
}

export function comparePoolOrder(a: PoolModel, b: PoolModel): number {
  if (a.priority !== b.priority) {
    if (a.priority === undefined) return 1;
    if (b.priority === undefined) return -1;
    return a.priority - b.priority;
  }
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

export function statusCount(n: bigint): number | string {
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
}

type Parsed = { ok: true; pool: PoolModel; created: number } | { ok: false; problem: PoolProblem };

const cloneSelector = (s: LabelSelector): LabelSelector => structuredClone(s);

function createdMs(v: string | Date | undefined): number {
  const ms = v === undefined ? Number.NaN : new Date(v).getTime();
  return Number.isNaN(ms) ? Number.POSITIVE_INFINITY : ms;
}

function parseOne(cr: IPAddressPool): Parsed {
  const name = cr.metadata.name ?? '';
  const bad = (code: PoolProblemCode, message: string): Parsed => ({
    ok: false,
    problem: { pool: name, code, message },
  });
  const entries = cr.spec?.addresses ?? [];
  if (entries.length === 0) return bad('InvalidAddress', 'spec.addresses is empty');
  const intervals: Interval[] = [];
  for (const e of entries) {
    const r = parsePoolEntry(e);
    if (!r.ok) return bad('InvalidAddress', r.error);
    const special = specialBlockIn(r.interval);
    if (special)
      return bad('InvalidAddress', `"${e}" includes ${special}, which cannot be a LoadBalancer IP`);
    intervals.push(r.interval);
  }
  const sa = cr.spec.serviceAllocation;
  const priority = sa?.priority ?? undefined;
  if (priority !== undefined && !Number.isSafeInteger(priority)) {
    return bad('InvalidPriority', `serviceAllocation.priority must be an integer, got ${priority}`);
  }
  const namespaceSelectors = (sa?.namespaceSelectors ?? []).map(cloneSelector);
  const serviceSelectors = (sa?.serviceSelectors ?? []).map(cloneSelector);
  for (const [field, sels] of [
    ['namespaceSelectors', namespaceSelectors],
    ['serviceSelectors', serviceSelectors],
  ] as const) {
    for (const s of sels) {
      const p = selectorProblem(s);
      if (p) return bad('InvalidSelector', `serviceAllocation.${field}: ${p}`);
    }
  }
  const pool: PoolModel = {
    name,
    intervals: mergeIntervals(intervals),
    autoAssign: cr.spec.autoAssign ?? true,
    avoidBuggyIPs: cr.spec.avoidBuggyIPs ?? false,
    priority,
    namespaces: [...(sa?.namespaces ?? [])],
    namespaceSelectors,
    serviceSelectors,
  };
  return { ok: true, pool, created: createdMs(cr.metadata.creationTimestamp) };
}

function firstOverlap(pool: PoolModel, accepted: readonly PoolModel[]): PoolModel | undefined {
  return accepted.find((other) => pool.intervals.some((a) => other.intervals.some((b) => overlapping(a, b))));
}

export function parsePools(crs: readonly IPAddressPool[]): { pools: PoolModel[]; problems: PoolProblem[] } {
  const problems: PoolProblem[] = [];
  const valid: { pool: PoolModel; created: number }[] = [];
  for (const cr of crs) {
    const r = parseOne(cr);
    if (r.ok) valid.push(r);
    else problems.push(r.problem);
  }
  // Earlier-created pools win overlaps; the name breaks ties so the result is order-independent.
  valid.sort((a, b) => a.created - b.created || (a.pool.name < b.pool.name ? -1 : 1));
  const accepted: PoolModel[] = [];
  for (const { pool } of valid) {
    const other = firstOverlap(pool, accepted);
    if (!other) {
      accepted.push(pool);
      continue;
    }
    problems.push({
      pool: pool.name,
      code: 'Conflict',
      message: `addresses overlap pool "${other.name}", which was created earlier; this pool is not used`,
      conflictsWith: other.name,
    });
  }
  problems.sort((a, b) => (a.pool < b.pool ? -1 : a.pool > b.pool ? 1 : 0));
  return { pools: accepted.sort(comparePoolOrder), problems };
}

/** Whether a pool's serviceAllocation lets this Service draw from it (namespaceLabels: its namespace's labels). */
export function poolAllows(
  pool: PoolModel,
  svc: { readonly namespace: string; readonly labels: Labels },
  namespaceLabels: Labels,
): boolean {
  const nsRule = pool.namespaces.length > 0 || pool.namespaceSelectors.length > 0;
  if (
    nsRule &&
    !pool.namespaces.includes(svc.namespace) &&
    !matchesAny(pool.namespaceSelectors, namespaceLabels)
  ) {
    return false;
  }
  return pool.serviceSelectors.length === 0 || matchesAny(pool.serviceSelectors, svc.labels);
}
