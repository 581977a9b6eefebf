/**
 * Who holds which IP: the allocator's bookkeeping, pure. Keeps three indexes in step — each
 * Service's holds, each address's holders (several when shared) and each sharing key's
 * Services — and marks addresses used or free in the pool index.
 *
 * Exported API:
 *   interface Hold { value, from }        one held address and the pool it was drawn from
 *   class Holds                           at most one Hold per family
 *   interface Holding { model, admitted, ips, pending? };  unsettled(holding) -> boolean
 *   class Holdings(index)                 get/has/entries, holdersAt, others, sharingGroup,
 *                                         commit(model, ips, admitted), release(key), reindex(index)
 */
import type { Family } from '../api/addresses.js';
import type { PoolIndex } from './pool-index.js';
import type { ServiceModel } from './service.js';

export interface Hold {
  readonly value: bigint;
  /** The pool it was drawn from; kept when that pool stops covering it (see allocator.ts). */
  readonly from: string | undefined;
}

/**
 * What one Service holds: at most one address per family. Two fields where a Map cost about
 * 300 bytes per Service (3 MiB at 10,000); the Map methods the allocator uses, same meaning.
 */
export class Holds implements Iterable<[Family, Hold]> {
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

export interface Holding {
  /** The model this Service was last admitted with (restore: the model it was restored with). */
  readonly model: ServiceModel;
  /**
   * Sharing fingerprint it was admitted with. Differs from `model.sharing` only for a restored
   * Service whose annotation says it changed since it was admitted.
   */
  readonly admitted: string;
  readonly ips: Holds;
  /**
   * The sharing fingerprint of the Service as it is now, when its last assign failed and left
   * it holding what `model` was admitted with (allocator.ts fail()); undefined otherwise.
   */
  readonly pending?: string;
}

/**
 * Whether a holder's sharing change is not in effect yet: its Service now asks to share
 * differently than it was admitted. Such a holder takes no new sharers until its change is
 * admitted — the running controller knows only its old model, a restarted one only its new
 * model and old fingerprint, and both must decide alike (test/unit/allocator.properties.test.ts).
 */
export function unsettled(h: Holding): boolean {
  return (h.pending ?? h.model.sharing) !== h.admitted;
}

export class Holdings {
  private readonly services = new Map<string, Holding>(); // service key -> what it holds
  // ip -> key of its holder, or keys when shared (a bare string saves an array per address)
  private readonly holders = {
    IPv4: new Map<bigint, string | string[]>(),
    IPv6: new Map<bigint, string | string[]>(),
  };
  private readonly bySharingKey = new Map<string, Set<string>>(); // sharing key -> service keys

  constructor(private index: PoolIndex) {}

  /** New pools: mark every held address used in them (pool usage lives in the index). */
  reindex(index: PoolIndex): void {
    this.index = index;
    for (const family of ['IPv4', 'IPv6'] as const) {
      for (const ip of this.holders[family].keys()) index.mark(family, ip, true);
    }
  }

  get(key: string): Holding | undefined {
    return this.services.get(key);
  }

  has(key: string): boolean {
    return this.services.has(key);
  }

  entries(): IterableIterator<[string, Holding]> {
    return this.services.entries();
  }

  keys(): IterableIterator<string> {
    return this.services.keys();
  }

  holdersAt(family: Family, value: bigint): string[] {
    const h = this.holders[family].get(value);
    return h === undefined ? [] : typeof h === 'string' ? [h] : [...h];
  }

  /** Holders of the address other than `key`. */
  others(key: string, family: Family, value: bigint): string[] {
    const h = this.holders[family].get(value);
    if (h === undefined || h === key) return [];
    return typeof h === 'string' ? [h] : h.filter((k) => k !== key);
  }

  /** Notes that `key`'s Service now has sharing fingerprint `sharing` while its holding stays. */
  markPending(key: string, sharing: string): void {
    const cur = this.services.get(key);
    if (cur) this.services.set(key, { ...cur, pending: sharing === cur.admitted ? undefined : sharing });
  }

  /** Keys of the Services holding something under this sharing key. */
  sharingGroup(sharingKey: string): Iterable<string> {
    return this.bySharingKey.get(sharingKey) ?? [];
  }

  /** Makes `ips` exactly what `svc` holds, updating holders, pool usage and the sharing index. */
  commit(svc: ServiceModel, ips: Holds, admitted: string): void {
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
    this.services.set(svc.key, { model: svc, admitted, ips });
    if (svc.sharingKey) {
      const set = this.bySharingKey.get(svc.sharingKey) ?? new Set<string>();
      this.bySharingKey.set(svc.sharingKey, set.add(svc.key));
    }
  }

  /** Forgets a Service; true when it held something. */
  release(key: string): boolean {
    const cur = this.services.get(key);
    if (!cur) return false;
    for (const [family, h] of cur.ips) this.unhold(key, family, h.value);
    this.unindexSharing(cur.model);
    this.services.delete(key);
    return true;
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
