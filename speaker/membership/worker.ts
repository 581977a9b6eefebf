// The heartbeat worker: its own event loop, so a busy or stalled main thread delays neither
// sending nor checking. It owns the sockets, the timers and the Detector, and tells the main
// thread only what changed (plus counters once a second).
//
// Order within one tick matters: a timer fires, then setImmediate runs the check. Between
// the two, libuv's poll phase reads every datagram that queued up while this thread was not
// running, so after a stall the packets that did arrive are counted before anyone's deadline
// is checked (a timer alone would run first and declare a live peer dead).
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { statSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { systemClock } from '../../kube/clock.js';
import { decode, encode, type GossipEntry, type Kind, MAX_ENTRIES } from './codec.js';
import { Detector, type MembershipChange } from './detector.js';
import { type KeyRing, loadKeyRing } from './keys.js';
import {
  type Counters,
  type FromWorker,
  type PeerAddress,
  type ToWorker,
  type WorkerConfig,
  zeroCounters,
} from './protocol.js';

/**
 * Lateness of our own loop below this is not forgiven. Datagrams that arrive while we are
 * late wait in the socket buffer and are read before the check, so short lateness cannot fake
 * a silence; what it can hide is already covered by deadAfter's headroom (3.5 heartbeat periods).
 * Forgiving every few-ms delay instead adds up under CPU load: the bench measured detection
 * p99 947 ms with a 10 ms threshold (docs/membership.md).
 */
const STALL_THRESHOLD_MS = 50;
const LEAVING_COPIES = 3;
const LEAVING_SPACING_MS = 10;
const MAX_RTT_SAMPLES = 4096;

class HeartbeatWorker {
  private readonly now = systemClock.now;
  private readonly detector: Detector;
  private readonly incarnation = randomBytes(8).toString('hex');
  private readonly counters: Counters = zeroCounters();
  private rtt: number[] = [];
  private peers: PeerAddress[] = [];
  private sockets: { v4?: Socket; v6?: Socket; v6Dual: boolean } = { v6Dual: false };
  private seq = 0;
  private rotate = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopping = false;
  private keyStamp: string;
  private readonly tickMs: number;

  constructor(
    private readonly cfg: WorkerConfig,
    private readonly port: MessagePort,
    private keys: KeyRing,
  ) {
    this.detector = new Detector({ self: cfg.node, deadAfterMs: cfg.deadAfterMs });
    this.tickMs = Math.max(5, Math.min(25, Math.floor(cfg.intervalMs / 4)));
    this.keyStamp = fileStamp(cfg.keyFile);
  }

  async start(): Promise<string[]> {
    const { bindAddress, port } = this.cfg;
    if (bindAddress === undefined) {
      this.sockets.v4 = await bind('udp4', '0.0.0.0', port);
      try {
        this.sockets.v6 = await bind('udp6', '::', port, true);
      } catch (err) {
        // A node without IPv6 still heartbeats over IPv4; a taken port is a real failure.
        if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw err;
        this.post({
          type: 'log',
          level: 'warn',
          msg: 'no IPv6 heartbeat socket',
          fields: { err: String(err) },
        });
      }
    } else if (isIPv6(bindAddress)) {
      this.sockets.v6 = await bind('udp6', bindAddress, port, false);
      this.sockets.v6Dual = bindAddress === '::';
    } else {
      this.sockets.v4 = await bind('udp4', bindAddress, port);
    }
    for (const s of [this.sockets.v4, this.sockets.v6]) s?.on('message', (b) => this.onPacket(b));
    this.schedule(this.now());
    return [this.sockets.v4, this.sockets.v6].filter((s) => s !== undefined).map((s) => addressOf(s));
  }

  onMessage(m: ToWorker): void {
    if (m.type === 'setPeers') {
      this.peers = m.peers.filter((p) => p.node !== this.cfg.node);
      this.emit(this.detector.setPeers([...new Set(this.peers.map((p) => p.node))], this.now()));
    } else if (m.type === 'stop') void this.stop();
  }

  private onPacket(b: Buffer): void {
    this.counters.received++;
    const d = decode(b, this.keys);
    if (!d.ok) {
      if (d.reason === 'auth') this.counters.authFailures++;
      else this.counters.malformed++;
      return;
    }
    const r = this.detector.heard(d.message, this.now());
    if (r.verdict === 'accepted') this.counters.accepted++;
    else if (r.verdict === 'replay') this.counters.replays++;
    else if (r.verdict === 'duplicate') this.counters.duplicates++;
    else if (r.verdict === 'unproven') this.counters.unproven++;
    else if (r.verdict === 'unknown-sender') this.counters.unknownSender++;
    if (r.rttMs !== undefined && this.rtt.length < MAX_RTT_SAMPLES) this.rtt.push(r.rttMs);
    this.emit(r.changes);
  }

  // One self-rescheduling timer: each round measures how late it ran (the stall guard).
  private schedule(prev: number): void {
    let nextSend = prev;
    let nextStats = prev + this.cfg.statsEveryMs;
    let nextKeys = prev + this.cfg.keyCheckEveryMs;
    let last = prev;
    const step = () => {
      if (this.stopping) return;
      const now = this.now();
      const late = now - last - this.tickMs;
      last = now;
      const forgiven = late > STALL_THRESHOLD_MS ? late : 0;
      this.counters.stallForgivenMs += forgiven;
      if (late > this.counters.maxLateMs) this.counters.maxLateMs = late;
      this.emit(this.detector.check(now, forgiven));
      if (now >= nextSend) {
        this.send('heartbeat', now);
        nextSend = Math.max(nextSend + this.cfg.intervalMs, now + 1);
      }
      if (now >= nextStats) {
        this.postStats();
        nextStats = now + this.cfg.statsEveryMs;
      }
      if (now >= nextKeys) {
        this.reloadKeys();
        nextKeys = now + this.cfg.keyCheckEveryMs;
      }
      this.timer = setTimeout(() => setImmediate(step), this.tickMs);
    };
    step();
  }

  private send(kind: Kind, now: number): void {
    const all = this.detector.gossip(now);
    const entries = this.pick(all);
    const packet = encode(
      { kind, sender: this.cfg.node, incarnation: this.incarnation, seq: ++this.seq, sentAt: now, entries },
      this.keys,
    );
    this.detector.noteSent(now);
    for (const p of this.peers) {
      const target = this.route(p.address);
      if (target === undefined) {
        this.counters.sendErrors++;
        continue;
      }
      this.counters.sent++;
      target.socket.send(packet, this.cfg.port, target.address, (err) => {
        if (err) this.counters.sendErrors++;
      });
    }
  }

  // More peers than fit one frame: a different window each round, so every peer's entry
  // (its echo, its heard age) still goes out every ceil(n / MAX_ENTRIES) rounds.
  private pick(all: GossipEntry[]): GossipEntry[] {
    if (all.length <= MAX_ENTRIES) return all;
    const out: GossipEntry[] = [];
    for (let i = 0; i < MAX_ENTRIES; i++) out.push(all[(this.rotate + i) % all.length] as GossipEntry);
    this.rotate = (this.rotate + MAX_ENTRIES) % all.length;
    return out;
  }

  private route(address: string): { socket: Socket; address: string } | undefined {
    if (isIPv4(address)) {
      if (this.sockets.v4) return { socket: this.sockets.v4, address };
      if (this.sockets.v6 && this.sockets.v6Dual)
        return { socket: this.sockets.v6, address: `::ffff:${address}` };
      return undefined;
    }
    if (isIPv6(address) && this.sockets.v6) return { socket: this.sockets.v6, address };
    return undefined;
  }

  private reloadKeys(): void {
    const stamp = fileStamp(this.cfg.keyFile);
    if (stamp === this.keyStamp) return;
    try {
      this.keys = loadKeyRing(this.cfg.keyFile);
      this.keyStamp = stamp;
      this.post({
        type: 'log',
        level: 'info',
        msg: 'heartbeat keys reloaded',
        fields: { signingKeyId: this.keys.signing.id, keys: this.keys.verifying.size },
      });
    } catch (err) {
      // Keep the keys we have: a half-written or broken file must not silence us.
      this.post({
        type: 'log',
        level: 'error',
        msg: 'heartbeat key file unusable, keeping the previous keys',
        fields: { err: (err as Error).message },
      });
    }
  }

  private async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    for (let i = 0; i < LEAVING_COPIES; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, LEAVING_SPACING_MS));
      this.send('leaving', this.now());
    }
    // Let the last datagrams leave before the sockets close.
    await new Promise((r) => setImmediate(r));
    this.postStats();
    await Promise.all(
      [this.sockets.v4, this.sockets.v6].map((s) =>
        s ? new Promise<void>((r) => s.close(() => r())) : undefined,
      ),
    );
    this.post({ type: 'stopped' });
    this.port.close();
  }

  private emit(changes: MembershipChange[]): void {
    if (changes.length === 0) return;
    this.post({ type: 'change', changes, alive: [...this.detector.alive()] });
  }

  private postStats(): void {
    const rttMs = this.rtt;
    this.rtt = [];
    this.post({
      type: 'stats',
      counters: { ...this.counters },
      rttMs,
      peersAlive: this.detector.alive().size - 1,
    });
  }

  private post(m: FromWorker): void {
    this.port.postMessage(m);
  }
}

