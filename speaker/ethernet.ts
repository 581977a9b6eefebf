/**
 * Ethernet II framing: the 14-byte header in front of every frame the speaker reads or sends.
 * Pure.
 *
 * Exported API:
 *   ETH_HEADER = 14; ETHERTYPE = { arp, ipv6, vlan, qinq }; BROADCAST_MAC
 *   readEthernet(frame) -> { dstMac, srcMac, etherType } | undefined (shorter than a header)
 *   ethernetFrame(dstMac, srcMac, etherType, payloadLength) -> Buffer with the header written
 */
import { macFromBytes, writeMac } from './wire-addresses.js';

export const ETH_HEADER = 14;

export const ETHERTYPE = {
  arp: 0x0806,
  ipv6: 0x86dd,
  /** 802.1Q VLAN tag */
  vlan: 0x8100,
  /** 802.1ad service tag (QinQ) */
  qinq: 0x88a8,
} as const;

export const BROADCAST_MAC = 'ff:ff:ff:ff:ff:ff';

export interface EthernetHeader {
  readonly dstMac: string;
  readonly srcMac: string;
  readonly etherType: number;
}

export function readEthernet(frame: Buffer): EthernetHeader | undefined {
  if (frame.length < ETH_HEADER) return undefined;
  return {
    dstMac: macFromBytes(frame, 0),
    srcMac: macFromBytes(frame, 6),
    etherType: frame.readUInt16BE(12),
  };
}

/**
 * A zeroed frame of header + `payloadLength` bytes with the header filled in. No padding to the
 * 60-byte minimum: the NIC pads short frames, and AF_PACKET sends what it is given.
 */
export function ethernetFrame(
  dstMac: string,
  srcMac: string,
  etherType: number,
  payloadLength: number,
): Buffer {
  const f = Buffer.alloc(ETH_HEADER + payloadLength);
  writeMac(f, 0, dstMac);
  writeMac(f, 6, srcMac);
  f.writeUInt16BE(etherType, 12);
  return f;
}
