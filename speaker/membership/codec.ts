// The heartbeat wire format, version 1. Every field has a fixed size or a one-byte length, the
// whole packet is at most MAX_PACKET bytes (one Ethernet frame over IPv4 or IPv6, never
// fragmented), and decoding checks every length before reading, so any bytes at all decode to
// either a message or a reason. The HMAC-SHA256 tag covers every byte before it.
//
//   off  size  field
//   0    3     magic "HLB"
//   3    1     version (1)
//   4    1     kind: 1 heartbeat, 2 leaving
//   5    1     key id length K (1..32), then K bytes of key id (ASCII)
//   .    1     sender length N (1..253), then N bytes of node name (DNS subdomain characters)
//   .    8     incarnation: random per boot
//   .    8     sequence number, big-endian, 1.. (strictly increasing per incarnation)
//   .    8     sentAt: the sender's monotonic clock, ms, float64 (echoed back for RTT and freshness)
//   .    1     entry count E (0..MAX_ENTRIES), then E entries of ENTRY_BYTES:
//                8 node id (first 8 bytes of SHA-256 of the node name)
//                4 heardAgeUs: how long ago the sender last directly heard that node, µs (NEVER: not)
//                8 echoTs: that node's sentAt in the newest signed packet the sender got from it
//                4 echoHoldUs: how long the sender held echoTs before this packet, µs
//   .    32    HMAC-SHA256 over bytes [0, here) with the key named by key id
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { KeyRing } from './keys.js';

export const VERSION = 1;
export const MAX_PACKET = 1200;
export const MAX_ENTRIES = 32;
export const ENTRY_BYTES = 24;
export const TAG_BYTES = 32;
/** heardAgeUs value meaning "never heard directly" (an entry that only carries an echo). */
export const NEVER = 0xffff_ffff;
const MAGIC = [0x48, 0x4c, 0x42]; // "HLB"
const KIND_CODE = { heartbeat: 1, leaving: 2 } as const;
const NODE_NAME = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;
const KEY_ID = /^[A-Za-z0-9._-]{1,32}$/;
const INCARNATION = /^[0-9a-f]{16}$/;
const NODE_ID = /^[0-9a-f]{16}$/;
const MAX_US = NEVER - 1;

export type Kind = keyof typeof KIND_CODE;

export interface GossipEntry {
  /** nodeId(name) of the node this entry is about. */
  readonly id: string;
  /** µs since the sender last directly heard the node, or NEVER. */
  readonly heardAgeUs: number;
  /** The node's own sentAt from its newest signed packet the sender received. */
  readonly echoTs: number;
  /** µs between the sender receiving echoTs and sending this packet. */
  readonly echoHoldUs: number;
}

export interface Message {
  readonly kind: Kind;
  readonly sender: string;
  /** 16 lowercase hex digits. */
  readonly incarnation: string;
  readonly seq: number;
  readonly sentAt: number;
  readonly entries: readonly GossipEntry[];
}

export type DecodeResult =
  | { ok: true; message: Message; keyId: string }
  | { ok: false; reason: 'malformed' | 'auth'; detail: string };

/** The 8-byte id a node goes by in gossip entries (names would not fit MAX_ENTRIES in a frame). */
export function nodeId(name: string): string {
  return createHash('sha256').update(name).digest('hex').slice(0, 16);
}

export class CodecError extends Error {
  readonly code = 'MEMBERSHIP_ENCODE';
}

/** Encodes and signs with the ring's signing key. Throws CodecError on a value out of range. */
export function encode(m: Message, keys: KeyRing): Buffer {
  check(NODE_NAME.test(m.sender), `sender "${m.sender}" is not a node name`);
  check(INCARNATION.test(m.incarnation), 'incarnation must be 16 hex digits');
  check(Number.isSafeInteger(m.seq) && m.seq >= 1, `seq ${m.seq} out of range`);
  check(Number.isFinite(m.sentAt), 'sentAt must be finite');
  check(m.entries.length <= MAX_ENTRIES, `${m.entries.length} entries, at most ${MAX_ENTRIES}`);
  const keyId = Buffer.from(keys.signing.id, 'ascii');
  const sender = Buffer.from(m.sender, 'ascii');
  const size = 5 + 1 + keyId.length + 1 + sender.length + 24 + 1 + m.entries.length * ENTRY_BYTES + TAG_BYTES;
  const b = Buffer.alloc(size);
  let o = 0;
  for (const c of MAGIC) b[o++] = c;
  b[o++] = VERSION;
  b[o++] = KIND_CODE[m.kind];
  b[o++] = keyId.length;
  o += keyId.copy(b, o);
  b[o++] = sender.length;
  o += sender.copy(b, o);
  o += Buffer.from(m.incarnation, 'hex').copy(b, o);
  b.writeBigUInt64BE(BigInt(m.seq), o);
  o = b.writeDoubleBE(m.sentAt, o + 8);
  b[o++] = m.entries.length;
  for (const e of m.entries) {
    check(NODE_ID.test(e.id), 'entry id must be 16 hex digits');
    check(Number.isFinite(e.echoTs), 'echoTs must be finite');
    o += Buffer.from(e.id, 'hex').copy(b, o);
    o = b.writeUInt32BE(e.heardAgeUs === NEVER ? NEVER : clampUs(e.heardAgeUs), o);
    o = b.writeDoubleBE(e.echoTs, o);
    o = b.writeUInt32BE(clampUs(e.echoHoldUs), o);
  }
  createHmac('sha256', keys.signing.secret).update(b.subarray(0, o)).digest().copy(b, o);
  return b;
}

