/**
 * The allocator: which Service holds which IP. Pure and synchronous — no client, logger,
 * clock or timer; the shell feeds it models (pools.ts, service.ts) and writes its answers.
 * Bookkeeping lives in holdings.ts, choosing a new address in picker.ts; this file decides.
 *
 * Exported API (class Allocator):
 *   setPools(pools: readonly PoolModel[]): void      accepted pools from parsePools; never moves an IP
 *   restore(svc): RestoreResult                      load what a Service's status already says
 *   assign(svc, namespaceLabels?): AssignResult      idempotent; atomic on failure (see below)
 *   release(key): boolean                            forget a Service (deleted, ignored, type change)
 *   poolStats(name): PoolStats | undefined           exact bigint counts per family
 *   outOfPool(): string[]                            keys holding an IP no pool covers (O(assignments))
 *   holderOf(ip): string[]                           keys holding an IP, sorted
 *   snapshot(): { key, ips }[]                       every assignment, sorted by key
 *
 * Rules (ARCHITECTURE.md §1), and the interpretations made here:
 * - The Service's status is the durable record. Restore holds exactly what it says (first IP
 *   per family), even out of pool, even where another Service claims the same IP
 *   incompatibly: restore never evicts, so the state after restoring a set of Services is the
 *   same in any order. And assign adopts a valid, free IP of the Service's request found in
 *   its status (written by a previous leader, or restored from a backup) rather than replace it.
 * - A held IP is kept while it still answers the Service's request: same requested IP; or
 *   drawn from (or now inside) the requested pool; sharing still allowed. Pool edits,
 *   namespace labels, autoAssign and serviceAllocation changes never move it. A Service pinned
 *   to pool A whose IP's range moved to pool B keeps the IP, out of pool (a Warning, counted),
 *   and still names A as the pool it came from, so a restart decides the same.
 * - When two Services can no longer share an IP, the one that changed since it was admitted
 *   gives it up (its ports, key, traffic policy or selector): live, by comparing with the model
 *   it was admitted with; after a restart, by the sharing fingerprint in its annotation. When
 *   neither or both changed, the earlier-created (then lower key) keeps it.
 * - A holder whose own sharing change failed (it keeps its IP under its old admission) takes no
 *   new sharers until the change succeeds (holdings.ts unsettled()): live only its old model
 *   is known, after a restart only its new one, so neither may decide by it.
 * - Auto allocation: candidate pools in priority-then-name order, a same-key shared IP first
 *   (lowest candidate pool, then lowest IP), else the lowest free address. Each family is
 *   chosen independently, so a dual-stack Service may draw from two pools.
 * - Atomic: a failed assign changes nothing, except dropping an IP whose sharing the Service
 *   itself broke. A Service whose request changed keeps its old IPs until the new request
 *   succeeds (the failure carries them in `held`), so a typo never drops traffic.
 * - PreferDualStack succeeds with the families it can serve when the others fail only for
 *   lack of a pool (FamilyNotAvailable, NoEligiblePool, PoolExhausted) and carry no requested
 *   IP; those are listed in `unserved` and retried on every assign. RequireDualStack needs all.
 * - A requested IP or a requested pool bypasses autoAssign but not serviceAllocation. Dropping
 *   a request keeps the IP (nothing asks for a move). A second restore of a known key is a no-op.
 */
import { type Address, type Family, formatIP, parseIP } from '../api/addresses.js';
import type { Labels } from '../api/selectors.js';
import { annotatedPool } from '../api/service-annotations.js';
import { type Hold, type Holding, Holdings, Holds } from './holdings.js';
import { type Failure, type PickContext, pick } from './picker.js';
import { PoolIndex } from './pool-index.js';
import type { PoolModel } from './pools.js';
import type { ServiceModel } from './service.js';
import { canShare, joinable } from './sharing.js';

export type { Failure, ReasonCode } from './picker.js';

export interface AssignedIP {
  readonly family: Family;
  readonly ip: string;
  /** The pool it was drawn from (what the pool annotation says); undefined when unknown. */
  readonly pool: string | undefined;
  /** The pool covering it now, if any (it differs from `pool` after a range moved). */
  readonly inPool: string | undefined;
  /** True when no pool hands it out any more, or it left the Service's requested pool. */
  readonly outOfPool: boolean;
}

export type AssignResult =
  | { ok: true; ips: AssignedIP[]; changed: boolean; unserved: Failure[]; admitted: string }
  | (Failure & { ok: false; held: AssignedIP[]; admitted: string });

export interface RestoreResult {
  readonly ips: AssignedIP[];
  /** IPs also claimed by Services this one may not share with (for a Warning; state is kept). */
  readonly conflicts: { ip: string; with: string[] }[];
  /** True when the key was already known: restore changed nothing. */
  readonly alreadyKnown: boolean;
}

export interface PoolStats {
  readonly assignedV4: bigint;
  readonly availableV4: bigint;
  readonly assignedV6: bigint;
  readonly availableV6: bigint;
}

type Verdict = 'keep' | 'change' | 'lost';

