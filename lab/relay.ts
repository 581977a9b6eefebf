// Host side of the API relay: one unix socket per node (`run/api-<node>.sock`), each
// connection piped to the API server's TCP port on the host's loopback. The node agent
// inside the node namespace feeds it; a blocked node (partitioned or killed) has its open
// connections cut and new ones closed at once, as if the network were gone.
import { rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { pino } from 'pino';
import { pipeBoth } from './pipe.js';

export interface RelayTarget {
  host: string;
  port: number;
}

export class ApiRelay {
  private readonly servers = new Map<string, Server>(); // node -> its unix socket server
  private readonly open = new Map<string, Set<Socket>>(); // node -> relayed client sockets
  private readonly blocked = new Set<string>(); // nodes whose API access is cut

  constructor(
    private readonly o: {
      socketPath: (node: string) => string;
      target: () => RelayTarget | undefined;
      log: pino.Logger;
    },
  ) {}

  /** Starts a socket for each node not served yet. */
  async serve(nodes: string[]): Promise<void> {
    for (const node of nodes) {
      if (this.servers.has(node)) continue;
      const path = this.o.socketPath(node);
      rmSync(path, { force: true }); // a socket file left by a killed keeper
      const server = createServer((c) => this.accept(node, c));
      await new Promise<void>((res, rej) => {
        server.once('error', rej);
        server.listen(path, () => res());
      });
      this.servers.set(node, server);
      this.open.set(node, new Set());
    }
  }

  setBlocked(node: string, blocked: boolean): void {
    if (blocked === this.blocked.has(node)) return;
    if (!blocked) {
      this.blocked.delete(node);
      this.o.log.info({ node }, 'api relay open');
      return;
    }
    this.blocked.add(node);
    const conns = this.open.get(node) ?? new Set();
    for (const s of conns) s.destroy();
    this.o.log.info({ node, cut: conns.size }, 'api relay blocked');
  }

  private accept(node: string, client: Socket): void {
    const target = this.o.target();
    if (this.blocked.has(node) || !target) {
      client.destroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    const conns = this.open.get(node);
    conns?.add(client);
    client.on('close', () => conns?.delete(client));
    pipeBoth(client, upstream);
  }

  async stop(): Promise<void> {
    for (const conns of this.open.values()) for (const s of conns) s.destroy();
    await Promise.all([...this.servers.values()].map((s) => new Promise((r) => s.close(r))));
    this.servers.clear();
  }
}
