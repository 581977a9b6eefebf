import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseFrame } from '../../speaker/frame.js';
import { type AnswerTable, loadLinkAddon, packAnswers } from '../../speaker/link.js';
import { icmpv6Checksum } from '../../speaker/ndp.js';
import { respond } from '../../speaker/responder.js';
import { ipv4ToBytes, ipv6ToBytes, macToBytes } from '../../speaker/wire-addresses.js';

// Differential: the reader thread's answer_frame() (native/src/answer.c, through the
// test-only craftReply export that calls the same function) must send exactly what the JS
// path (parseFrame + respond + frame.ts builders) would, for every frame, and nothing
// when JS would not reply.
const addon = loadLinkAddon();
const craft = addon.craftReply;

const OUR = '02:00:00:00:00:aa';
const OTHER_OURS = '02:00:00:00:00:bb'; // another interface of this node
const TABLE: AnswerTable = {
  mac: OUR,
  ourMacs: [OUR, OTHER_OURS],
  ips: ['192.0.2.10', '198.51.100.7', '2001:db8::10', '2001:db8::1:ff'],
};
const MACS = [OUR, OTHER_OURS, '02:00:00:00:00:01', '0a:1b:2c:3d:4e:5f', 'ff:ff:ff:ff:ff:ff'];
const V4 = ['192.0.2.10', '198.51.100.7', '192.0.2.1', '203.0.113.9', '0.0.0.0'];
const V6 = ['2001:db8::10', '2001:db8::1:ff', '2001:db8::99', 'fe80::1', '::', 'ff02::1'];

function jsReply(frame: Buffer): Buffer | null {
  const r = parseFrame(frame);
  if (!r.ok) return null;
  const owned = new Map(TABLE.ips.map((ip) => [ip, undefined]));
  const v = respond(r.msg, 'eth0', OUR, owned, new Set(TABLE.ourMacs));
  return v.kind === 'reply' ? v.frame : null;
}

function cReply(frame: Buffer): Buffer | null {
  if (!craft) throw new Error('the addon has no craftReply: rebuild it (npm run build:native)');
  return craft(frame, ...packAnswers(TABLE));
}

const mac = fc.constantFrom(...MACS).map(macToBytes);
const v4 = fc.constantFrom(...V4).map(ipv4ToBytes);
const v6 = fc.constantFrom(...V6).map(ipv6ToBytes);
const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);

// ARP: mostly valid Ethernet/IPv4 requests, sometimes other hardware, ops, or lengths.
const arpFrame = fc
  .record({
    dst: mac,
    src: mac,
    etherType: fc.constantFrom(0x0806, 0x0806, 0x0806, 0x8100, 0x88a8, 0x0800),
    htype: fc.constantFrom(1, 1, 1, 6),
    ptype: fc.constantFrom(0x0800, 0x0800, 0x86dd),
    hlen: fc.constantFrom(6, 6, 6, 8),
    plen: fc.constantFrom(4, 4, 4, 16),
    op: fc.constantFrom(1, 1, 1, 2, 3),
    smac: mac,
    sip: v4,
    tmac: mac,
    tip: v4,
    pad: fc.integer({ min: 0, max: 18 }),
  })
  .map((a) =>
    Buffer.concat([
      a.dst,
      a.src,
      u16(a.etherType),
      u16(a.htype),
      u16(a.ptype),
      Buffer.from([a.hlen, a.plen]),
      u16(a.op),
      a.smac,
      a.sip,
      a.tmac,
      a.tip,
      Buffer.alloc(a.pad),
    ]),
  );