const SOFT = new Set(['FamilyNotAvailable', 'NoEligiblePool', 'PoolExhausted']);

const earlier = (a: ServiceModel, b: ServiceModel): boolean =>
  a.created < b.created || (a.created === b.created && a.key < b.key);

export class Allocator {
  private index = new PoolIndex([]);
  private readonly holdings = new Holdings(this.index);

  setPools(pools: readonly PoolModel[]): void {
    this.index = new PoolIndex(pools);
    this.holdings.reindex(this.index);
  }

  restore(svc: ServiceModel): RestoreResult {
    if (this.holdings.has(svc.key)) return { ips: this.held(svc.key), conflicts: [], alreadyKnown: true };
    const ips = new Holds();
    const first = firstPerFamily(svc.current.ips);
    if (first.length === 0) return { ips: [], conflicts: [], alreadyKnown: false }; // nothing held
    first.forEach((a, i) => {
      ips.set(a.family, {
        value: a.value,
        from: annotatedPool(svc.current.pools, i, first.length) ?? this.poolName(a),
      });
    });
    const conflicts: { ip: string; with: string[] }[] = [];
    for (const [family, h] of ips) {
      const bad = this.holdings
        .others(svc.key, family, h.value)
        .filter((k) => !canShare(svc, this.modelOf(k)));
      if (bad.length > 0) conflicts.push({ ip: formatIP({ family, value: h.value }), with: bad });
    }
    // No annotation: it was admitted without a sharing key (the annotation exists only with one).
    this.holdings.commit(svc, ips, svc.current.sharingAdmitted ?? '');
    return { ips: this.held(svc.key), conflicts, alreadyKnown: false };
  }

  assign(svc: ServiceModel, namespaceLabels: Labels = {}): AssignResult {
    const cur = this.holdings.get(svc.key);
    if (svc.requestError) return this.fail(svc, { reason: 'InvalidRequest', message: svc.requestError }, []);
    const ctx: PickContext = { index: this.index, holdings: this.holdings };
    const next = new Holds();
    const lost: Family[] = [];
    const failures: Failure[] = [];
    for (const family of svc.families) {
      const adopted = this.adoptable(svc, family, cur?.ips.get(family));
      if (adopted) {
        next.set(family, adopted);
        continue;
      }
      const hold = cur?.ips.get(family);
      const verdict = hold && cur ? this.verdict(svc, cur, family, hold) : 'change';
      if (verdict === 'keep' && hold) {
        next.set(family, { value: hold.value, from: this.keptFrom(svc, family, hold) });
        continue;
      }
      if (verdict === 'lost') lost.push(family);
      const r = pick(ctx, svc, family, namespaceLabels);
      if ('value' in r) next.set(family, r);
      else failures.push(r);
    }
    const tolerable = (f: Failure) =>
      svc.policy === 'PreferDualStack' &&
      SOFT.has(f.reason) &&
      !svc.requestedIPs.some((a) => a.family === f.family);
    if (failures.length > 0 && (next.size === 0 || !failures.every(tolerable))) {
      return this.fail(svc, failures[0] as Failure, lost);
    }
    const prev = cur?.ips;
    const changed =
      !prev || prev.size !== next.size || [...next].some(([f, h]) => prev.get(f)?.value !== h.value);
    this.holdings.commit(svc, next, svc.sharing);
    return { ok: true, ips: this.held(svc.key), changed, unserved: failures, admitted: svc.sharing };
  }

  release(key: string): boolean {
    return this.holdings.release(key);
  }

  poolStats(name: string): PoolStats | undefined {
    const st = this.index.pool(name);
    if (!st) return undefined;
    const count = (f: Family) => {
      const s = st.spaces[f];
      return s ? { assigned: s.used.count, available: s.space.size - s.used.count } : undefined;
    };
    const v4 = count('IPv4');
    const v6 = count('IPv6');
    return {
      assignedV4: v4?.assigned ?? 0n,
      availableV4: v4?.available ?? 0n,
      assignedV6: v6?.assigned ?? 0n,
      availableV6: v6?.available ?? 0n,
    };
  }

  outOfPool(): string[] {
    const keys: string[] = [];
    for (const [key] of this.holdings.entries()) if (this.held(key).some((i) => i.outOfPool)) keys.push(key);
    return keys.sort();
  }

  holderOf(ip: string): string[] {
    const a = parseIP(ip);
    return a ? this.holdings.holdersAt(a.family, a.value).sort() : [];
  }

  snapshot(): { key: string; ips: string[] }[] {
    return [...this.holdings.keys()].sort().map((key) => ({ key, ips: this.held(key).map((i) => i.ip) }));
  }

  // --- internals -------------------------------------------------------------------------

  private modelOf(key: string): ServiceModel {
    return (this.holdings.get(key) as Holding).model;
  }

  private poolName(a: Address): string | undefined {
    return this.index.poolAt(a.family, a.value)?.model.name;
  }