/** Parses, then verifies the tag; nothing from an unverified packet is returned. */
export function decode(b: Uint8Array, keys: KeyRing): DecodeResult {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const bad = (detail: string): DecodeResult => ({ ok: false, reason: 'malformed', detail });
  if (buf.length < 5 + 2 + 2 + 25 + TAG_BYTES) return bad('too short');
  if (buf.length > MAX_PACKET) return bad('too long');
  if (buf[0] !== MAGIC[0] || buf[1] !== MAGIC[1] || buf[2] !== MAGIC[2]) return bad('bad magic');
  if (buf[3] !== VERSION) return bad(`version ${buf[3]}`);
  const kind = buf[4] === 1 ? 'heartbeat' : buf[4] === 2 ? 'leaving' : undefined;
  if (kind === undefined) return bad(`kind ${buf[4]}`);
  let o = 5;
  const keyIdLen = buf[o++] as number;
  if (keyIdLen < 1 || keyIdLen > 32 || o + keyIdLen >= buf.length) return bad('key id length');
  const keyId = buf.toString('latin1', o, o + keyIdLen);
  o += keyIdLen;
  if (!KEY_ID.test(keyId)) return bad('key id characters');
  const senderLen = buf[o++] as number;
  if (senderLen < 1 || o + senderLen + 25 > buf.length) return bad('sender length');
  const sender = buf.toString('latin1', o, o + senderLen);
  o += senderLen;
  if (!NODE_NAME.test(sender)) return bad('sender characters');
  const incarnation = buf.toString('hex', o, o + 8);
  const seqBig = buf.readBigUInt64BE(o + 8);
  const sentAt = buf.readDoubleBE(o + 16);
  o += 24;
  const count = buf[o++] as number;
  if (count > MAX_ENTRIES) return bad('too many entries');
  if (buf.length !== o + count * ENTRY_BYTES + TAG_BYTES) return bad('length does not match entry count');
  if (seqBig < 1n || seqBig > BigInt(Number.MAX_SAFE_INTEGER)) return bad('seq out of range');
  if (!Number.isFinite(sentAt)) return bad('sentAt not finite');
  const entries: GossipEntry[] = [];
  for (let i = 0; i < count; i++, o += ENTRY_BYTES) {
    const echoTs = buf.readDoubleBE(o + 12);
    if (!Number.isFinite(echoTs)) return bad('echoTs not finite');
    entries.push({
      id: buf.toString('hex', o, o + 8),
      heardAgeUs: buf.readUInt32BE(o + 8),
      echoTs,
      echoHoldUs: buf.readUInt32BE(o + 20),
    });
  }
  const key = keys.verifying.get(keyId);
  if (key === undefined) return { ok: false, reason: 'auth', detail: `unknown key id ${keyId}` };
  const want = createHmac('sha256', key.secret).update(buf.subarray(0, o)).digest();
  if (!timingSafeEqual(want, buf.subarray(o, o + TAG_BYTES))) {
    return { ok: false, reason: 'auth', detail: `bad signature (key id ${keyId})` };
  }
  return { ok: true, keyId, message: { kind, sender, incarnation, seq: Number(seqBig), sentAt, entries } };
}

function clampUs(us: number): number {
  if (!Number.isFinite(us) || us <= 0) return 0;
  return Math.min(MAX_US, Math.round(us));
}

function check(cond: boolean, what: string): asserts cond {
  if (!cond) throw new CodecError(`cannot encode heartbeat: ${what}`);
}
