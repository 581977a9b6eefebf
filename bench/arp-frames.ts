/**
 * Just enough ARP framing for the link-layer bench and its agent (the speaker's own codec
 * lives elsewhere; this one is kept apart so the bench measures the socket, not a codec).
 * Frames are 42 bytes: Ethernet header + ARP for IPv4 over Ethernet, no padding.
 */
export const ARP_FRAME_BYTES = 42;
export const BROADCAST = 'ff:ff:ff:ff:ff:ff';

export interface Arp {
  op: 1 | 2; // request | reply
  sha: string;
  spa: string;
  tha: string;
  tpa: string;
}

const macBytes = (mac: string): number[] => mac.split(':').map((h) => Number.parseInt(h, 16));
const ipBytes = (ip: string): number[] => ip.split('.').map(Number);
const macText = (b: Buffer, at: number): string =>
  [...b.subarray(at, at + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
const ipText = (b: Buffer, at: number): string => [...b.subarray(at, at + 4)].join('.');

/** An Ethernet frame from `src` to `dst` carrying `arp`. */
export function arpFrame(dst: string, src: string, arp: Arp): Buffer {
  return Buffer.from([
    ...macBytes(dst),
    ...macBytes(src),
    0x08,
    0x06, // ethertype ARP
    0x00,
    0x01,
    0x08,
    0x00,
    6,
    4,
    0x00,
    arp.op, // Ethernet, IPv4, lengths, op
    ...macBytes(arp.sha),
    ...ipBytes(arp.spa),
    ...macBytes(arp.tha),
    ...ipBytes(arp.tpa),
  ]);
}

/** The ARP payload of an Ethernet frame, or undefined if it is not IPv4-over-Ethernet ARP. */
export function parseArp(frame: Buffer): (Arp & { src: string; dst: string }) | undefined {
  if (frame.length < ARP_FRAME_BYTES || frame.readUInt16BE(12) !== 0x0806) return undefined;
  if (frame.readUInt16BE(14) !== 1 || frame.readUInt16BE(16) !== 0x0800) return undefined;
  const op = frame.readUInt16BE(20);
  if (op !== 1 && op !== 2) return undefined;
  return {
    dst: macText(frame, 0),
    src: macText(frame, 6),
    op,
    sha: macText(frame, 22),
    spa: ipText(frame, 28),
    tha: macText(frame, 32),
    tpa: ipText(frame, 38),
  };
}

/** The reply `mac` gives to an ARP request for one of its addresses. */
export function replyTo(req: Arp & { src: string }, mac: string): Buffer {
  return arpFrame(req.src, mac, { op: 2, sha: mac, spa: req.tpa, tha: req.sha, tpa: req.spa });
}

/** A locally administered MAC that carries a 32-bit sequence number (02:00:ss:ss:ss:ss). */
export function seqMac(seq: number): string {
  const b = Buffer.alloc(6);
  b[0] = 0x02;
  b.writeUInt32BE(seq >>> 0, 2);
  return macText(b, 0);
}
