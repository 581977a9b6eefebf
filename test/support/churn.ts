/**
 * Helpers for tests that churn Services against a real API server while the controller runs
 * as a real process: a seeded RNG (print the seed, replay a failure), bounded parallelism, and an
 * observer that sees every version of every Service and records each violation of the contract
 * "an assigned IP never moves implicitly" (ARCHITECTURE.md §1) the moment it happens.
 */
import type { KubeConfig, KubernetesObject, V1Service } from '@kubernetes/client-node';
import { kubeConfigConnection } from '../../kube/connection.js';
import { Informer, restListerWatcher } from '../../kube/informer.js';
import { sleep } from './controller.js';

/** mulberry32: tiny, fast, and the same sequence for the same seed on every machine. */
export class Rng {
  private s: number;
  constructor(readonly seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }
}

/** A seed from HERALDLB_SEED (replay) or the clock (explore). */
export function seedFromEnv(): number {
  const fixed = Number(process.env.HERALDLB_SEED);
  return Number.isInteger(fixed) && fixed > 0 ? fixed : (Date.now() % 2 ** 31) + 1;
}

/** The ingress IPs of a Service, sorted and comma-joined ('' = none). */
export function ingressOf(svc: V1Service | undefined): string {
  const ips = (svc?.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? '').filter(Boolean);
  return ips.sort().join(',');
}

/** Runs `fn` over `items` with at most `limit` calls in flight; rejects on the first failure. */
export async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<unknown>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Retries an API call the server asked us to repeat (429 throttling, 5xx while busy). */
export async function retrying<T>(call: () => Promise<T>, attempts = 8): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await call();
    } catch (err) {
      const code = (err as { code?: number }).code ?? 0;
      if (i >= attempts || !(code === 429 || code >= 500)) throw err;
      await sleep(20 * i);
    }
  }
}

interface Seen {
  uid: string;
  ips: string;
}

/**
 * Watches Services (by label selector) and checks, on every version the API server hands out:
 * a Service that once had IPs never shows different ones or loses them while it exists, and no
 * IP is held by two live Services. `explicit(uid)` exempts a Service whose request the test changed.
 */
export class AssignmentObserver {
  // service uid -> the first non-empty ingress seen for it
  readonly firstIPs = new Map<string, string>();
  readonly violations: string[] = [];
  private readonly exempt = new Set<string>(); // uids whose IP the test moved on purpose
  private readonly seen = new Map<string, Seen>(); // service key -> what its last version held
  private readonly holders = new Map<string, string>(); // ip -> service key holding it
  private readonly informer: Informer<V1Service & KubernetesObject>;
  private readonly abort = new AbortController();
  versions = 0;

  constructor(kc: KubeConfig, labelSelector: string) {
    this.informer = new Informer({
      name: 'observer',
      listerWatcher: restListerWatcher<V1Service & KubernetesObject>(kubeConfigConnection(kc), {
        path: '/api/v1/services',
        labelSelector,
      }),
    });
    // The handler runs right after the store took this version, so get() is exactly it.
    this.informer.onChange((key) => this.check(key, this.informer.get(key)));
  }

  async start(): Promise<void> {
    this.informer.start(this.abort.signal);
    await this.informer.waitForSync(this.abort.signal);
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.informer.stop();
  }

  explicit(uid: string): void {
    this.exempt.add(uid);
    this.firstIPs.delete(uid);
  }

  /** Current Services as the observer's cache holds them. */
  services(): V1Service[] {
    return this.informer.list();
  }

  private check(key: string, svc: V1Service | undefined): void {
    this.versions++;
    const prev = this.seen.get(key);
    const uid = svc?.metadata?.uid ?? '';
    const ips = ingressOf(svc);
    if (prev && (prev.uid !== uid || !svc)) this.release(key, prev.ips); // deleted (or recreated)
    if (!svc) {
      this.seen.delete(key);
      return;
    }
    const sameObject = prev?.uid === uid;
    if (sameObject && prev.ips !== '' && ips === '' && !this.exempt.has(uid)) {
      this.violations.push(`${key} lost ${prev.ips} while it exists (rv ${svc.metadata?.resourceVersion})`);
    }
    if (ips !== '') {
      const first = this.firstIPs.get(uid);
      if (first === undefined) this.firstIPs.set(uid, ips);
      else if (first !== ips && !this.exempt.has(uid)) {
        this.violations.push(`${key} moved from ${first} to ${ips} (rv ${svc.metadata?.resourceVersion})`);
      }
    }
    if (sameObject) this.release(key, prev.ips);
    for (const ip of ips.split(',').filter(Boolean)) {
      const other = this.holders.get(ip);
      if (other && other !== key) this.violations.push(`${ip} held by ${other} and ${key} at once`);
      this.holders.set(ip, key);
    }
    this.seen.set(key, { uid, ips });
  }

  private release(key: string, ips: string): void {
    for (const ip of ips.split(',').filter(Boolean))
      if (this.holders.get(ip) === key) this.holders.delete(ip);
  }
}
