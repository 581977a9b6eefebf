// The failure detector, pure: no socket, no timer, no clock. The worker feeds it every
// verified message (heard) and asks it, after reading what was queued, who is past their
// deadline (check). Rules, each for a reason:
//  - dead after deadAfterMs without evidence: evidence is a heartbeat we accepted, or a live
//    peer's report that it heard the node directly (so one silent path alone kills no one);
//  - every deadline is pushed back by our own lateness since that evidence (a stall of ours is
//    not silence of theirs);
//  - within an incarnation, sequence numbers only go up (a replay is dropped);
//  - a new incarnation is believed only when the packet echoes one of our own recent sentAt
//    values, newer than any the current incarnation echoed: that proves it was made after we
//    sent them, which no recorded packet can;
//  - `leaving` marks the node left at once, and nothing but a new incarnation revives it.
import { type GossipEntry, type Message, NEVER, nodeId } from './codec.js';

export type MemberState = 'alive' | 'dead' | 'left' | 'restarted';

export interface MembershipChange {
  node: string;
  state: MemberState;
  /** ms on the monotonic clock the detector is driven with. */
  at: number;
}

/** What became of one verified message. */
export type Verdict =
  | 'accepted'
  | 'duplicate' // the seq we accepted last, again: a second address of the peer, or a replay
  | 'replay' // seq below the last one of this incarnation, or a new incarnation with a stale echo
  | 'unproven' // a new incarnation with no echo of ours yet: the normal first packet of a peer
  | 'left' // a late packet of an incarnation that already said it is leaving
  | 'unknown-sender' // not a peer we were given
  | 'self';

export interface HeardResult {
  verdict: Verdict;
  changes: MembershipChange[];
  /** Round trip to the sender, from its echo of our sentAt; undefined when it carried none. */
  rttMs?: number;
}

export interface DetectorOptions {
  self: string;
  deadAfterMs: number;
  /** How old an echoed sentAt of ours may be and still prove a new incarnation is live. */
  proofWindowMs?: number;
}

type PeerState = 'unknown' | 'alive' | 'dead' | 'left';

interface Peer {
  readonly name: string;
  readonly id: string;
  state: PeerState;
  incarnation: string | undefined;
  lastSeq: number;
  /** When we last accepted a heartbeat from it (what we gossip). */
  directAt: number | undefined;
  /** Newest evidence, direct or gossip. */
  evidenceAt: number;
  /** totalLateness when evidenceAt was set: the lateness since then extends the deadline. */
  latenessMark: number;
  /** Newest sentAt of ours echoed by an accepted packet of the current incarnation. */
  echoMark: number;
  /** Its newest signed sentAt, which we echo back. */
  echo: { incarnation: string; seq: number; ts: number; at: number } | undefined;
}

const MAX_SENT_KEPT = 256;

export class Detector {
  private readonly self: string;
  private readonly selfId: string;
  private readonly deadAfterMs: number;
  private readonly proofWindowMs: number;
  private readonly peers = new Map<string, Peer>(); // node name -> state
  private readonly byId = new Map<string, Peer>(); // nodeId -> same state
  private readonly sent: number[] = []; // our recent sentAt values, oldest first
  private readonly sentSet = new Set<number>();
  private totalLateness = 0;

  constructor(opts: DetectorOptions) {
    this.self = opts.self;
    this.selfId = nodeId(opts.self);
    this.deadAfterMs = opts.deadAfterMs;
    this.proofWindowMs = opts.proofWindowMs ?? Math.max(1000, 2 * opts.deadAfterMs);
  }

  /** Replaces the peer list. A removed peer that was alive is reported as left. */
  setPeers(names: readonly string[], now: number): MembershipChange[] {
    const want = new Set(names.filter((n) => n !== this.self));
    const changes: MembershipChange[] = [];
    for (const [name, p] of this.peers) {
      if (want.has(name)) continue;
      if (p.state === 'alive') changes.push({ node: name, state: 'left', at: now });
      this.peers.delete(name);
      this.byId.delete(p.id);
    }
    for (const name of want) {
      if (this.peers.has(name)) continue;
      const p: Peer = {
        name,
        id: nodeId(name),
        state: 'unknown',
        incarnation: undefined,
        lastSeq: 0,
        directAt: undefined,
        evidenceAt: Number.NEGATIVE_INFINITY,
        latenessMark: 0,
        echoMark: Number.NEGATIVE_INFINITY,
        echo: undefined,
      };
      this.peers.set(name, p);
      this.byId.set(p.id, p);
    }
    return changes;
  }

  /** Records a sentAt of ours, so a peer's echo of it can prove its packet is fresh. */
  noteSent(sentAt: number): void {
    if (this.sentSet.has(sentAt)) return;
    this.sent.push(sentAt);
    this.sentSet.add(sentAt);
    while (
      this.sent.length > MAX_SENT_KEPT ||
      (this.sent.length > 0 && (this.sent[0] as number) < sentAt - this.proofWindowMs)
    ) {
      this.sentSet.delete(this.sent.shift() as number);
    }
  }

