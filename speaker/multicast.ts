/**
 * Solicited-node multicast memberships, so Neighbour Solicitations for an IPv6 address the
 * speaker announces reach the interface (a NIC filters multicast it has not joined) and
 * the kernel sends the MLD reports that make snooping switches forward them to us.
 *
 * Exported API:
 *   solicitedNodeGroup(ipv6) -> 'ff02::1:ffXX:XXXX'          // pure, RFC 4291 §2.7.1
 *   class SolicitedNodeGroups(ifname) { join(ipv6); leave(ipv6); close() }
 *   class InterfaceGroups(onError) { join(ip, ifnames); leave(ip); close() }  // one per interface
 *
 * One udp6 socket per interface holds the memberships (IPV6_ADD_MEMBERSHIP via
 * dgram.addMembership); it is never read from. Groups are ref-counted: addresses that
 * share their low 24 bits share a group, which is left when the last of them is.
 */
import { createSocket, type Socket } from 'node:dgram';
import { formatIP, parseIP } from '../api/addresses.js';
import { LinkError } from './link.js';

const SOLICITED_NODE_PREFIX = 0xff02_0000_0000_0000_0000_0001_ff00_0000n;

export function solicitedNodeGroup(ipv6: string): string {
  const addr = parseIP(ipv6);
  if (addr?.family !== 'IPv6') throw new LinkError('ERR_INVALID_IPV6', `not an IPv6 address: ${ipv6}`);
  return formatIP({ family: 'IPv6', value: SOLICITED_NODE_PREFIX | (addr.value & 0xff_ffffn) });
}

export class SolicitedNodeGroups {
  private socket: Socket | undefined;
  private readonly refs = new Map<string, number>(); // group -> addresses joined through it

  /** No I/O here: the socket is made by the first join(). */
  constructor(
    readonly ifname: string,
    private readonly makeSocket: () => Socket = () => createSocket({ type: 'udp6' }),
  ) {}

  join(ipv6: string): void {
    const group = solicitedNodeGroup(ipv6);
    const n = this.refs.get(group) ?? 0;
    if (n === 0) this.membership('add', group);
    this.refs.set(group, n + 1);
  }

  /** Leaving an address never joined is a no-op (a retried cleanup must not throw). */
  leave(ipv6: string): void {
    const group = solicitedNodeGroup(ipv6);
    const n = this.refs.get(group) ?? 0;
    if (n === 0) return;
    if (n === 1) {
      this.refs.delete(group);
      this.membership('drop', group);
    } else this.refs.set(group, n - 1);
  }

  /** Leaves every group (closing the socket drops its memberships). */
  close(): void {
    this.refs.clear();
    this.socket?.close();
    this.socket = undefined;
  }

  private membership(op: 'add' | 'drop', group: string): void {
    try {
      if (this.socket === undefined) {
        // Never bound explicitly: libuv binds it to [::]:0 on the first membership call.
        this.socket = this.makeSocket();
        this.socket.unref();
      }
      if (op === 'add') this.socket.addMembership(group, `::%${this.ifname}`);
      else this.socket.dropMembership(group, `::%${this.ifname}`);
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'ERR_MULTICAST';
      throw new LinkError(code, `cannot ${op === 'add' ? 'join' : 'leave'} ${group} on ${this.ifname}`, err);
    }
  }
}

/**
 * The speaker's memberships on every interface: one SolicitedNodeGroups per interface, made on
 * first use. IPv4 addresses need none and are ignored. A failed join is reported, not thrown:
 * unicast NUD still reaches us, and announcing must go on.
 */
export class InterfaceGroups {
  private readonly byInterface = new Map<string, SolicitedNodeGroups>();

  constructor(
    private readonly onError: (ip: string, ifname: string, err: unknown) => void,
    private readonly make: (ifname: string) => SolicitedNodeGroups = (ifname) =>
      new SolicitedNodeGroups(ifname),
  ) {}

  join(ip: string, ifnames: readonly string[]): void {
    if (!ip.includes(':')) return;
    for (const ifname of ifnames) {
      let g = this.byInterface.get(ifname);
      if (!g) {
        g = this.make(ifname);
        this.byInterface.set(ifname, g);
      }
      try {
        g.join(ip);
      } catch (err) {
        this.onError(ip, ifname, err);
      }
    }
  }

  /** Leaves `ip`'s group wherever it was joined (a no-op where it was not). */
  leave(ip: string): void {
    if (!ip.includes(':')) return;
    for (const g of this.byInterface.values()) {
      try {
        g.leave(ip);
      } catch {
        // the interface is gone: its socket's memberships went with it
      }
    }
  }

  close(): void {
    for (const g of this.byInterface.values()) g.close();
    this.byInterface.clear();
  }
}
