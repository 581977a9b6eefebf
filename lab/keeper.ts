#!/usr/bin/env node
// The lab's host-side daemon: does for the lab's Node objects what kubelets and the node
// lifecycle controller do in a real cluster, and serves the host side of the API relay.
// - every TICK_MS: a heartbeat (Lease renewal + Ready True/False) for each node that is
//   neither killed nor partitioned; a silent node turns Ready=Unknown after the state's
//   grace period (default 10 s);
// - every POLL_MS: re-reads the state file; a new generation is applied at once (relay
//   blocks, statuses) and acknowledged in keeper-ack.json, which the CLI waits for.
// It exits by itself when the state file is gone (the lab was taken down).
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { CoordinationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { describeApiError } from '../kube/errors.js';
import { renewLease, writeReady } from './nodes.js';
import { ApiRelay, type RelayTarget } from './relay.js';
import { type LabState, labPaths, readState, readyDecision, writeKeeperAck } from './state.js';
import { type Host, planTopology } from './topology.js';

const TICK_MS = 10_000;
const POLL_MS = 300;

interface Clients {
  server: string;
  core: CoreV1Api;
  coord: CoordinationV1Api;
}

export class Keeper {
  private state: LabState | undefined;
  private ackedGeneration = 0;
  private clients: Clients | undefined;
  private readonly lastBeat = new Map<string, number>(); // node -> ms of its last heartbeat
  private readonly markedUnknown = new Set<string>(); // silent nodes already shown Unknown
  private readonly startedAt: number;
  private lastTick = 0;
  private busy = false;
  private readonly relay: ApiRelay;

  constructor(private readonly o: { dir: string; log: pino.Logger; now: () => number }) {
    this.startedAt = o.now();
    this.relay = new ApiRelay({
      socketPath: labPaths(o.dir).apiSocket,
      target: () => this.target(),
      log: o.log.child({ component: 'relay' }),
    });
  }

  private target(): RelayTarget | undefined {
    const server = this.state?.controlPlane?.server;
    if (!server) return undefined;
    const u = new URL(server);
    return { host: u.hostname, port: Number(u.port) };
  }

  private kube(s: LabState): Clients | undefined {
    const cp = s.controlPlane;
    if (!cp) return undefined;
    if (this.clients?.server !== cp.server) {
      const kc = new KubeConfig();
      kc.loadFromFile(cp.kubeconfigPath);
      this.clients = {
        server: cp.server,
        core: kc.makeApiClient(CoreV1Api),
        coord: kc.makeApiClient(CoordinationV1Api),
      };
    }
    return this.clients;
  }

  /** One poll: re-read the state; act on a new generation or a due tick. */
  async poll(): Promise<'gone' | 'ok'> {
    if (this.busy) return 'ok';
    this.busy = true;
    try {
      if (!existsSync(labPaths(this.o.dir).state)) return 'gone';
      const s = readState(this.o.dir);
      if (!s) return 'gone';
      const changed = s.generation !== this.ackedGeneration;
      this.state = s;
      const topo = planTopology({ nodes: s.nodeCount, ipv6: s.ipv6 });
      await this.relay.serve(topo.nodes.map((n) => n.name));
      for (const n of topo.nodes) {
        const w = s.nodes[n.name];
        this.relay.setBlocked(n.name, !w || w.killed || w.partitioned);
      }
      const now = this.o.now();
      if (changed || now - this.lastTick >= TICK_MS || this.unknownDue(s, now)) {
        this.lastTick = now;
        const failures = await this.heartbeat(s, topo.nodes, now);
        // Not acknowledged until applied: a failed write is retried on the next poll.
        if (changed && failures === 0) {
          await writeKeeperAck(this.o.dir, s.generation);
          this.ackedGeneration = s.generation;
        }
      }
      return 'ok';
    } finally {
      this.busy = false;
    }
  }

  /** A silent node crossed the grace period and is not shown Unknown yet. */
  private unknownDue(s: LabState, now: number): boolean {
    return Object.entries(s.nodes).some(
      ([name, w]) =>
        (w.killed || w.partitioned) &&
        !this.markedUnknown.has(name) &&
        now - (this.lastBeat.get(name) ?? this.startedAt) >= s.graceSeconds * 1000,
    );
  }

  /** Heartbeats every node; returns how many failed. */
  private async heartbeat(s: LabState, nodes: Host[], now: number): Promise<number> {
    // With --runtime each node's kubelet owns its Node and Lease, and kube-controller-manager
    // turns a silent one Unknown: the keeper only serves the API relay.
    if (s.runtime) return 0;
    const clients = this.kube(s);
    if (!clients) return nodes.length;
    const ok = await Promise.all(nodes.map((h) => this.beatOne(clients, s, h, now)));
    return ok.filter((x) => !x).length;
  }

  private async beatOne(c: Clients, s: LabState, h: Host, now: number): Promise<boolean> {
    const wish = s.nodes[h.name] ?? { ready: false, partitioned: false, killed: true };
    const last = this.lastBeat.get(h.name) ?? this.startedAt;
    const d = readyDecision(wish, last, now, s.graceSeconds * 1000);
    try {
      if (d.beat) {
        await renewLease(c.coord, h.name);
        this.lastBeat.set(h.name, now);
        this.markedUnknown.delete(h.name);
      }
      if (d.status && (await writeReady(c.core, h, d.status, new Date(now)))) {
        this.o.log.info({ node: h.name, ready: d.status }, 'node status written');
      }
      if (d.status === 'Unknown') this.markedUnknown.add(h.name);
      return true;
    } catch (err) {
      // Retried on the next tick; the API server may be restarting.
      this.o.log.warn({ node: h.name, err: describeApiError(err) }, 'heartbeat failed');
      return false;
    }
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      let r: 'gone' | 'ok' = 'ok';
      try {
        r = await this.poll();
      } catch (err) {
        this.o.log.error({ err: (err as Error).message }, 'poll failed');
      }
      if (r === 'gone') {
        this.o.log.info('state file gone: the lab is down, exiting');
        break;
      }
      await new Promise((res) => setTimeout(res, POLL_MS));
    }
    await this.relay.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { dir: { type: 'string' } } });
  if (!values.dir) throw new Error('usage: keeper --dir <lab dir>');
  const log = pino({ base: { component: 'keeper' } });
  const ac = new AbortController();
  process.once('SIGTERM', () => ac.abort());
  process.once('SIGINT', () => ac.abort());
  log.info({ dir: values.dir, pid: process.pid }, 'keeper starting');
  await new Keeper({ dir: values.dir, log, now: Date.now }).run(ac.signal);
  process.exit(0);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    process.stderr.write(`keeper: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  });
}
