// Liveness between speakers, as the main thread sees it. All the work (sockets, timers, the
// failure detector) runs in a worker thread, so a main thread stalled by a GC or a burst of
// API events neither delays our heartbeats nor makes us declare a live peer dead; this class
// only relays the peer list in and the changes out.
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { MembershipChange } from './detector.js';
import {
  type Counters,
  type FromWorker,
  type PeerAddress,
  type ToWorker,
  type WorkerConfig,
  zeroCounters,
} from './protocol.js';

export type { MembershipChange } from './detector.js';
export type { PeerAddress } from './protocol.js';

export interface MembershipOptions {
  node: string;
  keyFile: string;
  port: number;
  bindAddress?: string;
  /** Heartbeat period, ms (100). */
  intervalMs?: number;
  /** Silence after which a peer is dead, ms (450). */
  deadAfterMs?: number;
  log: Logger;
}

export interface MembershipStats {
  sent: number;
  received: number;
  authFailures: number;
  replays: number;
  malformed: number;
  /** RTT samples since the previous call, for a histogram. */
  rttMs: number[];
  peersAlive: number;
  /** The worker's full counters (sendErrors, duplicates, unproven, unknownSender, accepted). */
  counters: Counters;
}

export class MembershipError extends Error {
  readonly code: string;
  constructor(code: string, message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'MembershipError';
    this.code = code;
  }
}

const STOP_TIMEOUT_MS = 2000;

export class Membership {
  private readonly cfg: WorkerConfig;
  private readonly log: Logger;
  private worker: Worker | undefined;
  private aliveNow: ReadonlySet<string>;
  private readonly listeners: ((alive: ReadonlySet<string>, changes: readonly MembershipChange[]) => void)[] =
    [];
  private counters: Counters = zeroCounters();
  private rtt: number[] = [];
  private peersAlive = 0;
  private peers: PeerAddress[] = [];
  private stopped: Promise<void> | undefined;

  constructor(opts: MembershipOptions) {
    this.cfg = {
      node: opts.node,
      keyFile: opts.keyFile,
      port: opts.port,
      bindAddress: opts.bindAddress,
      intervalMs: opts.intervalMs ?? 100,
      deadAfterMs: opts.deadAfterMs ?? 450,
      statsEveryMs: 1000,
      keyCheckEveryMs: 5000,
    };
    this.log = opts.log.child({ component: 'membership' });
    this.aliveNow = new Set([opts.node]);
  }

  start(): Promise<void> {
    if (this.worker !== undefined)
      return Promise.reject(new MembershipError('MEMBERSHIP_STARTED', 'already started'));
    const w = new Worker(new URL('./worker.js', import.meta.url), {
      workerData: this.cfg,
      name: 'membership',
      // A second V8 isolate: bounded, so it cannot grow the speaker's memory unseen. Its
      // garbage is a few small objects per heartbeat: a 1 MiB young generation suffices
      // (4 MiB cost ~1 MiB more resident, measured on a bare worker).
      resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 1 },
    });
    this.worker = w;
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      const fail = (err: MembershipError) => {
        this.worker = undefined;
        void w.terminate();
        reject(err);
      };
      w.on('message', (m: FromWorker) => {
        if (m.type === 'ready') {
          ready = true;
          this.log.info(
            { addresses: m.addresses, intervalMs: this.cfg.intervalMs, deadAfterMs: this.cfg.deadAfterMs },
            'heartbeats bound',
          );
          if (this.peers.length > 0) this.post({ type: 'setPeers', peers: this.peers });
          resolve();
        } else if (m.type === 'error' && !ready) fail(new MembershipError(m.code, m.message));
        else this.onWorker(m);
      });
      w.on('error', (err) => {
        if (!ready)
          fail(new MembershipError('MEMBERSHIP_WORKER', `heartbeat worker failed: ${err.message}`, err));
        // After start, a dead worker means no heartbeats: peers will see us dead. Say so loudly.
        else this.log.error({ err }, 'heartbeat worker crashed');
      });
      w.on('exit', (code) => {
        if (!ready)
          fail(new MembershipError('MEMBERSHIP_WORKER', `heartbeat worker exited (${code}) before binding`));
        else if (this.stopped === undefined) this.log.error({ code }, 'heartbeat worker exited');
      });
    });
  }

  setPeers(peers: readonly PeerAddress[]): void {
    this.peers = peers.map((p) => ({ node: p.node, address: p.address }));
    this.post({ type: 'setPeers', peers: this.peers });
  }

  alive(): ReadonlySet<string> {
    return this.aliveNow;
  }

  onChange(cb: (alive: ReadonlySet<string>, changes: readonly MembershipChange[]) => void): void {
    this.listeners.push(cb);
  }

  stats(): MembershipStats {
    const rttMs = this.rtt;
    this.rtt = [];
    const c = this.counters;
    return {
      sent: c.sent,
      received: c.received,
      authFailures: c.authFailures,
      replays: c.replays,
      malformed: c.malformed,
      rttMs,
      peersAlive: this.peersAlive,
      counters: { ...c },
    };
  }

  /** Sends `leaving` three times so peers drop us at once, then ends the worker. */
  stop(): Promise<void> {
    if (this.stopped !== undefined) return this.stopped;
    const w = this.worker;
    if (w === undefined) return Promise.resolve();
    this.stopped = new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        void w.terminate().then(() => resolve());
      };
      const timer = setTimeout(done, STOP_TIMEOUT_MS);
      w.on('message', (m: FromWorker) => {
        if (m.type === 'stopped') done();
      });
      w.once('exit', done);
      this.post({ type: 'stop' });
    });
    return this.stopped;
  }

  private onWorker(m: FromWorker): void {
    switch (m.type) {
      case 'change': {
        this.aliveNow = new Set(m.alive);
        this.peersAlive = m.alive.length - 1;
        for (const c of m.changes) this.log.info({ node: c.node, state: c.state }, 'peer liveness changed');
        for (const cb of this.listeners) {
          try {
            cb(this.aliveNow, m.changes);
          } catch (err) {
            // A listener's bug must not stop the others from hearing about the change.
            this.log.error({ err }, 'membership change listener threw');
          }
        }
        break;
      }
      case 'stats': {
        this.counters = m.counters;
        this.peersAlive = m.peersAlive;
        for (const r of m.rttMs) if (this.rtt.length < 65536) this.rtt.push(r);
        break;
      }
      case 'log':
        this.log[m.level](m.fields, m.msg);
        break;
      case 'error':
        this.log.error({ code: m.code }, m.message);
        break;
      default:
        break;
    }
  }

  private post(m: ToWorker): void {
    this.worker?.postMessage(m);
  }
}