  /** Takes one message whose signature was verified. */
  heard(m: Message, now: number): HeardResult {
    if (m.sender === this.self) return { verdict: 'self', changes: [] };
    const p = this.peers.get(m.sender);
    if (p === undefined) return { verdict: 'unknown-sender', changes: [] };
    const echoOfUs = m.entries.find((e) => e.id === this.selfId);
    const fresh = echoOfUs !== undefined && this.isOurRecent(echoOfUs.echoTs, now);
    if (p.echo === undefined || p.echo.incarnation !== m.incarnation || m.seq > p.echo.seq) {
      p.echo = { incarnation: m.incarnation, seq: m.seq, ts: m.sentAt, at: now };
    }
    const rttMs = fresh ? rtt(echoOfUs, now) : undefined;
    let restarted = false;
    if (p.incarnation === m.incarnation) {
      if (m.seq <= p.lastSeq) return { verdict: m.seq === p.lastSeq ? 'duplicate' : 'replay', changes: [] };
      p.lastSeq = m.seq;
      if (p.state === 'left') return { verdict: 'left', changes: [] };
    } else {
      if (!fresh) return { verdict: echoOfUs === undefined ? 'unproven' : 'replay', changes: [] };
      // Newer than what the current incarnation has echoed: else a recorded packet of the
      // previous boot, replayed within the proof window, would switch us back.
      if (echoOfUs.echoTs <= p.echoMark) return { verdict: 'replay', changes: [] };
      restarted = p.incarnation !== undefined;
      p.incarnation = m.incarnation;
      p.lastSeq = m.seq;
    }
    if (fresh && echoOfUs.echoTs > p.echoMark) p.echoMark = echoOfUs.echoTs;
    const changes: MembershipChange[] = [];
    const result = (): HeardResult =>
      rttMs === undefined ? { verdict: 'accepted', changes } : { verdict: 'accepted', changes, rttMs };
    const wasAlive = p.state === 'alive';
    if (m.kind === 'leaving') {
      p.state = 'left';
      if (wasAlive) changes.push({ node: p.name, state: 'left', at: now });
      return result();
    }
    p.state = 'alive';
    p.directAt = now;
    this.refresh(p, now);
    if (restarted) changes.push({ node: p.name, state: 'restarted', at: now });
    else if (!wasAlive) changes.push({ node: p.name, state: 'alive', at: now });
    this.takeGossip(p, m.entries, now, changes);
    return result();
  }

  /**
   * Declares dead every alive peer whose deadline passed. `localLatenessMs` is how late this
   * check runs against its schedule: that much of the silence may be ours, so it is forgiven.
   */
  check(now: number, localLatenessMs: number): MembershipChange[] {
    if (localLatenessMs > 0) this.totalLateness += localLatenessMs;
    const changes: MembershipChange[] = [];
    for (const p of this.peers.values()) {
      if (p.state !== 'alive') continue;
      const deadline = p.evidenceAt + this.deadAfterMs + (this.totalLateness - p.latenessMark);
      if (now > deadline) {
        p.state = 'dead';
        changes.push({ node: p.name, state: 'dead', at: now });
      }
    }
    return changes;
  }

  /** The entries our next heartbeat carries: what we heard directly, and echoes for RTT/proof. */
  gossip(now: number): GossipEntry[] {
    const out: GossipEntry[] = [];
    for (const p of this.peers.values()) {
      const heard = p.directAt !== undefined && p.state !== 'left';
      if (!heard && p.echo === undefined) continue;
      out.push({
        id: p.id,
        heardAgeUs: heard ? (now - (p.directAt as number)) * 1000 : NEVER,
        echoTs: p.echo?.ts ?? -1,
        echoHoldUs: p.echo === undefined ? 0 : (now - p.echo.at) * 1000,
      });
    }
    return out;
  }

  /** Nodes alive now, self included. */
  alive(): Set<string> {
    const out = new Set([this.self]);
    for (const p of this.peers.values()) if (p.state === 'alive') out.add(p.name);
    return out;
  }

  private isOurRecent(ts: number, now: number): boolean {
    return this.sentSet.has(ts) && ts <= now && now - ts <= this.proofWindowMs;
  }

  private refresh(p: Peer, at: number): void {
    if (at <= p.evidenceAt) return;
    p.evidenceAt = at;
    p.latenessMark = this.totalLateness;
  }

  // A live sender's word that it heard a node directly. It keeps an alive node alive; it
  // revives a node we do not consider alive only while fresh (half of deadAfter), so a report
  // about to expire cannot make a node flap alive -> dead.
  private takeGossip(sender: Peer, entries: readonly GossipEntry[], now: number, out: MembershipChange[]) {
    for (const e of entries) {
      if (e.heardAgeUs === NEVER) continue;
      const target = this.byId.get(e.id);
      if (target === undefined || target === sender || target.state === 'left') continue;
      const at = now - e.heardAgeUs / 1000;
      if (at <= target.evidenceAt) continue;
      if (target.state !== 'alive') {
        if (now - at > this.deadAfterMs / 2) continue;
        target.state = 'alive';
        out.push({ node: target.name, state: 'alive', at: now });
      }
      this.refresh(target, at);
    }
  }
}

function rtt(e: GossipEntry, now: number): number | undefined {
  const ms = now - e.echoTs - e.echoHoldUs / 1000;
  return ms >= 0 ? ms : undefined;
}
