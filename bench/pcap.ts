/**
 * Reads what tcpdump wrote (`-w`, classic pcap, Ethernet) and picks out the announcements a new
 * owner sends: gratuitous ARP (sender IP = target IP) and unsolicited Neighbor Advertisements
 * (not solicited, to all nodes). Frames are parsed with the speaker's own parser, which also
 * checks ICMPv6 checksums and hop limits, so a malformed NA is not counted as on the wire.
 */
import { parseFrame } from '../speaker/frame.js';

export interface Captured {
  /** Epoch ms (the capture clock is the host's CLOCK_REALTIME, as Date.now()). */
  t: number;
  frame: Buffer;
}

export interface Announcement {
  t: number;
  ip: string;
  mac: string;
  family: 4 | 6;
}

const LINKTYPE_ETHERNET = 1;

export function readPcap(buf: Buffer): Captured[] {
  if (buf.length < 24) return [];
  const magicLE = buf.readUInt32LE(0);
  const le = magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d;
  const magic = le ? magicLE : buf.readUInt32BE(0);
  if (magic !== 0xa1b2c3d4 && magic !== 0xa1b23c4d) throw new Error('not a pcap file');
  const nanos = magic === 0xa1b23c4d;
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  if (u32(20) !== LINKTYPE_ETHERNET) throw new Error(`pcap link type ${u32(20)}, want Ethernet`);
  const out: Captured[] = [];
  // A file cut short by SIGINT may end in a partial record: stop there.
  for (let o = 24; o + 16 <= buf.length; ) {
    const sec = u32(o);
    const frac = u32(o + 4);
    const incl = u32(o + 8);
    if (o + 16 + incl > buf.length) break;
    out.push({
      t: sec * 1000 + (nanos ? frac / 1e6 : frac / 1e3),
      frame: buf.subarray(o + 16, o + 16 + incl),
    });
    o += 16 + incl;
  }
  return out;
}

export function announcements(frames: readonly Captured[]): Announcement[] {
  const out: Announcement[] = [];
  for (const c of frames) {
    const r = parseFrame(c.frame);
    if (!r.ok) continue;
    const m = r.msg;
    if ((m.kind === 'arp-request' || m.kind === 'arp-reply') && m.senderIp === m.targetIp)
      out.push({ t: c.t, ip: m.senderIp, mac: m.srcMac, family: 4 });
    else if (m.kind === 'na' && !m.solicited && m.dstIp === 'ff02::1')
      out.push({ t: c.t, ip: m.targetIp, mac: m.srcMac, family: 6 });
  }
  return out;
}

/** Per IP, the first announcement at or after `fromMs` by one of `macs`. */
export function firstAnnouncements(
  ann: readonly Announcement[],
  fromMs: number,
  macs: ReadonlySet<string>,
): Map<string, Announcement> {
  const first = new Map<string, Announcement>(); // ip -> its first announcement
  for (const a of ann) {
    if (a.t < fromMs || !macs.has(a.mac)) continue;
    const seen = first.get(a.ip);
    if (!seen || a.t < seen.t) first.set(a.ip, a);
  }
  return first;
}
