/**
 * The packet sockets of this node: one per usable interface (up, broadcast-capable, not a bridge
 * port or bond member), opened before anything is announced (frames that arrive before a socket
 * exists are lost) and kept in step with the interfaces by a cheap periodic sysfs scan. A link
 * whose carrier comes back is reported, so its IPs are announced again (metallb #584: no GARP
 * after reconnect).
 *
 * Each socket's fast path (link.ts setAnswers) is kept level-triggered: answer(owned) stores
 * the whole owned index and pushes every socket its full table; a socket opened later, or a
 * change in our set of MACs, gets the table pushed again.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../kube/log.js';
import type { NetInterface } from './interfaces.js';
import type { LinkSocket } from './link.js';
import type { OwnedIndex } from './responder.js';

export interface LinksDeps {
  list: () => NetInterface[];
  open: (ifname: string, onFrame: (frame: Buffer, answered: boolean) => void) => LinkSocket;
  /** `answered`: the socket's fast path already sent the reply; do not send another. */
  onFrame: (ifname: string, mac: string, frame: Buffer, answered: boolean) => void;
  /** A watched interface's carrier came back (or it was opened anew). */
  onLinkUp: (ifname: string) => void;
  /** Carrier state, read from sysfs by default. */
  carrier?: (ifname: string) => boolean;
  log: Logger;
}

interface Open {
  sock: LinkSocket;
  mac: string;
  carrier: boolean;
}

export function sysfsCarrier(ifname: string, root = '/sys/class/net'): boolean {
  try {
    const state = readFileSync(join(root, ifname, 'operstate'), 'utf8').trim();
    return state === 'up' || state === 'unknown';
  } catch {
    return false;
  }
}

/** Requests the fast paths answered, since start (closed sockets included). */
export interface FastPathCounts {
  arp: number;
  ns: number;
}

export class Links {
  // ifname -> its open socket
  private readonly open = new Map<string, Open>();
  // what sockets closed since start had answered, so the totals never go back
  private readonly closedCounts: FastPathCounts = { arp: 0, ns: 0 };
  // the IPs the fast paths answer, as last given to answer()
  private owned: OwnedIndex = new Map();
  // names and MACs of the open sockets, rebuilt only when one opens or closes: they are read
  // per frame sent or received (a new Map each time was 1,000 Maps per takeover burst)
  private view?: { names: readonly string[]; macs: ReadonlyMap<string, string>; ours: ReadonlySet<string> };

  constructor(private readonly d: LinksDeps) {}

  /** Re-reads the interfaces; opens, closes and reports carrier changes. Returns true if anything changed. */
  refresh(): boolean {
    const d = this.d;
    const usable = new Map(d.list().map((i) => [i.name, i]));
    let changed = false;
    for (const [name, o] of this.open) {
      const now = usable.get(name);
      if (now && now.mac === o.mac) continue;
      this.closeSocket(o);
      this.open.delete(name);
      this.view = undefined;
      changed = true;
      d.log.info({ interface: name }, 'interface no longer usable; socket closed');
    }
    for (const [name, i] of usable) {
      const carrier = (d.carrier ?? sysfsCarrier)(name);
      const o = this.open.get(name);
      if (o) {
        if (carrier && !o.carrier) d.onLinkUp(name);
        if (carrier !== o.carrier) {
          changed = true;
          d.log.info({ interface: name, carrier }, 'link carrier changed');
        }
        o.carrier = carrier;
        continue;
      }
      try {
        const sock = d.open(name, (frame, answered) => d.onFrame(name, i.mac, frame, answered));
        this.open.set(name, { sock, mac: i.mac, carrier });
        this.view = undefined;
        changed = true;
        d.log.info({ interface: name, mac: i.mac }, 'listening for ARP/NDP');
        if (carrier) d.onLinkUp(name);
      } catch (err) {
        d.log.warn({ interface: name, err }, 'cannot open a packet socket on the interface');
      }
    }
    if (changed) this.answer(this.owned); // a new socket starts empty; our MACs may differ
    return changed;
  }

  /** Pushes every socket the IPs it must answer. Returns once no socket answers an IP
   * missing from `owned`. Failures are logged: the JS path still answers those frames. */
  answer(owned: OwnedIndex): void {
    this.owned = owned;
    const ourMacs = [...this.open.values()].map((o) => o.mac);
    for (const [name, o] of this.open) {
      const ips: string[] = [];
      for (const [ip, on] of owned) if (on === undefined || on.has(name)) ips.push(ip);
      try {
        o.sock.setAnswers({ mac: o.mac, ourMacs, ips });
      } catch (err) {
        this.d.log.warn({ interface: name, err }, 'cannot set the native fast path; JS answers');
      }
    }
  }

  /** Watched interfaces, sorted. */
  names(): readonly string[] {
    return this.views().names;
  }

  /** ifname -> MAC of every watched interface. */
  macs(): ReadonlyMap<string, string> {
    return this.views().macs;
  }

  /** The MACs of every watched interface. */
  ourMacs(): ReadonlySet<string> {
    return this.views().ours;
  }

  private views(): NonNullable<Links['view']> {
    if (!this.view) {
      const macs = new Map([...this.open].map(([n, o]) => [n, o.mac]));
      this.view = { names: Object.freeze([...macs.keys()].sort()), macs, ours: new Set(macs.values()) };
    }
    return this.view;
  }

  has(ifname: string): boolean {
    return this.open.has(ifname);
  }

  /** Sends frames on one interface; returns how many left. Errors are logged, not thrown. */
  send(ifname: string, frames: readonly Buffer[]): number {
    const o = this.open.get(ifname);
    if (!o || frames.length === 0) return 0;
    try {
      if (frames.length > 1) return o.sock.sendBatch(frames);
      o.sock.send(frames[0] as Buffer);
      return 1;
    } catch (err) {
      this.d.log.warn({ interface: ifname, err }, 'send failed');
      return 0;
    }
  }

  /** Requests the sockets' fast paths answered without JS seeing them (metrics). */
  fastPathCounts(): FastPathCounts {
    const n = { ...this.closedCounts };
    for (const o of this.open.values()) addCounts(n, o.sock);
    return n;
  }

  private closeSocket(o: Open): void {
    o.sock.close();
    addCounts(this.closedCounts, o.sock); // stats() after close(): its final values
  }

  dropped(): number {
    let n = 0;
    for (const o of this.open.values()) n += o.sock.stats().dropped;
    return n;
  }

  close(): void {
    for (const o of this.open.values()) this.closeSocket(o);
    this.open.clear();
    this.view = undefined;
  }
}

function addCounts(into: FastPathCounts, sock: LinkSocket): void {
  const s = sock.stats();
  const ns = s.answeredNs ?? 0;
  into.arp += (s.answered ?? 0) - ns;
  into.ns += ns;
}
