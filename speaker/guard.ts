/**
 * Two checks that keep one MAC answering per IP when the heartbeats cannot:
 * - Conflict probe (RFC 5227 / DAD style): before first announcing an IP (not on a failover: the
 *   IP was announced before), ask the LAN who has it; a host that is not a speaker answering is a
 *   conflict: the IP is held back, an IPConflict Event names the MAC, and it is probed again later.
 * - Self probe (split brain): an owner asks for its own IPs every few seconds; when another
 *   speaker answers (heartbeats lost both ways, both think they own it), the lower-ranked one
 *   yields at once and stays yielded while the other still answers.
 * State only; timers come from the injected clock, frames go out through `probe`.
 */
import type { Clock, TimerHandle } from '../kube/clock.js';
import type { Holds } from './decider.js';
import type { RankFn } from './election.js';

export interface GuardDeps {
  self: string;
  clock: Clock;
  rank: RankFn;
  /** How long to listen after a probe before an IP counts as free. */
  probeWindowMs: number;
  /** When a conflicted IP is probed again. */
  reprobeMs: number;
  selfProbeMs: number;
  /** Sends a probe for the IP on its interfaces. */
  probe: (ip: string) => void;
  /** The speaker (node name) that answers with this MAC, or undefined for a foreign host. */
  speakerOf: (mac: string) => string | undefined;
  /** IPs we announce now (self probes cover them). */
  owned: () => Iterable<string>;
  /**
   * Something changed that can change what we announce. `urgent`: we yield an IP to a
   * better-ranked speaker (two MACs answer until we replan), or take one back from a speaker
   * that fell silent (nobody answers until we replan); otherwise a probe finished or a
   * conflict's hold expired, which may wait for the next spaced replan.
   */
  onChange: (urgent: boolean) => void;
  onConflict: (ip: string, mac: string) => void;
  onSplitBrain: (ip: string, peer: string, weYield: boolean) => void;
}

interface Probe {
  timer: TimerHandle;
  foreignMac?: string;
}

export class Guard {
  // ip -> a conflict probe in flight
  private readonly probing = new Map<string, Probe>();
  // ips whose last probe found nobody else
  private readonly clear = new Set<string>();
  // ip -> the foreign MAC that answered
  private readonly conflicted = new Map<string, string>();
  // ip -> when it is probed again
  private readonly reprobe = new Map<string, TimerHandle>();
  // ip -> the better-ranked speaker we yielded to
  private readonly yielded = new Map<string, string>();
  // ip -> when the speaker we yielded to was last heard answering for it
  private readonly yieldHeard = new Map<string, number>();
  private selfTimer?: TimerHandle;
  private stopped = false;

  constructor(private readonly d: GuardDeps) {}

  start(): void {
    this.scheduleSelfProbe();
  }

  stop(): void {
    this.stopped = true;
    for (const p of this.probing.values()) this.d.clock.clearTimeout(p.timer);
    for (const t of this.reprobe.values()) this.d.clock.clearTimeout(t);
    if (this.selfTimer) this.d.clock.clearTimeout(this.selfTimer);
  }

  holds(): Holds {
    return { yielded: this.yielded, conflicted: this.conflicted };
  }

  /** IPs whose foreign answers matter to us besides the owned ones. */
  watching(ip: string): boolean {
    return this.probing.has(ip) || this.yielded.has(ip) || this.conflicted.has(ip);
  }

  /**
   * Whether a new ownership of `ip` may be announced now; starts a probe when it must wait.
   * `firstTime`: nobody announced the IP before (a failover never waits for a probe).
   */
  mayAnnounce(ip: string, firstTime: boolean): boolean {
    if (this.conflicted.has(ip)) return false;
    if (!firstTime || this.clear.has(ip)) return true;
    if (!this.probing.has(ip)) this.startProbe(ip);
    return false;
  }

  /** Drops state about IPs we no longer want (the plan moved them, or they are gone). */
  retain(wanted: ReadonlySet<string>): void {
    for (const [ip, p] of this.probing) {
      if (wanted.has(ip)) continue;
      this.d.clock.clearTimeout(p.timer);
      this.probing.delete(ip);
    }
    for (const ip of [...this.clear]) if (!wanted.has(ip)) this.clear.delete(ip);
    for (const ip of [...this.yielded.keys()]) {
      if (wanted.has(ip)) continue;
      this.yielded.delete(ip);
      this.yieldHeard.delete(ip);
    }
    for (const [ip, t] of this.reprobe) {
      if (wanted.has(ip)) continue;
      this.d.clock.clearTimeout(t);
      this.reprobe.delete(ip);
      this.conflicted.delete(ip);
    }
  }

  /** Another MAC claims `ip` (a probe answer, a gratuitous ARP, an NA). */
  foreign(ip: string, mac: string, ownedNow: boolean): void {
    const peer = this.d.speakerOf(mac);
    if (peer === undefined) {
      const p = this.probing.get(ip);
      if (p) p.foreignMac ??= mac;
      else if (ownedNow) this.d.onConflict(ip, mac); // we were first; say so, keep answering
      return;
    }
    if (peer === this.d.self) return;
    if (this.yielded.get(ip) === peer) {
      this.yieldHeard.set(ip, this.d.clock.now());
      return;
    }
    if (!ownedNow && !this.probing.has(ip)) return;
    const weYield = this.d.rank(peer, ip) < this.d.rank(this.d.self, ip);
    this.d.onSplitBrain(ip, peer, weYield);
    if (!weYield) return;
    this.yielded.set(ip, peer);
    this.yieldHeard.set(ip, this.d.clock.now());
    this.d.onChange(true);
  }

  private startProbe(ip: string): void {
    const timer = this.d.clock.setTimeout(() => this.probeDone(ip), this.d.probeWindowMs);
    this.probing.set(ip, { timer });
    this.d.probe(ip);
    // A second probe half-way: one lost frame must not hide a conflict.
    const again = this.d.clock.setTimeout(() => {
      if (this.probing.get(ip)?.timer === timer) this.d.probe(ip);
    }, this.d.probeWindowMs / 2);
    void again;
  }

  private probeDone(ip: string): void {
    const p = this.probing.get(ip);
    this.probing.delete(ip);
    if (!p || this.stopped) return;
    if (p.foreignMac) {
      this.conflicted.set(ip, p.foreignMac);
      this.d.onConflict(ip, p.foreignMac);
      this.reprobe.set(
        ip,
        this.d.clock.setTimeout(() => {
          this.reprobe.delete(ip);
          this.conflicted.delete(ip);
          this.d.onChange(false); // mayAnnounce() probes again
        }, this.d.reprobeMs),
      );
    } else {
      this.clear.add(ip);
    }
    this.d.onChange(false);
  }

  private scheduleSelfProbe(): void {
    if (this.stopped) return;
    this.selfTimer = this.d.clock.setTimeout(() => {
      this.selfProbe();
      this.scheduleSelfProbe();
    }, this.d.selfProbeMs);
  }

  private selfProbe(): void {
    const now = this.d.clock.now();
    let changed = false;
    for (const [ip, heard] of this.yieldHeard) {
      // The speaker we yielded to stopped answering: take the IP back.
      if (now - heard > 2 * this.d.selfProbeMs + this.d.probeWindowMs) {
        this.yielded.delete(ip);
        this.yieldHeard.delete(ip);
        changed = true;
      } else {
        this.d.probe(ip);
      }
    }
    for (const ip of this.d.owned()) this.d.probe(ip);
    if (changed) this.d.onChange(true); // nobody answers for it now: a failover, at once
  }
}
