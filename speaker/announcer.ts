/**
 * Gratuitous ARP (request + reply, sender = target = the IP) and unsolicited NA on takeover, at
 * the schedule's offsets, so every neighbour's cache moves to our MAC at once and stragglers
 * (a dropped frame, a cache that ignored the first) catch up. Before each burst the IP is
 * checked again: one that is no longer ours is never announced. IPs taken over together share
 * one timer per offset and one sendmmsg per interface, so 1,000 IPs leave in one batch.
 */
import type { Clock, TimerHandle } from '../kube/clock.js';
import type { OwnedIp } from './decider.js';
import { gratuitousArp, unsolicitedNA } from './frame.js';

export interface AnnouncerDeps {
  clock: Clock;
  offsetsMs: readonly number[];
  /** The IP as we announce it now, or undefined when it is no longer ours. */
  current: (ip: string) => OwnedIp | undefined;
  /** The interfaces to announce on (the IP's own, or every watched one) and their MACs. */
  interfacesOf: (o: OwnedIp) => readonly string[];
  macOf: (ifname: string) => string | undefined;
  send: (ifname: string, frames: readonly Buffer[]) => number;
  onSent?: (family: 4 | 6, frames: number) => void;
}

export class Announcer {
  private readonly timers = new Set<TimerHandle>();
  private stopped = false;

  constructor(private readonly d: AnnouncerDeps) {}

  /** Announces now and at every later offset of the schedule. */
  takeover(ips: readonly string[]): void {
    if (ips.length === 0 || this.stopped) return;
    const start = this.d.clock.now();
    for (const offset of this.d.offsetsMs) {
      if (offset === 0) {
        this.burst(ips);
        continue;
      }
      const t = this.d.clock.setTimeout(
        () => {
          this.timers.delete(t);
          this.burst(ips);
        },
        Math.max(0, start + offset - this.d.clock.now()),
      );
      this.timers.add(t);
    }
  }

  /** One burst now (a link came back): only on `ifname` when given. */
  burst(ips: readonly string[], ifname?: string): void {
    if (this.stopped) return;
    // ifname -> frames to send there
    const out = new Map<string, Buffer[]>();
    const counts = { 4: 0, 6: 0 };
    for (const ip of ips) {
      const o = this.d.current(ip);
      if (!o) continue;
      for (const ifn of this.d.interfacesOf(o)) {
        if (ifname !== undefined && ifn !== ifname) continue;
        const mac = this.d.macOf(ifn);
        if (!mac) continue;
        const frames = out.get(ifn) ?? [];
        if (o.family === 4) frames.push(...gratuitousArp(ip, mac));
        else frames.push(unsolicitedNA(ip, mac));
        out.set(ifn, frames);
        counts[o.family] += o.family === 4 ? 2 : 1;
      }
    }
    for (const [ifn, frames] of out) this.d.send(ifn, frames);
    if (counts[4]) this.d.onSent?.(4, counts[4]);
    if (counts[6]) this.d.onSent?.(6, counts[6]);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) this.d.clock.clearTimeout(t);
    this.timers.clear();
  }
}
