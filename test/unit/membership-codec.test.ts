import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decode,
  encode,
  type GossipEntry,
  MAX_ENTRIES,
  MAX_PACKET,
  type Message,
  NEVER,
  nodeId,
} from '../../speaker/membership/codec.js';
import { parseKeyRing } from '../../speaker/membership/keys.js';

const keyA = Buffer.alloc(32, 1).toString('base64');
const keyB = Buffer.alloc(32, 2).toString('base64');
const ring = parseKeyRing(`a:${keyA}\nb:${keyB}`);
const ringB = parseKeyRing(`b:${keyB}`); // verifies with b only, signs with b
const otherA = parseKeyRing(`a:${Buffer.alloc(32, 3).toString('base64')}`); // same id, other key

const base: Message = {
  kind: 'heartbeat',
  sender: 'node-1.example',
  incarnation: '0123456789abcdef',
  seq: 42,
  sentAt: 1_700_000_000_123.456,
  entries: [{ id: nodeId('node-2'), heardAgeUs: 12_345, echoTs: 1_700_000_000_100.25, echoHoldUs: 77 }],
};

const entryArb: fc.Arbitrary<GossipEntry> = fc.record({
  id: fc.stringMatching(/^[0-9a-f]{16}$/),
  heardAgeUs: fc.oneof(fc.integer({ min: 0, max: NEVER - 1 }), fc.constant(NEVER)),
  echoTs: fc.double({ noNaN: true, noDefaultInfinity: true }),
  echoHoldUs: fc.integer({ min: 0, max: NEVER - 1 }),
});

const messageArb: fc.Arbitrary<Message> = fc.record({
  kind: fc.constantFrom('heartbeat' as const, 'leaving' as const),
  sender: fc.stringMatching(/^[a-z0-9]([a-z0-9.-]{0,60}[a-z0-9])?$/),
  incarnation: fc.stringMatching(/^[0-9a-f]{16}$/),
  seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  sentAt: fc.double({ noNaN: true, noDefaultInfinity: true }),
  entries: fc.array(entryArb, { maxLength: MAX_ENTRIES }),
});

describe('codec', () => {
  it('round-trips a heartbeat and names the key it was signed with', () => {
    const d = decode(encode(base, ring), ring);
    expect(d).toEqual({ ok: true, keyId: 'a', message: base });
  });

  it('fits the largest message in one frame', () => {
    const big: Message = {
      ...base,
      sender: 'n'.repeat(253),
      entries: Array.from({ length: MAX_ENTRIES }, (_, i) => ({ ...base.entries[0]!, id: nodeId(`n${i}`) })),
    };
    const b = encode(big, parseKeyRing(`${'k'.repeat(32)}:${keyA}`));
    expect(b.length).toBeLessThanOrEqual(MAX_PACKET);
    expect(decode(b, parseKeyRing(`${'k'.repeat(32)}:${keyA}`)).ok).toBe(true);
  });

  it('refuses to encode what it could not decode', () => {
    expect(() => encode({ ...base, sender: 'Upper' }, ring)).toThrow(/node name/);
    expect(() => encode({ ...base, seq: 0 }, ring)).toThrow(/seq/);
    expect(() => encode({ ...base, incarnation: 'xyz' }, ring)).toThrow(/incarnation/);
    const many = Array.from({ length: MAX_ENTRIES + 1 }, () => base.entries[0]!);
    expect(() => encode({ ...base, entries: many }, ring)).toThrow(/entries/);
  });

  it.each([
    ['unknown key id', () => decode(encode(base, ringB), otherA), 'auth'],
    ['same key id, other key', () => decode(encode(base, otherA), ring), 'auth'],
    ['version 2', () => decode(patch(encode(base, ring), 3, 2), ring), 'malformed'],
    ['bad kind', () => decode(patch(encode(base, ring), 4, 9), ring), 'malformed'],
    ['truncated', () => decode(encode(base, ring).subarray(0, 60), ring), 'malformed'],
    ['one byte extra', () => decode(Buffer.concat([encode(base, ring), Buffer.of(0)]), ring), 'malformed'],
    ['empty', () => decode(Buffer.alloc(0), ring), 'malformed'],
    ['too long', () => decode(Buffer.alloc(MAX_PACKET + 1), ring), 'malformed'],
  ])('drops %s', (_name, run, reason) => {
    const d = run();
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.reason).toBe(reason);
  });

  it('verifies with a second key during a rotation', () => {
    expect(decode(encode(base, ringB), ring).ok).toBe(true);
  });

  it('property: every message round-trips', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        const d = decode(encode(m, ring), ring);
        expect(d.ok && d.message).toEqual({ ...m, entries: m.entries.map((e) => ({ ...e })) });
      }),
    );
  });

  it('property: no changed byte, truncation or extension of a signed packet is accepted', () => {
    fc.assert(
      fc.property(
        messageArb,
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        fc.constantFrom('flip', 'cut', 'grow'),
        (m, at, xor, how) => {
          const b = encode(m, ring);
          const i = at % b.length;
          const forged =
            how === 'flip'
              ? patch(b, i, (b[i] as number) ^ xor)
              : how === 'cut'
                ? b.subarray(0, i)
                : Buffer.concat([b, Buffer.alloc(1 + (at % 40), xor)]);
          expect(decode(forged, ring).ok).toBe(false);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('property: random bytes never decode, and never throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1300 }), fc.boolean(), (bytes, withMagic) => {
        const b = Buffer.from(bytes);
        if (withMagic && b.length >= 5) b.set([0x48, 0x4c, 0x42, 1, 1]);
        expect(decode(b, ring).ok).toBe(false);
      }),
      { numRuns: 3000 },
    );
  });
});

function patch(b: Buffer, at: number, value: number): Buffer {
  const c = Buffer.from(b);
  c[at] = value;
  return c;
}