  /**
   * What `key` holds, described against `model` (default: the model it was admitted with). A
   * failed assign describes what is kept against the Service as it is now, as a restarted
   * controller (which knows only the current Service) would.
   */
  private held(key: string, model?: ServiceModel): AssignedIP[] {
    const cur = this.holdings.get(key);
    if (!cur) return [];
    const m = model ?? cur.model;
    const out: AssignedIP[] = [];
    // wanted families in the Service's order first, then any it no longer wants (restored)
    for (const family of m.families) {
      const h = cur.ips.get(family);
      if (h) out.push(this.describe(m, family, h));
    }
    for (const [family, h] of cur.ips)
      if (!m.families.includes(family)) out.push(this.describe(m, family, h));
    return out;
  }

  private describe(model: ServiceModel, family: Family, h: Hold): AssignedIP {
    const inPool = this.index.usable(family, h.value) ? this.poolName({ family, value: h.value }) : undefined;
    // A Service pinned to a pool (and not to an address) asked for that pool's addresses only.
    const pinned = model.requestedPool !== undefined && !model.requestedIPs.some((a) => a.family === family);
    return {
      family,
      ip: formatIP({ family, value: h.value }),
      pool: h.from ?? inPool,
      inPool,
      outOfPool: inPool === undefined || (pinned && inPool !== model.requestedPool),
    };
  }

  /**
   * The pool a kept IP counts as drawn from: the pool covering it now, except for a Service
   * pinned to a pool that no longer covers it, which keeps naming the pool it was drawn from
   * (the one it asked for) so a restart restores the same verdict.
   */
  private keptFrom(svc: ServiceModel, family: Family, hold: Hold): string | undefined {
    const now = this.index.poolAt(family, hold.value)?.model.name;
    if (svc.requestedPool === undefined || svc.requestedIPs.some((a) => a.family === family)) {
      return now ?? hold.from;
    }
    return now === svc.requestedPool ? now : hold.from;
  }

  /**
   * The IP the Service's status names for `family`, when it differs from what we hold and the
   * Service may have it: usable, matching its request, and not held by a Service it may not
   * share with. Adopting it keeps what users see (and a previous leader decided).
   */
  private adoptable(svc: ServiceModel, family: Family, hold: Hold | undefined): Hold | undefined {
    const a = svc.current.ips.find((x) => x.family === family);
    if (!a || a.value === hold?.value || !this.index.usable(family, a.value)) return undefined;
    const req = svc.requestedIPs.find((x) => x.family === family);
    if (req && req.value !== a.value) return undefined;
    const pool = this.poolName(a);
    if (!req && svc.requestedPool !== undefined && pool !== svc.requestedPool) return undefined;
    const others = this.holdings.others(svc.key, family, a.value);
    if (!others.every((k) => joinable(svc, this.holdings.get(k) as Holding))) return undefined;
    return { value: a.value, from: pool };
  }

  /** Whether a held IP still answers the Service's request (see the rules at the top). */
  private verdict(svc: ServiceModel, cur: Holding, family: Family, hold: Hold): Verdict {
    const req = svc.requestedIPs.find((a) => a.family === family);
    if (req && req.value !== hold.value) return 'change';
    if (!req && svc.requestedPool !== undefined) {
      const now = this.index.poolAt(family, hold.value)?.model.name;
      const drawn = now === svc.requestedPool || hold.from === svc.requestedPool;
      if (!drawn && !(now === undefined && hold.from === undefined)) return 'change';
    }
    for (const k of this.holdings.others(svc.key, family, hold.value)) {
      const other = this.holdings.get(k) as Holding;
      if (!canShare(svc, other.model) && this.losesTo(svc, cur, other)) return 'lost';
    }
    return 'keep';
  }

  /** Of two Services that can no longer share an IP, whether `svc` is the one to give it up. */
  private losesTo(svc: ServiceModel, cur: Holding, other: Holding): boolean {
    const iChanged = cur.admitted !== svc.sharing;
    const theyChanged = other.admitted !== other.model.sharing;
    if (iChanged !== theyChanged) return iChanged;
    return !earlier(svc, other.model);
  }

  private fail(svc: ServiceModel, f: Failure, lost: readonly Family[]): AssignResult {
    const cur = this.holdings.get(svc.key);
    if (cur && lost.length > 0) {
      const keep = new Holds([...cur.ips].filter(([family]) => !lost.includes(family)));
      if (keep.size > 0) this.holdings.commit(cur.model, keep, cur.admitted);
      else this.holdings.release(svc.key);
    }
    // What it keeps stays under its old admission; until a change succeeds, it takes no new
    // sharers if it now asks to share differently (holdings.ts unsettled()).
    this.holdings.markPending(svc.key, svc.sharing);
    const after = this.holdings.get(svc.key);
    return { ok: false, ...f, held: this.held(svc.key, svc), admitted: after?.admitted ?? '' };
  }
}

/** The first address of each family, in status order. */
function firstPerFamily(ips: readonly Address[]): Address[] {
  const out: Address[] = [];
  for (const a of ips) if (!out.some((o) => o.family === a.family)) out.push(a);
  return out;
}
