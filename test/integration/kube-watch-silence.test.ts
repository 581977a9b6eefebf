/**
 * A watch whose connection goes silent (issue 8 item 6): an API VIP that moved or a NAT that
 * dropped its state leaves the TCP connection open and sends nothing, not even the server's
 * end of the watch. The informer runs through a TCP relay of the test's own that, on command,
 * stops forwarding on every connection it already has (both ways, sockets left open), while
 * new connections pass. The cache must notice by its own idle deadline and see changes again.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, type KubernetesObject, type V1ConfigMap } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { loadConnection } from '../../kube/connection.js';
import { Informer, restListerWatcher } from '../../kube/informer.js';
import { adminKubeConfig, controlPlaneAvailable, kubeconfigPath, uniqueName } from '../support/kube.js';

/** A byte relay to the API server whose existing connections can be made to go silent. */
class SilenceableRelay {
  private readonly server: net.Server;
  private readonly live = new Set<{ client: net.Socket; upstream: net.Socket; silent: boolean }>();
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.target);
      const pair = { client, upstream, silent: false };
      this.live.add(pair);
      // Forward only while not silenced; once silenced, bytes are read and dropped, as a
      // black hole in the path would.
      client.on('data', (b) => pair.silent || upstream.write(b));
      upstream.on('data', (b) => pair.silent || client.write(b));
      const end = () => {
        this.live.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('close', end).on('error', end);
      upstream.on('close', () => pair.silent || end()).on('error', end);
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /** Every connection open now goes silent; later ones work. */
  silenceAll(): number {
    for (const p of this.live) p.silent = true;
    return this.live.size;
  }

  async stop(): Promise<void> {
    for (const p of this.live) {
      p.client.destroy();
      p.upstream.destroy();
    }
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

describe.runIf(controlPlaneAvailable())('informer over a connection that goes silent', () => {
  let relay: SilenceableRelay;
  let dir = '';
  let ns = '';
  const core = () => adminKubeConfig().makeApiClient(CoreV1Api);

  beforeAll(async () => {
    const server = new URL(adminKubeConfig().getCurrentCluster()!.server);
    relay = new SilenceableRelay({ host: server.hostname, port: Number(server.port) });
    await relay.start();
    // The product's own connection path (kube/connection.ts), pointed at the relay; the API
    // server's certificate covers 127.0.0.1, and TLS runs end to end through the relay.
    const doc = parse(readFileSync(kubeconfigPath(), 'utf8')) as {
      clusters: { cluster: { server: string } }[];
    };
    for (const c of doc.clusters) c.cluster.server = `https://127.0.0.1:${relay.port}`;
    dir = mkdtempSync(join(tmpdir(), 'hlb-silence-'));
    writeFileSync(join(dir, 'kubeconfig'), stringify(doc), { mode: 0o600 });
    ns = uniqueName('silence');
    await core().createNamespace({ body: { metadata: { name: ns } } });
  });

  afterAll(async () => {
    await relay?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (ns)
      await core()
        .deleteNamespace({ name: ns })
        .catch(() => undefined);
  });

  it('notices by its idle deadline, watches again on a fresh connection, and sees what changed', async () => {
    const warnings: string[] = [];
    const logger = {
      warn: (_o: unknown, msg?: string) => warnings.push(String(msg)),
      info: () => {},
      debug: () => {},
      error: () => {},
      child: () => logger,
    };
    const inf = new Informer<V1ConfigMap & KubernetesObject>({
      name: 'silence',
      listerWatcher: restListerWatcher(await loadConnection({ kubeconfigPath: join(dir, 'kubeconfig') }), {
        path: `/api/v1/namespaces/${ns}/configmaps`,
        // The server ends each watch after 2 s; silence past 2 s + 1 s means a dead connection.
        watchTimeoutSeconds: 2,
        watchGraceSeconds: 1,
      }),
      logger: logger as never,
    });
    const ctl = new AbortController();
    inf.start(ctl.signal);
    expect(await inf.waitForSync()).toBe(true);
    await new Promise((r) => setTimeout(r, 300)); // the watch is open
    expect(relay.silenceAll()).toBeGreaterThan(0);
    const t0 = Date.now();
    await core().createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'after-silence' } } });
    // Bounded: the idle deadline (3 s) plus a watch round; far below any kernel keepalive.
    for (let i = 0; i < 150 && !inf.get(`${ns}/after-silence`); i++)
      await new Promise((r) => setTimeout(r, 100));
    const took = Date.now() - t0;
    expect(inf.get(`${ns}/after-silence`), `not seen after ${took} ms; warnings ${warnings}`).toBeDefined();
    expect(took).toBeLessThan(10_000);
    expect(warnings).toContain('watch connection went silent; watching again');
    console.log(`silent watch noticed and change seen after ${took} ms (idle deadline 3000 ms)`);
    ctl.abort();
    await inf.stop();
  });
});