function bind(type: 'udp4' | 'udp6', address: string, port: number, ipv6Only = false): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket(type === 'udp6' ? { type, ipv6Only } : { type });
    const onError = (err: Error) => {
      s.close();
      reject(err);
    };
    s.once('error', onError);
    s.bind(port, address, () => {
      s.off('error', onError);
      s.on('error', () => {}); // send errors arrive in send callbacks; nothing else is expected
      resolve(s);
    });
  });
}

function addressOf(s: Socket): string {
  const a = s.address();
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

function fileStamp(path: string): string {
  try {
    const st = statSync(path);
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

async function main(port: MessagePort, cfg: WorkerConfig): Promise<void> {
  let keys: KeyRing;
  try {
    keys = loadKeyRing(cfg.keyFile);
  } catch (err) {
    port.postMessage({
      type: 'error',
      code: 'MEMBERSHIP_KEYS',
      message: (err as Error).message,
    } satisfies FromWorker);
    return;
  }
  const w = new HeartbeatWorker(cfg, port, keys);
  port.on('message', (m: ToWorker) => w.onMessage(m));
  try {
    const addresses = await w.start();
    port.postMessage({ type: 'ready', addresses } satisfies FromWorker);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const message = `cannot bind the heartbeat socket to ${cfg.bindAddress ?? '0.0.0.0/::'} port ${cfg.port}: ${e.code ?? e.message}`;
    port.postMessage({ type: 'error', code: 'MEMBERSHIP_BIND', message } satisfies FromWorker);
  }
}

if (parentPort !== null) void main(parentPort, workerData as WorkerConfig);