// NS: valid solicitations (NUD, with or without a source link-layer option, DAD to the
// solicited-node group) and broken ones (hop limit, code, checksum, options, target).
const nsFrame = fc
  .record({
    dst: mac,
    src: mac,
    etherType: fc.constantFrom(0x86dd, 0x86dd, 0x86dd, 0x8100),
    version: fc.constantFrom(6, 6, 6, 4),
    next: fc.constantFrom(58, 58, 58, 0),
    hop: fc.constantFrom(255, 255, 255, 64),
    srcIp: v6,
    dad: fc.boolean(),
    dstSolicited: fc.boolean(),
    dstIp: v6,
    type: fc.constantFrom(135, 135, 135, 136, 128),
    code: fc.constantFrom(0, 0, 0, 1),
    target: v6,
    options: fc.array(
      fc.record({
        type: fc.constantFrom(1, 1, 2, 14),
        len: fc.constantFrom(1, 1, 1, 0, 2),
        mac,
      }),
      { maxLength: 3 },
    ),
    badSum: fc.constantFrom(false, false, false, true),
    extra: fc.constantFrom(0, 0, 0, 1, 3),
    lenDelta: fc.constantFrom(0, 0, 0, 0, -1, 1, -20),
    pad: fc.constantFrom(0, 0, 4),
  })
  .map((n) => {
    const target = n.target;
    const srcIp = n.dad ? Buffer.alloc(16) : n.srcIp;
    const solicited = Buffer.concat([ipv6ToBytes('ff02::1:ff00:0').subarray(0, 13), target.subarray(13)]);
    const dstIp = n.dstSolicited ? solicited : n.dstIp;
    const opts = n.options.map((o) => {
      const b = Buffer.alloc(Math.max(o.len, 1) * 8);
      b[0] = o.type;
      b[1] = o.len;
      o.mac.copy(b, 2);
      return b;
    });
    const icmp = Buffer.concat([Buffer.from([n.type, n.code, 0, 0, 0, 0, 0, 0]), target, ...opts]);
    const body = Buffer.concat([icmp, Buffer.alloc(n.extra)]);
    const ip = Buffer.alloc(40);
    ip[0] = n.version << 4;
    ip.writeUInt16BE(Math.max(0, body.length + n.lenDelta), 4);
    ip[6] = n.next;
    ip[7] = n.hop;
    srcIp.copy(ip, 8);
    dstIp.copy(ip, 24);
    const f = Buffer.concat([n.dst, n.src, u16(n.etherType), ip, body, Buffer.alloc(n.pad)]);
    // The checksum over what the header says is the payload, when that fits in the frame.
    if (f.length >= 54 + ip.readUInt16BE(4) && ip.readUInt16BE(4) >= 4) {
      const sum = icmpv6Checksum(f);
      f.writeUInt16BE(n.badSum ? sum ^ 0x0101 : sum, 56);
    }
    return f;
  });

// Any frame, cut short at any point or with one byte flipped: no reply JS would not send.
const mutated = fc
  .tuple(fc.oneof(arpFrame, nsFrame), fc.nat(), fc.nat(255), fc.constantFrom('cut', 'flip', 'none'))
  .map(([f, at, byte, how]) => {
    if (how === 'cut') return f.subarray(0, at % (f.length + 1));
    if (how === 'flip') {
      const g = Buffer.from(f);
      g[at % g.length] = byte;
      return g;
    }
    return f;
  });

describe('native fast path: answer_frame() = the JS responder, byte for byte', () => {
  it('the addon has the fast path', () => {
    expect(typeof addon.craftReply).toBe('function');
    expect(typeof addon.setAnswers).toBe('function');
  });

  it('answers the fixed cases JS answers (ARP request, NS with option, DAD)', () => {
    const samples = fc.sample(fc.oneof(arpFrame, nsFrame), { seed: 42, numRuns: 3000 });
    const answered = samples.filter((f) => jsReply(f) !== null);
    // The generators must reach replies of each kind, or the comparison proves little.
    expect(answered.some((f) => f[12] === 0x08)).toBe(true);
    expect(answered.some((f) => f[12] === 0x86 && f.subarray(22, 38).every((b) => b === 0))).toBe(true);
    expect(answered.some((f) => f[12] === 0x86 && f.subarray(22, 38).some((b) => b !== 0))).toBe(true);
    for (const f of answered) expect(cReply(f)?.toString('hex')).toBe(jsReply(f)?.toString('hex'));
  });

  for (const [name, gen] of [
    ['ARP', arpFrame],
    ['NS', nsFrame],
    ['truncated or mutated', mutated],
  ] as const)
    it(`${name} frames`, () => {
      fc.assert(
        fc.property(gen, (f) => {
          expect(cReply(f)?.toString('hex') ?? null).toBe(jsReply(f)?.toString('hex') ?? null);
        }),
        { numRuns: 5000, seed: 7 },
      );
    });

  it('an empty table answers nothing', () => {
    const empty = packAnswers({ mac: OUR, ourMacs: [], ips: [] });
    for (const f of fc.sample(arpFrame, { seed: 1, numRuns: 500 })) expect(craft?.(f, ...empty)).toBeNull();
  });

  it('rejects a table over 65,536 IPs and malformed arguments', () => {
    const [m, o] = packAnswers(TABLE);
    const v4 = Buffer.alloc(4 * 65537);
    expect(() => craft?.(Buffer.alloc(60), m, o, v4, Buffer.alloc(0))).toThrow(/65536/);
    expect(() => craft?.(Buffer.alloc(60), m, o, Buffer.alloc(5), Buffer.alloc(0))).toThrow(/Buffers/);
    expect(() => packAnswers({ mac: OUR, ourMacs: [], ips: Array(65537).fill('192.0.2.1') })).toThrow(
      /65536/,
    );
  });
});
