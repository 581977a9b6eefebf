/**
 * The controller's reconcile logic for one leadership term. Level-triggered: a key says
 * only *what* to look at; the handler reads the current objects, asks the allocator,
 * and writes only where the API differs from the answer. Its I/O (object caches, writes,
 * Events, metrics, the queue) is injected, so the same code runs against a real API server
 * in main.ts and against plain maps in unit tests.
 *
 * Queue keys: `svc/<ns>/<name>`, `pool/<name>`, `pools` (re-read every pool), and `pending`
 * (re-check only the Services still waiting for an IP).
 *
 * Every write is conditional on the resourceVersion of the object the decision was computed
 * from (the Writer sends it): a stale decision gets a 409, which the queue retries against the
 * newer object, instead of overwriting what someone else just wrote.
 */
import type { V1Service } from '@kubernetes/client-node';
import type { IPAddressPool, IPAddressPoolStatus } from '../api/crd-types.js';
import { objectKey } from '../api/object-key.js';
import type { Labels } from '../api/selectors.js';
import type { EventType } from '../kube/events.js';
import { Allocator, type AssignResult } from './allocator.js';
import { type PoolProblem, parsePools } from './pools.js';
import { parseService } from './service.js';
import {
  annotationApplied,
  desiredStatus,
  poolStatus,
  releaseWrites,
  type ServicePatch,
  samePoolStatus,
  serviceWrites,
} from './status.js';

export interface Caches {
  service(key: string): V1Service | undefined;
  services(): V1Service[];
  pools(): IPAddressPool[];
  namespaceLabels(namespace: string): Labels;
}

/** Writes of one leadership term, each conditional on `svc`/`pool`'s resourceVersion. */
export interface Writer {
  /** Merge patch of the status subresource (status and, where the API keeps it, metadata). */
  patchServiceStatus(svc: V1Service, body: ServicePatch): Promise<V1Service>;
  /** Merge patch of the Service itself: only for an API server that ignored our metadata. */
  patchServiceMetadata(svc: V1Service, body: Pick<ServicePatch, 'metadata'>): Promise<V1Service>;
  patchPoolStatus(pool: IPAddressPool, status: IPAddressPoolStatus): Promise<IPAddressPool>;
}

/** Events about the objects the controller handles (kube/events.ts records them). */
export interface EventSink {
  service(svc: V1Service, type: EventType, reason: string, message: string): void;
  pool(pool: IPAddressPool, type: EventType, reason: string, message: string): void;
}

/** What the reconciler reports for metrics; main.ts turns it into Prometheus series. */
export interface Observer {
  allocationFailed(reason: string): void;
  poolStats(pool: string, family: 'IPv4' | 'IPv6', size: bigint, inUse: bigint, available: bigint): void;
  poolGone(pool: string): void;
  /** How many Services hold an IP out of pool now. */
  outOfPool(count: number): void;
  /** How many Services wait for an IP (they have an AllocationFailed Event saying why). */
  pending(count: number): void;
}

export interface Decision {
  key: string;
  action: string;
  [field: string]: unknown;
}

export interface ReconcilerDeps {
  caches: Caches;
  writer: Writer;
  events: EventSink;
  observer: Observer;
  enqueue(key: string, delayMs?: number): void;
  /** One structured line per decision, with the Service key. */
  decide(d: Decision): void;
  now(): Date;
  loadBalancerClass: string | undefined;
}

// Pool status is a summary: batch it instead of writing it after every single assignment.
export const POOL_STATUS_DELAY_MS = 500;

const rv = (o: { metadata?: { resourceVersion?: string } } | undefined): bigint => {
  try {
    return BigInt(o?.metadata?.resourceVersion ?? '0');
  } catch {
    return 0n;
  }
};

// Our own writes land in the cache a moment later (via the watch); until then the object
// returned by the write is the newest truth. Resource versions of one etcd only grow
// (and Kubernetes 1.35 made comparing them supported), so the higher one wins.
function newest<T extends { metadata?: { resourceVersion?: string } }>(a: T | undefined, b: T | undefined) {
  if (!a) return b;
  if (!b) return a;
  return rv(b) > rv(a) ? b : a;
}

export class Reconciler {
  private readonly allocator = new Allocator();
  private problems: PoolProblem[] = [];
  private poolNames = new Set<string>();
  private readonly pending = new Set<string>(); // service keys waiting for space
  private readonly lastFailure = new Map<string, string>(); // service key -> last failure reported
  private readonly lastUnserved = new Map<string, string>(); // service key -> FamilyNotServed text reported
  private readonly lastWriteError = new Map<string, string>(); // queue key -> permanent write error reported
  private readonly outOfPool = new Set<string>(); // keys holding an IP no pool covers (warned once)
  private readonly written = new Map<string, V1Service>(); // service key -> object our last write returned
  private readonly writtenPools = new Map<string, IPAddressPool>(); // pool name -> same, for pools

  constructor(private readonly d: ReconcilerDeps) {}

