/**
 * Sends the guard's probes: the conflict probe before an IP is first announced and the owner's
 * self-probe of every IP it holds (every ~2 s), as RFC 5227 ARP probes and DAD-style Neighbor
 * Solicitations (frame.ts).
 *
 * Why a class: a self-probe sweep at 1,000 IPs is 500 frames a second. Built afresh, each NS
 * parsed and formatted its addresses again and allocated its own Buffer (the largest single
 * source of garbage of a speaker holding 1,000 IPs, docs/benchmarks.md), and each went out in
 * its own syscall. Here each frame is built once per (MAC, IP) and kept (bounded), and the
 * frames probed in one turn of the loop leave together, one batch per interface.
 */
import { arpProbe, nsProbe } from './frame.js';

/** Frames kept: a few per IP of the largest pool a speaker holds; past it, all are rebuilt. */
const MAX_FRAMES = 4096;

export interface ProberDeps {
  /** Sends frames out of one interface (one sendmmsg per 64); returns how many went out. */
  send: (ifname: string, frames: readonly Buffer[]) => number;
  /** Some of a batch did not go out (the interface's queue was full): they are not retried. */
  onShort?: (ifname: string, sent: number, wanted: number) => void;
  /** Defers the flush to the end of this turn (queueMicrotask in the speaker). */
  defer?: (fn: () => void) => void;
}

export class Prober {
  // 'mac ip' -> its probe frame
  private readonly frames = new Map<string, Buffer>();
  // ifname -> frames waiting for this turn's flush
  private queued = new Map<string, Buffer[]>();
  private flushing = false;

  constructor(private readonly d: ProberDeps) {}

  /** Probes `ip` on each of `links` (interface and its MAC), at the end of this turn. */
  probe(ip: string, links: Iterable<readonly [ifname: string, mac: string]>): void {
    for (const [ifname, mac] of links) {
      const q = this.queued.get(ifname) ?? [];
      this.queued.set(ifname, q);
      q.push(this.frame(ip, mac));
    }
    if (!this.flushing && this.queued.size > 0) {
      this.flushing = true;
      (this.d.defer ?? queueMicrotask)(() => this.flush());
    }
  }

  get cached(): number {
    return this.frames.size;
  }

  private frame(ip: string, mac: string): Buffer {
    const key = `${mac} ${ip}`;
    let f = this.frames.get(key);
    if (f === undefined) {
      f = ip.includes(':') ? nsProbe(ip, mac) : arpProbe(ip, mac);
      if (this.frames.size >= MAX_FRAMES) this.frames.clear();
      this.frames.set(key, f);
    }
    return f;
  }

  private flush(): void {
    this.flushing = false;
    const q = this.queued;
    this.queued = new Map();
    for (const [ifname, frames] of q) {
      const sent = this.d.send(ifname, frames);
      if (sent < frames.length) this.d.onShort?.(ifname, sent, frames.length);
    }
  }
}
