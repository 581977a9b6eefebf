/**
 * The allocator: which Service holds which IP. Pure and synchronous — no client, logger,
 * clock or timer; the shell feeds it models (pools.ts, service.ts) and writes its answers.
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
 * - Restore holds exactly what the status says (first IP per family), even out of pool, even
 *   where another Service claims the same IP incompatibly: restore never evicts, so the
 *   state after restoring a set of Services is the same in any order. Such a conflict is
 *   settled at the next assign of either Service: the earlier-created (then lower key) keeps it.
 * - A held IP is kept while it still answers the Service's request: same requested IP; or
 *   drawn from (or still inside) the requested pool; sharing still allowed. Pool edits,
 *   namespace labels, autoAssign and serviceAllocation changes never move it.
 * - When a Service's own change breaks sharing (ports, key, traffic policy), that Service
 *   loses the IP, not the one it shared with: others are compared with the model they were
 *   admitted with.
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
import { PoolIndex, type PoolModel, type PoolState, poolAllows } from './pools.js';
import type { ServiceModel } from './service.js';
import { canShare, whyNotShare } from './sharing.js';

export type ReasonCode =
  | 'InvalidRequest' // malformed or contradictory annotation / spec.loadBalancerIP
  | 'UnknownPool' // requested pool does not exist, is invalid or lost a Conflict
  | 'PoolNotAllowed' // the pool's serviceAllocation does not admit this Service
  | 'FamilyNotAvailable' // no pool (or not the requested pool) has addresses of a wanted family
  | 'NoEligiblePool' // pools of that family exist, but none auto-assigns to this Service
  | 'PoolExhausted' // every candidate pool is full
  | 'RequestedIPOutsidePools' // the requested IP is in no usable pool
  | 'RequestedIPNotInPool' // the requested IP is in another pool than the requested pool
  | 'RequestedIPExcluded' // the requested IP ends in .0/.255 and its pool sets avoidBuggyIPs
  | 'IPInUse'; // the requested IP is held by a Service it may not share with

export interface Failure {
  readonly reason: ReasonCode;
  readonly message: string;
  readonly family?: Family;
}

interface Hold {
  readonly value: bigint;
  readonly from: string | undefined; // pool it was drawn from (kept when the pool stops covering it)
}

export interface AssignedIP {
  readonly family: Family;
  readonly ip: string;
  /** The pool it is in now, or the pool it was drawn from when no pool covers it any more. */
  readonly pool: string | undefined;
  /** True when no pool currently hands out this IP (pool edited or deleted). */
  readonly outOfPool: boolean;
}

export type AssignResult =
  | { ok: true; ips: AssignedIP[]; changed: boolean; unserved: Failure[] }
  | (Failure & { ok: false; held: AssignedIP[] });

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

interface Holding {
  model: ServiceModel; // the model this Service was last admitted with
  ips: Holds;
}

/**
 * What one Service holds: at most one address per family. Two fields where a Map cost about
 * 300 bytes per Service (3 MiB at 10,000); the Map methods the allocator uses, same meaning.
 */
class Holds implements Iterable<[Family, Hold]> {
  private v4: Hold | undefined;
  private v6: Hold | undefined;

  constructor(entries: Iterable<[Family, Hold]> = []) {
    for (const [f, h] of entries) this.set(f, h);
  }
  get size(): number {
    return (this.v4 ? 1 : 0) + (this.v6 ? 1 : 0);
  }
  get(f: Family): Hold | undefined {
    return f === 'IPv4' ? this.v4 : this.v6;
  }
  has(f: Family): boolean {
    return this.get(f) !== undefined;
  }
  set(f: Family, h: Hold): this {
    if (f === 'IPv4') this.v4 = h;
    else this.v6 = h;
    return this;
  }
  *[Symbol.iterator](): Iterator<[Family, Hold]> {
    if (this.v4) yield ['IPv4', this.v4];
    if (this.v6) yield ['IPv6', this.v6];
  }
}

type Verdict = 'keep' | 'change' | 'lost';

const SOFT = new Set(['FamilyNotAvailable', 'NoEligiblePool', 'PoolExhausted']);

