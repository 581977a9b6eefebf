/** Reads a classic pcap file (as `tcpdump -w` writes it): frames with their timestamps. */
import { readFileSync } from 'node:fs';

export interface CapturedFrame {
  /** capture time, nanoseconds since the epoch (microsecond files are scaled) */
  tsNs: bigint;
  data: Buffer;
}

export function readPcap(path: string): CapturedFrame[] {
  const b = readFileSync(path);
  if (b.length < 24) return [];
  const magic = b.readUInt32LE(0);
  const nano = magic === 0xa1b23c4d;
  if (!nano && magic !== 0xa1b2c3d4) throw new Error(`${path}: not a little-endian pcap file`);
  const out: CapturedFrame[] = [];
  for (let at = 24; at + 16 <= b.length; ) {
    const sec = BigInt(b.readUInt32LE(at));
    const frac = BigInt(b.readUInt32LE(at + 4));
    const len = b.readUInt32LE(at + 8);
    if (at + 16 + len > b.length) break; // a record cut short when tcpdump was stopped
    out.push({
      tsNs: sec * 1_000_000_000n + (nano ? frac : frac * 1000n),
      data: b.subarray(at + 16, at + 16 + len),
    });
    at += 16 + len;
  }
  return out;
}
