/** Records when a watch first shows each Service with ingress: latencies without polling. */
import { performance } from 'node:perf_hooks';
import type { KubernetesObject, V1Service } from '@kubernetes/client-node';
import type { Connection } from '../kube/connection.js';
import { Informer, restListerWatcher } from '../kube/informer.js';

type Svc = V1Service & KubernetesObject;

/** Records, per Service name, when a watch first showed it with ingress, and the IP. */
export class IngressWatch {
  readonly first = new Map<string, { at: number; ip: string }>(); // service name -> first ingress seen
  private readonly waiters = new Map<string, () => void>(); // service name -> resolve
  private countWaiter: { n: number; resolve: () => void } | undefined;
  private readonly abort = new AbortController();
  private readonly informer: Informer<Svc>;

  constructor(conn: Connection, namespace: string) {
    // The project's informer does the list, watch and relist; its handlers run as each event
    // is read off the stream, so `at` is when the change reached this client.
    this.informer = new Informer<Svc>({
      name: 'bench-ingress',
      listerWatcher: restListerWatcher<Svc>(conn, {
        path: `/api/v1/namespaces/${namespace}/services`,
        watchTimeoutSeconds: 900,
      }),
    });
    this.informer.onChange((key) => {
      const s = this.informer.get(key);
      if (s) this.see(s);
    });
  }

  async start(): Promise<void> {
    this.informer.start(this.abort.signal);
    await this.informer.waitForSync(this.abort.signal);
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.informer.stop();
  }

  private see(s: V1Service): void {
    const name = s.metadata?.name ?? '';
    const ip = s.status?.loadBalancer?.ingress?.[0]?.ip;
    if (!ip || this.first.has(name)) return;
    this.first.set(name, { at: performance.now(), ip });
    this.waiters.get(name)?.();
    this.waiters.delete(name);
    if (this.countWaiter && this.first.size >= this.countWaiter.n) this.countWaiter.resolve();
  }

  served(name: string): Promise<number> {
    const seen = this.first.get(name);
    if (seen) return Promise.resolve(seen.at);
    return new Promise((r) => this.waiters.set(name, () => r((this.first.get(name) as { at: number }).at)));
  }

  /** Resolves once `n` Services in total have been seen with ingress. */
  count(n: number): Promise<void> {
    if (this.first.size >= n) return Promise.resolve();
    return new Promise((resolve) => {
      this.countWaiter = { n, resolve };
    });
  }
}