  /** Start of a term: pools first, then every assignment already in Service statuses, so
   * nothing new is allocated before everything held is known. Returns the keys to queue. */
  load(): string[] {
    this.syncPools();
    for (const svc of this.d.caches.services()) {
      const m = parseService(svc, { loadBalancerClass: this.d.loadBalancerClass });
      if ('ignored' in m || m.current.ips.length === 0) continue;
      const r = this.allocator.restore(m);
      for (const c of r.conflicts) {
        this.d.events.service(svc, 'Warning', 'IPConflict', `${c.ip} is also held by ${c.with.join(', ')}`);
      }
    }
    return [...this.d.caches.services().map((s) => `svc/${objectKey(s)}`), 'pools'];
  }

  /**
   * A write for `key` failed in a way retrying will not fix soon (422, 403): tell the user on
   * the object, once per distinct message. The queue retries slowly.
   */
  writeFailed(key: string, message: string): void {
    if (this.lastWriteError.get(key) === message) return;
    this.lastWriteError.set(key, message);
    const text = `heraldlb cannot write this object: ${message}`;
    if (key.startsWith('svc/')) {
      const svc = this.d.caches.service(key.slice(4));
      if (svc) this.d.events.service(svc, 'Warning', 'WriteFailed', text);
    } else if (key.startsWith('pool/')) {
      const pool = this.d.caches.pools().find((p) => p.metadata.name === key.slice(5));
      if (pool) this.d.events.pool(pool, 'Warning', 'WriteFailed', text);
    }
  }

  /** A key was handled without error: a later permanent failure is news again. */
  succeeded(key: string): void {
    this.lastWriteError.delete(key);
  }

  async handle(key: string): Promise<void> {
    if (key === 'pools') return this.onPoolsChanged();
    if (key === 'pending') return this.retryPending();
    if (key.startsWith('pool/')) return this.reconcilePool(key.slice(5));
    if (key.startsWith('svc/')) return this.reconcileService(key.slice(4));
  }

  private syncPools(): void {
    const { pools, problems } = parsePools(this.d.caches.pools());
    this.allocator.setPools(pools);
    this.problems = problems;
    for (const name of this.poolNames)
      if (!pools.some((p) => p.name === name)) this.d.observer.poolGone(name);
    this.poolNames = new Set(pools.map((p) => p.name));
  }

  private onPoolsChanged(): void {
    this.syncPools();
    for (const p of this.d.caches.pools()) this.d.enqueue(`pool/${p.metadata.name}`);
    // Held IPs never move on a pool edit; this re-checks pending Services and out-of-pool marks.
    for (const s of this.d.caches.services()) this.d.enqueue(`svc/${objectKey(s)}`);
  }

  private async reconcilePool(name: string): Promise<void> {
    const cached = this.d.caches.pools().find((p) => p.metadata.name === name);
    if (!cached) {
      this.writtenPools.delete(name);
      return;
    }
    const cr = newest(cached, this.writtenPools.get(name)) as IPAddressPool;
    const stats = this.allocator.poolStats(name);
    if (stats) {
      const model = this.poolSizes(stats);
      this.d.observer.poolStats(name, 'IPv4', model.v4, stats.assignedV4, stats.availableV4);
      this.d.observer.poolStats(name, 'IPv6', model.v6, stats.assignedV6, stats.availableV6);
    }
    const want = poolStatus(cr, stats, this.problems, this.d.now().toISOString());
    if (samePoolStatus(cr.status, want)) return;
    const conflict = this.problems.find((p) => p.pool === name && p.code === 'Conflict');
    if (conflict && !cr.status?.conditions?.some((c) => c.type === 'Conflict' && c.status === 'True')) {
      this.d.events.pool(cr, 'Warning', 'PoolConflict', `${conflict.message}; this pool is not used`);
    }
    this.writtenPools.set(name, await this.d.writer.patchPoolStatus(cr, want));
  }

  private poolSizes(s: { assignedV4: bigint; availableV4: bigint; assignedV6: bigint; availableV6: bigint }) {
    return { v4: s.assignedV4 + s.availableV4, v6: s.assignedV6 + s.availableV6 };
  }

  private async reconcileService(key: string): Promise<void> {
    const cached = this.d.caches.service(key);
    const mine = this.written.get(key);
    // Once the cache has caught up with our last write, that copy is just a second whole
    // Service in memory per key (10,000 of them after a bulk create): drop it.
    if (!cached || (mine && rv(cached) >= rv(mine))) this.written.delete(key);
    const svc = cached && newest(cached, this.written.get(key));
    if (!svc) {
      this.forget(key, 'deleted');
      return;
    }
    const m = parseService(svc, { loadBalancerClass: this.d.loadBalancerClass });
    if ('ignored' in m) {
      const held = this.forget(key, m.ignored);
      // Only what we wrote is removed: another implementation's status is not ours to touch.
      const ours = held || svc.metadata?.annotations?.['heraldlb.io/ip-allocated-from-pool'] !== undefined;
      if (!ours) return;
      await this.write(key, svc, releaseWrites(svc));
      if (!held) this.d.decide({ key, action: 'cleared', why: m.ignored });
      this.d.events.service(svc, 'Normal', 'IPReleased', `no longer handled by heraldlb (${m.ignored})`);
      return;
    }
    if (m.deleting) {
      // Finalizers still run and the status still shows the IP: keep it reserved (restoring it
      // if this term never saw it held) until the object is gone; write nothing.
      if (m.current.ips.length > 0) this.allocator.restore(m);
      return;
    }
    const result = this.allocator.assign(m, this.d.caches.namespaceLabels(m.namespace));
    const writes = serviceWrites(svc, desiredStatus(result));
    await this.write(key, svc, writes);
    this.report(key, svc, result, writes);
  }

