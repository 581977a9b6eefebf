/**
 * IPv6 solicited-node multicast groups joined on an interface, so Neighbor Solicitations for an
 * owned IP reach the packet socket: the kernel programs the NIC's multicast filter and sends
 * the MLD reports that snooping switches need. One udp6 socket per interface, ref-counted groups.
 */
import dgram from 'node:dgram';
import { solicitedNodeAddress } from './frame.js';

export class SolicitedNodeGroups {
  private readonly sock: dgram.Socket;
  private bound: Promise<void>;
  // group address -> how many owned IPs need it
  private readonly refs = new Map<string, number>();

  constructor(private readonly ifname: string) {
    this.sock = dgram.createSocket({ type: 'udp6', reuseAddr: true });
    this.sock.on('error', () => undefined); // membership errors surface from join()
    this.bound = new Promise((resolve) => this.sock.bind(0, () => resolve()));
  }

  join(ipv6: string): void {
    const group = solicitedNodeAddress(ipv6);
    const n = this.refs.get(group) ?? 0;
    this.refs.set(group, n + 1);
    if (n === 0) void this.bound.then(() => this.sock.addMembership(group, `::%${this.ifname}`));
  }

  leave(ipv6: string): void {
    const group = solicitedNodeAddress(ipv6);
    const n = this.refs.get(group) ?? 0;
    if (n <= 1) {
      this.refs.delete(group);
      if (n === 1) void this.bound.then(() => this.sock.dropMembership(group, `::%${this.ifname}`));
    } else {
      this.refs.set(group, n - 1);
    }
  }

  close(): void {
    this.sock.close();
  }
}