const earlier = (a: ServiceModel, b: ServiceModel): boolean =>
  a.created < b.created || (a.created === b.created && a.key < b.key);

export class Allocator {
  private index = new PoolIndex([]);
  private readonly services = new Map<string, Holding>(); // service key -> what it holds
  // ip -> key of its holder, or keys when shared (a bare string saves an array per address)
  private readonly holders = {
    IPv4: new Map<bigint, string | string[]>(),
    IPv6: new Map<bigint, string | string[]>(),
  };
  private readonly bySharingKey = new Map<string, Set<string>>(); // sharing key -> service keys

  setPools(pools: readonly PoolModel[]): void {
    this.index = new PoolIndex(pools);
    for (const family of ['IPv4', 'IPv6'] as const) {
      for (const ip of this.holders[family].keys()) this.index.mark(family, ip, true);
    }
  }

  restore(svc: ServiceModel): RestoreResult {
    if (this.services.has(svc.key)) return { ips: this.held(svc.key), conflicts: [], alreadyKnown: true };
    const ips = new Holds();
    for (const a of svc.current.ips) {
      if (ips.has(a.family)) continue; // one per family; status order decides
      const inPool = this.index.poolAt(a.family, a.value)?.model.name;
      const from = inPool ?? (svc.current.pools.length === 1 ? svc.current.pools[0] : undefined);
      ips.set(a.family, { value: a.value, from });
    }
    const conflicts: { ip: string; with: string[] }[] = [];
    for (const [family, h] of ips) {
      const bad = this.others(svc.key, family, h.value).filter((k) => !canShare(svc, this.modelOf(k)));
      if (bad.length > 0) conflicts.push({ ip: formatIP({ family, value: h.value }), with: bad });
    }
    this.commit(svc, ips);
    return { ips: this.held(svc.key), conflicts, alreadyKnown: false };
  }

