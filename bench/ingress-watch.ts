/** Records when a watch first shows each Service with ingress: latencies without polling. */
import { performance } from 'node:perf_hooks';
import type { V1Service } from '@kubernetes/client-node';
import type { Connection } from '../kube/connection.js';
import { getJson, watchStream } from '../kube/rest.js';

/** Records, per Service name, when a watch first showed it with ingress, and the IP. */
export class IngressWatch {
  readonly first = new Map<string, { at: number; ip: string }>(); // service name -> first ingress seen
  private readonly waiters = new Map<string, () => void>(); // service name -> resolve
  private countWaiter: { n: number; resolve: () => void } | undefined;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(
    private readonly conn: Connection,
    private readonly namespace: string,
  ) {}

  async start(): Promise<void> {
    const path = `/api/v1/namespaces/${this.namespace}/services`;
    let rv = '';
    const relist = async () => {
      const list = await getJson<{ items: V1Service[]; metadata: { resourceVersion: string } }>(
        this.conn,
        path,
        {},
        this.abort.signal,
      );
      for (const s of list.items) this.see(s);
      return list.metadata.resourceVersion;
    };
    rv = await relist();
    this.loop = (async () => {
      while (!this.abort.signal.aborted) {
        try {
          await watchStream(
            this.conn,
            path,
            { resourceVersion: rv, timeoutSeconds: 900 },
            this.abort.signal,
            (ev) => {
              const o = ev.object as V1Service;
              rv = o.metadata?.resourceVersion ?? rv;
              if (ev.type === 'ADDED' || ev.type === 'MODIFIED') this.see(o);
            },
          );
        } catch {
          if (!this.abort.signal.aborted) rv = await relist();
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
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
