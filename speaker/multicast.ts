/**
 * Solicited-node multicast memberships, so Neighbour Solicitations for an IPv6 address the
 * speaker announces reach the interface (a NIC filters multicast it has not joined) and
 * the kernel sends the MLD reports that make snooping switches forward them to us.
 *
 * Exported API:
 *   solicitedNodeGroup(ipv6) -> 'ff02::1:ffXX:XXXX'          // pure, RFC 4291 §2.7.1
 *   class SolicitedNodeGroups(ifname) { join(ipv6); leave(ipv6); close() }
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