  /** Drops everything known about a Service; true when it held an IP. */
  private forget(key: string, why: string): boolean {
    this.lastFailure.delete(key);
    this.lastUnserved.delete(key);
    this.lastWriteError.delete(`svc/${key}`);
    this.setPending(key, false);
    if (this.outOfPool.delete(key)) this.d.observer.outOfPool(this.outOfPool.size);
    if (!this.allocator.release(key)) return false;
    this.d.decide({ key, action: 'released', why });
    this.afterRelease();
    return true;
  }

  private setPending(key: string, waiting: boolean): void {
    const had = this.pending.has(key);
    if (waiting) this.pending.add(key);
    else this.pending.delete(key);
    if (had !== waiting) this.d.observer.pending(this.pending.size);
  }

  /** Something that only matters to Services without an IP changed (namespace labels). */
  private retryPending(): void {
    for (const k of this.pending) this.d.enqueue(`svc/${k}`);
  }

  /** A freed IP may let a pending Service in; pool counts changed. */
  private afterRelease(): void {
    this.retryPending();
    for (const name of this.poolNames) this.d.enqueue(`pool/${name}`, POOL_STATUS_DELAY_MS);
  }

  private async write(key: string, svc: V1Service, patch: ServicePatch | undefined): Promise<void> {
    if (!patch) return;
    let latest = await this.d.writer.patchServiceStatus(svc, patch);
    // The status is in (it is what users and a restarted controller trust). The annotation
    // only names the pool; should this API server have dropped it, send it on its own.
    if (patch.metadata && !annotationApplied(latest, patch)) {
      latest = await this.d.writer.patchServiceMetadata(latest, { metadata: patch.metadata });
    }
    if (latest !== svc) this.written.set(key, latest);
  }

  private report(key: string, svc: V1Service, result: AssignResult, writes: ServicePatch | undefined): void {
    if (!result.ok) {
      this.setPending(key, true);
      const text = `${result.reason}: ${result.message}`;
      if (this.lastFailure.get(key) !== text) {
        this.lastFailure.set(key, text);
        this.d.observer.allocationFailed(result.reason);
        this.d.decide({ key, action: 'failed', reason: result.reason, message: result.message });
        this.d.events.service(svc, 'Warning', 'AllocationFailed', text);
      }
      return;
    }
    this.setPending(key, false);
    this.lastFailure.delete(key);
    const ips = result.ips.map((i) => i.ip);
    if (result.changed || writes?.status) {
      const pools = [...new Set(result.ips.map((i) => i.pool ?? '?'))].join(',');
      this.d.decide({ key, action: 'assigned', ips, pools });
      this.d.events.service(svc, 'Normal', 'IPAllocated', `assigned ${ips.join(', ')} from pool ${pools}`);
      for (const name of this.poolNames) this.d.enqueue(`pool/${name}`, POOL_STATUS_DELAY_MS);
    }
    this.reportUnserved(key, svc, result.unserved);
    const out = result.ips.filter((i) => i.outOfPool);
    if (out.length > 0 && !this.outOfPool.has(key)) {
      this.outOfPool.add(key);
      this.d.observer.outOfPool(this.outOfPool.size);
      this.d.decide({ key, action: 'retained', ips: out.map((i) => i.ip).join(', ') });
      const msg = `${out.map(retainedText).join('; ')}; kept until the Service asks for another`;
      this.d.events.service(svc, 'Warning', 'IPRetained', msg);
    } else if (out.length === 0 && this.outOfPool.delete(key)) this.d.observer.outOfPool(this.outOfPool.size);
  }

  /** PreferDualStack families that could not be served: a Warning when that changes, not per resync. */
  private reportUnserved(key: string, svc: V1Service, unserved: AssignResultOk['unserved']): void {
    const text = unserved.map((u) => `${u.family ?? ''} ${u.reason}: ${u.message}`.trim()).join('; ');
    if ((this.lastUnserved.get(key) ?? '') === text) return;
    if (text === '') this.lastUnserved.delete(key);
    else {
      this.lastUnserved.set(key, text);
      this.d.events.service(svc, 'Warning', 'FamilyNotServed', text);
    }
  }
}

type AssignResultOk = Extract<AssignResult, { ok: true }>;

/** Why an IP is out of pool, in words for the IPRetained Event. */
function retainedText(i: { ip: string; pool: string | undefined; inPool: string | undefined }): string {
  if (i.inPool === undefined) return `${i.ip} is no longer in any pool`;
  return `${i.ip} is no longer in the requested pool "${i.pool}" (it is now in pool "${i.inPool}")`;
}