  assign(svc: ServiceModel, namespaceLabels: Labels = {}): AssignResult {
    const cur = this.services.get(svc.key);
    if (svc.requestError) return this.fail(svc, { reason: 'InvalidRequest', message: svc.requestError }, []);
    const next = new Holds();
    const lost: Family[] = [];
    const failures: Failure[] = [];
    for (const family of svc.families) {
      const hold = cur?.ips.get(family);
      const verdict = hold && cur ? this.verdict(svc, cur, family, hold) : 'change';
      if (verdict === 'keep' && hold) {
        next.set(family, {
          value: hold.value,
          from: this.index.poolAt(family, hold.value)?.model.name ?? hold.from,
        });
        continue;
      }
      if (verdict === 'lost') lost.push(family);
      const r = this.pick(svc, family, namespaceLabels);
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
    this.commit(svc, next);
    return { ok: true, ips: this.held(svc.key), changed, unserved: failures };
  }

  release(key: string): boolean {
    const cur = this.services.get(key);
    if (!cur) return false;
    for (const [family, h] of cur.ips) this.unhold(key, family, h.value);
    this.unindexSharing(cur.model);
    this.services.delete(key);
    return true;
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
    for (const [key, h] of this.services) {
      if ([...h.ips].some(([f, hold]) => !this.index.usable(f, hold.value))) keys.push(key);
    }
    return keys.sort();
  }

  holderOf(ip: string): string[] {
    const a = parseIP(ip);
    return a ? this.holdersAt(a.family, a.value).sort() : [];
  }

  snapshot(): { key: string; ips: string[] }[] {
    return [...this.services.keys()].sort().map((key) => ({ key, ips: this.held(key).map((i) => i.ip) }));
  }

  // --- internals -------------------------------------------------------------------------

  private modelOf(key: string): ServiceModel {
    return (this.services.get(key) as Holding).model;
  }

  private holdersAt(family: Family, value: bigint): string[] {
    const h = this.holders[family].get(value);
    return h === undefined ? [] : typeof h === 'string' ? [h] : [...h];
  }

  private others(key: string, family: Family, value: bigint): string[] {
    const h = this.holders[family].get(value);
    if (h === undefined || h === key) return [];
    return typeof h === 'string' ? [h] : h.filter((k) => k !== key);
  }

  private held(key: string): AssignedIP[] {
    const cur = this.services.get(key);
    if (!cur) return [];
    const out: AssignedIP[] = [];
    // wanted families in the Service's order first, then any it no longer wants (restored)
    for (const family of cur.model.families) {
      const h = cur.ips.get(family);
      if (h) out.push(this.describe(family, h));
    }
    for (const [family, h] of cur.ips)
      if (!cur.model.families.includes(family)) out.push(this.describe(family, h));
    return out;
  }

  private describe(family: Family, h: Hold): AssignedIP {
    const st = this.index.poolAt(family, h.value);
    const inPool = st?.spaces[family]?.space.ordinalOf(h.value) !== undefined;
    return {
      family,
      ip: formatIP({ family, value: h.value }),
      pool: inPool ? st?.model.name : h.from,
      outOfPool: !inPool,
    };
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
    for (const k of this.others(svc.key, family, hold.value)) {
      const o = this.modelOf(k);
      if (canShare(svc, o)) continue;
      if (canShare(cur.model, o) || !earlier(svc, o)) return 'lost';
    }
    return 'keep';
  }

  private pick(svc: ServiceModel, family: Family, ns: Labels): Hold | Failure {
    const req = svc.requestedIPs.find((a) => a.family === family);
    return req ? this.pickRequested(svc, req, ns) : this.pickAuto(svc, family, ns);
  }

  private pickRequested(svc: ServiceModel, req: Address, ns: Labels): Hold | Failure {
    const family = req.family;
    const ip = formatIP(req);
    const f = (reason: ReasonCode, message: string): Failure => ({ reason, message, family });
    const wanted = svc.requestedPool;
    if (wanted !== undefined && !this.index.pool(wanted)) return f('UnknownPool', unknownPool(wanted));
    const st = this.index.poolAt(family, req.value);
    if (!st) return f('RequestedIPOutsidePools', `requested IP ${ip} is not in any usable pool`);
    const name = st.model.name;
    if (wanted !== undefined && name !== wanted) {
      return f(
        'RequestedIPNotInPool',
        `requested IP ${ip} is in pool "${name}", not in requested pool "${wanted}"`,
      );
    }
    if (!poolAllows(st.model, svc, ns)) return f('PoolNotAllowed', notAllowed(name));
    if (!this.index.usable(family, req.value)) {
      return f(
        'RequestedIPExcluded',
        `requested IP ${ip} ends in .0 or .255 and pool "${name}" sets avoidBuggyIPs`,
      );
    }
    // Every incompatible holder, sorted, so the message does not depend on arrival order.
    const blockers = this.others(svc.key, family, req.value)
      .sort()
      .flatMap((k) => {
        const why = whyNotShare(svc, this.modelOf(k));
        return why ? [`${k} (${why})`] : [];
      });
    if (blockers.length > 0) {
      return f(
        'IPInUse',
        `requested IP ${ip} is in use by Service ${blockers.join(', ')}, which cannot share it`,
      );
    }
    return { value: req.value, from: name };
  }

  private pickAuto(svc: ServiceModel, family: Family, ns: Labels): Hold | Failure {
    const cands = this.candidates(svc, family, ns);
    if (!Array.isArray(cands)) return cands;
    const shared = this.sharedIP(svc, family, cands);
    if (shared) return shared;
    for (const st of cands) {
      const s = st.spaces[family] as NonNullable<PoolState['spaces'][Family]>;
      const k = s.used.lowestFree(s.space.size);
      if (k !== undefined) return { value: s.space.addressAt(k), from: st.model.name };
    }
    const names = cands.map((c) => `"${c.model.name}"`).join(', ');
    return { reason: 'PoolExhausted', message: `no free ${family} address in pool ${names}`, family };
  }

  /** Candidate pools for an automatic address, in priority-then-name order. */
  private candidates(svc: ServiceModel, family: Family, ns: Labels): PoolState[] | Failure {
    const f = (reason: ReasonCode, message: string): Failure => ({ reason, message, family });
    const wanted = svc.requestedPool;
    if (wanted !== undefined) {
      const st = this.index.pool(wanted);
      if (!st) return f('UnknownPool', unknownPool(wanted));
      if (!poolAllows(st.model, svc, ns)) return f('PoolNotAllowed', notAllowed(wanted));
      if (!st.spaces[family]) return f('FamilyNotAvailable', `pool "${wanted}" has no ${family} addresses`);
      return [st];
    }
    if (!this.index.hasFamily(family))
      return f('FamilyNotAvailable', `no usable pool has ${family} addresses`);
    const cands = this.index.autoAssign(family, svc, ns);
    if (cands.length > 0) return cands;
    return f(
      'NoEligiblePool',
      `no pool with ${family} addresses auto-assigns to this Service (autoAssign is false or serviceAllocation does not match)`,
    );
  }

  /** An IP already held by Services with the same sharing key that all may share it, if any. */
  private sharedIP(svc: ServiceModel, family: Family, cands: readonly PoolState[]): Hold | undefined {
    if (!svc.sharingKey) return undefined;
    let best: { rank: number; value: bigint; from: string } | undefined;
    for (const k of this.bySharingKey.get(svc.sharingKey) ?? []) {
      const value = k === svc.key ? undefined : this.services.get(k)?.ips.get(family)?.value;
      if (value === undefined || !this.index.usable(family, value)) continue;
      const st = this.index.poolAt(family, value) as PoolState;
      const rank = cands.indexOf(st);
      if (rank < 0 || (best && (best.rank < rank || (best.rank === rank && best.value <= value)))) continue;
      if (this.others(svc.key, family, value).every((o) => canShare(svc, this.modelOf(o)))) {
        best = { rank, value, from: st.model.name };
      }
    }
    return best && { value: best.value, from: best.from };
  }

  private fail(svc: ServiceModel, f: Failure, lost: readonly Family[]): AssignResult {
    const cur = this.services.get(svc.key);
    if (cur && lost.length > 0) {
      const keep = new Holds([...cur.ips].filter(([family]) => !lost.includes(family)));
      if (keep.size > 0) this.commit(cur.model, keep);
      else this.release(svc.key);
    }
    return { ok: false, ...f, held: this.held(svc.key) };
  }

  /** Makes `ips` exactly what `svc` holds, updating holders, pool usage and the sharing index. */
  private commit(svc: ServiceModel, ips: Holds): void {
    const cur = this.services.get(svc.key);
    if (cur) {
      for (const [family, h] of cur.ips) {
        if (ips.get(family)?.value !== h.value) this.unhold(svc.key, family, h.value);
      }
      this.unindexSharing(cur.model);
    }
    for (const [family, h] of ips) {
      if (cur?.ips.get(family)?.value !== h.value) this.hold(svc.key, family, h.value);
    }
    this.services.set(svc.key, { model: svc, ips });
    if (svc.sharingKey) {
      const set = this.bySharingKey.get(svc.sharingKey) ?? new Set<string>();
      this.bySharingKey.set(svc.sharingKey, set.add(svc.key));
    }
  }

  private unindexSharing(model: ServiceModel): void {
    const set = model.sharingKey ? this.bySharingKey.get(model.sharingKey) : undefined;
    if (!set) return;
    set.delete(model.key);
    if (set.size === 0) this.bySharingKey.delete(model.sharingKey as string);
  }

  private hold(key: string, family: Family, value: bigint): void {
    const h = this.holders[family].get(value);
    if (h === undefined) {
      this.holders[family].set(value, key);
      this.index.mark(family, value, true);
    } else this.holders[family].set(value, typeof h === 'string' ? [h, key] : [...h, key]);
  }

  private unhold(key: string, family: Family, value: bigint): void {
    const rest = this.others(key, family, value);
    if (rest.length > 1) this.holders[family].set(value, rest);
    else if (rest.length === 1) this.holders[family].set(value, rest[0] as string);
    else if (this.holders[family].delete(value)) this.index.mark(family, value, false);
  }
}

const unknownPool = (name: string) =>
  `no usable pool named "${name}" (it does not exist, is invalid, or conflicts with an earlier pool)`;
const notAllowed = (name: string) =>
  `pool "${name}" does not admit this Service (serviceAllocation namespaces/selectors do not match)`;
