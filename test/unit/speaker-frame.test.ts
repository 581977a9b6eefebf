import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  arpProbe,
  arpReply,
  canonicalIp,
  gratuitousArp,
  type Inbound,
  neighborAdvert,
  nsProbe,
  parseFrame,
  solicitedNodeAddress,
  solicitedNodeMac,
  unsolicitedNA,
} from '../../speaker/frame.js';
import { icmpv6Checksum, multicastMac } from '../../speaker/ndp.js';
import { FrameError, parseIpText } from '../../speaker/wire-addresses.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// Who-has 192.0.2.10 tell 192.0.2.1, padded to the 60-byte Ethernet minimum as it arrives.
const ARP_REQUEST = hex(`
  ffffffffffff 020000000001 0806
  0001 0800 06 04 0001
  020000000001 c0000201
  000000000000 c000020a
  ${'00'.repeat(18)}`);

// NS from fe80::1 for 2001:db8::10 with a source link-layer option; checksum computed by an
// independent script (Python, RFC 4443 pseudo-header), not by the code under test.
const NS = hex(
  '3333ff00001002000000000186dd6000000000203afffe800000000000000000000000000001ff0200000000000000000001ff00001087004b430000000020010db80000000000000000000000100101020000000001',
);
// The NA that answers NS from 02:00:00:00:00:aa, by the same script.
const NA_FOR_NS = hex(
  '0200000000010200000000aa86dd6000000000203aff20010db8000000000000000000000010fe8000000000000000000000000000018800b8e56000000020010db800000000000000000000001002010200000000aa',
);

const OUR_MAC = '02:00:00:00:00:aa';

function parsed(frame: Buffer): Inbound {
  const r = parseFrame(frame);
  if (!r.ok) throw new Error(`expected a message, got ${r.reason}`);
  return r.msg;
}

/** A copy of `frame` with `edit` applied and, for IPv6 frames, the ICMPv6 checksum redone. */
function edited(frame: Buffer, edit: (f: Buffer) => void, fixChecksum = true): Buffer {
  const f = Buffer.from(frame);
  edit(f);
  if (fixChecksum && f.readUInt16BE(12) === 0x86dd) {
    f.writeUInt16BE(0, 56);
    f.writeUInt16BE(icmpv6Checksum(f), 56);
  }
  return f;
}

describe('parseFrame: ARP', () => {
  it('reads a request from hand-made bytes', () => {
    expect(parseFrame(ARP_REQUEST)).toEqual({
      ok: true,
      msg: {
        kind: 'arp-request',
        srcMac: '02:00:00:00:00:01',
        dstMac: 'ff:ff:ff:ff:ff:ff',
        senderMac: '02:00:00:00:00:01',
        senderIp: '192.0.2.1',
        targetMac: '00:00:00:00:00:00',
        targetIp: '192.0.2.10',
      },
    });
  });

  it.each([
    ['htype 6 (IEEE 802)', (f: Buffer) => f.writeUInt16BE(6, 14), 'wrong-hardware'],
    ['ptype IPv6', (f: Buffer) => f.writeUInt16BE(0x86dd, 16), 'wrong-hardware'],
    ['hlen 8', (f: Buffer) => (f[18] = 8), 'wrong-hardware'],
    ['plen 16', (f: Buffer) => (f[19] = 16), 'wrong-hardware'],
    ['opcode 3 (RARP)', (f: Buffer) => f.writeUInt16BE(3, 20), 'malformed'],
    ['opcode 0', (f: Buffer) => f.writeUInt16BE(0, 20), 'malformed'],
  ])('refuses %s', (_name, edit, reason) => {
    expect(parseFrame(edited(ARP_REQUEST, edit))).toEqual({ ok: false, reason });
  });

  it.each([
    [0, 'truncated'],
    [13, 'truncated'],
    [14, 'truncated'],
    [21, 'truncated'],
    [41, 'truncated'],
  ])('a frame cut to %i bytes is %s', (n, reason) => {
    expect(parseFrame(ARP_REQUEST.subarray(0, n))).toEqual({ ok: false, reason });
  });

  it('takes an unpadded 42-byte frame', () => {
    expect(parsed(ARP_REQUEST.subarray(0, 42)).kind).toBe('arp-request');
  });
});

describe('parseFrame: Ethernet', () => {
  it.each([
    ['802.1Q tagged', 0x8100, 'vlan'],
    ['802.1ad tagged', 0x88a8, 'vlan'],
    ['IPv4', 0x0800, 'not-arp-or-nd'],
    ['an 802.3 length field', 0x002e, 'not-arp-or-nd'],
  ])('%s frames are ignored', (_n, type, reason) => {
    expect(parseFrame(edited(ARP_REQUEST, (f) => f.writeUInt16BE(type, 12)))).toEqual({ ok: false, reason });
  });
});

describe('parseFrame: NDP', () => {
  it('reads a solicitation from hand-made bytes', () => {
    expect(parsed(NS)).toEqual({
      kind: 'ns',
      srcMac: '02:00:00:00:00:01',
      dstMac: '33:33:ff:00:00:10',
      srcIp: 'fe80::1',
      dstIp: 'ff02::1:ff00:10',
      targetIp: '2001:db8::10',
      sourceLinkAddr: '02:00:00:00:00:01',
    });
  });

  it('reads an advertisement and its flags', () => {
    expect(parsed(NA_FOR_NS)).toEqual({
      kind: 'na',
      srcMac: OUR_MAC,
      dstMac: '02:00:00:00:00:01',
      srcIp: '2001:db8::10',
      dstIp: 'fe80::1',
      targetIp: '2001:db8::10',
      targetLinkAddr: OUR_MAC,
      override: true,
      solicited: true,
      router: false,
    });
    const router = parsed(edited(NA_FOR_NS, (f) => (f[58] = 0x80)));
    expect(router).toMatchObject({ router: true, solicited: false, override: false });
  });

  it.each([
    ['hop limit 64 (forwarded by a router)', (f: Buffer) => (f[21] = 64), 'bad-hop-limit'],
    ['a wrong checksum', (f: Buffer) => (f[57] = f[57]! ^ 1), 'bad-checksum', false],
    ['a flipped target bit', (f: Buffer) => (f[77] = f[77]! ^ 1), 'bad-checksum', false],
    ['ICMPv6 code 1', (f: Buffer) => (f[55] = 1), 'malformed'],
    ['IP version 4 in the IPv6 header', (f: Buffer) => (f[14] = 0x40), 'malformed'],
    ['a hop-by-hop header first', (f: Buffer) => (f[20] = 0), 'not-arp-or-nd'],
    ['next header TCP', (f: Buffer) => (f[20] = 6), 'not-arp-or-nd'],
    ['ICMPv6 echo request', (f: Buffer) => (f[54] = 128), 'not-arp-or-nd'],
    ['a router solicitation', (f: Buffer) => (f[54] = 133), 'not-arp-or-nd'],
    ['an option of length 0', (f: Buffer) => (f[79] = 0), 'malformed'],
    ['an option running past the payload', (f: Buffer) => (f[79] = 2), 'malformed'],
    ['a payload length past the frame', (f: Buffer) => f.writeUInt16BE(40, 18), 'truncated'],
    ['a payload length shorter than an NS', (f: Buffer) => f.writeUInt16BE(20, 18), 'malformed'],
    ['a payload length below the ICMPv6 header', (f: Buffer) => f.writeUInt16BE(3, 18), 'malformed'],
    ['a multicast target', (f: Buffer) => (f[62] = 0xff), 'malformed'],
  ])('refuses an NS with %s', (_n, edit, reason, fix = true) => {
    expect(parseFrame(edited(NS, edit, fix))).toEqual({ ok: false, reason });
  });

  it('ignores bytes after the IPv6 payload (Ethernet padding) and unknown options', () => {
    const padded = Buffer.concat([NS, Buffer.alloc(10)]);
    expect(parsed(padded)).toEqual(parsed(NS));
    // A nonce option (type 14, RFC 7527) after the source link-layer option.
    const withNonce = edited(Buffer.concat([NS, hex('0e01010203040506')]), (f) => f.writeUInt16BE(40, 18));
    expect(parsed(withNonce)).toEqual(parsed(NS));
  });

  it('refuses a DAD probe carrying a source link-layer option or sent to a non-solicited-node group', () => {
    const fromUnspecified = (f: Buffer) => f.fill(0, 22, 38);
    expect(parseFrame(edited(NS, fromUnspecified))).toEqual({ ok: false, reason: 'malformed' });
    const probe = nsProbe('2001:db8::10', OUR_MAC);
    expect(parsed(probe).kind).toBe('ns');
    const toAllNodes = edited(probe, (f) =>
      Buffer.from('ff020000000000000000000000000001', 'hex').copy(f, 38),
    );
    expect(parseFrame(toAllNodes)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('refuses a solicited advertisement sent to a multicast group', () => {
    const toAllNodes = edited(NA_FOR_NS, (f) =>
      Buffer.from('ff020000000000000000000000000001', 'hex').copy(f, 38),
    );
    expect(parseFrame(toAllNodes)).toEqual({ ok: false, reason: 'malformed' });
  });
});

describe('builders', () => {
  it('answers an NS byte for byte as the independent script does', () => {
    const ns = parsed(NS);
    if (ns.kind !== 'ns') throw new Error('not an NS');
    expect(neighborAdvert(ns, OUR_MAC).toString('hex')).toBe(NA_FOR_NS.toString('hex'));
  });

  it('answers an ARP request unicast to the requester', () => {
    const req = parsed(ARP_REQUEST);
    if (req.kind !== 'arp-request') throw new Error('not a request');
    expect(parsed(arpReply(req, OUR_MAC))).toEqual({
      kind: 'arp-reply',
      srcMac: OUR_MAC,
      dstMac: '02:00:00:00:00:01',
      senderMac: OUR_MAC,
      senderIp: '192.0.2.10',
      targetMac: '02:00:00:00:00:01',
      targetIp: '192.0.2.1',
    });
  });

  it('answers an RFC 5227 probe to 0.0.0.0 at the prober', () => {
    const probe = parsed(arpProbe('192.0.2.10', '02:00:00:00:00:01'));
    if (probe.kind !== 'arp-request') throw new Error('not a request');
    expect(parsed(arpReply(probe, OUR_MAC))).toMatchObject({
      targetIp: '0.0.0.0',
      dstMac: '02:00:00:00:00:01',
    });
  });

  it('sends gratuitous ARP as a broadcast request and reply, sender = target = VIP', () => {
    const [req, rep] = gratuitousArp('198.51.100.7', OUR_MAC).map(parsed);
    const common = { srcMac: OUR_MAC, dstMac: 'ff:ff:ff:ff:ff:ff', senderMac: OUR_MAC };
    expect(req).toEqual({
      kind: 'arp-request',
      ...common,
      senderIp: '198.51.100.7',
      targetMac: '00:00:00:00:00:00',
      targetIp: '198.51.100.7',
    });
    expect(rep).toEqual({
      kind: 'arp-reply',
      ...common,
      senderIp: '198.51.100.7',
      targetMac: OUR_MAC,
      targetIp: '198.51.100.7',
    });
  });

  it('probes ARP from 0.0.0.0, broadcast', () => {
    expect(parsed(arpProbe('203.0.113.5', OUR_MAC))).toEqual({
      kind: 'arp-request',
      srcMac: OUR_MAC,
      dstMac: 'ff:ff:ff:ff:ff:ff',
      senderMac: OUR_MAC,
      senderIp: '0.0.0.0',
      targetMac: '00:00:00:00:00:00',
      targetIp: '203.0.113.5',
    });
  });

  it('answers a unicast NUD probe without a link-layer option at its Ethernet source', () => {
    const nud = {
      srcMac: '02:00:00:00:00:07',
      srcIp: '2001:db8::7',
      targetIp: '2001:db8::10',
    };
    expect(parsed(neighborAdvert(nud, OUR_MAC))).toEqual({
      kind: 'na',
      srcMac: OUR_MAC,
      dstMac: '02:00:00:00:00:07',
      srcIp: '2001:db8::10',
      dstIp: '2001:db8::7',
      targetIp: '2001:db8::10',
      targetLinkAddr: OUR_MAC,
      override: true,
      solicited: true,
      router: false,
    });
    const fromLinkLocal = parsed(neighborAdvert(nud, OUR_MAC, 'fe80::aa'));
    expect(fromLinkLocal).toMatchObject({ srcIp: 'fe80::aa', dstIp: '2001:db8::7' });
  });

  it('answers a DAD probe to all-nodes with the solicited flag clear', () => {
    const probe = parsed(nsProbe('2001:db8::10', '02:00:00:00:00:07'));
    if (probe.kind !== 'ns') throw new Error('not an NS');
    expect(parsed(neighborAdvert(probe, OUR_MAC))).toMatchObject({
      dstMac: '33:33:00:00:00:01',
      dstIp: 'ff02::1',
      solicited: false,
      override: true,
      targetLinkAddr: OUR_MAC,
    });
  });

  it('sends an unsolicited NA to all-nodes and a DAD probe to the solicited-node group', () => {
    expect(parsed(unsolicitedNA('2001:db8:1::5', OUR_MAC))).toEqual({
      kind: 'na',
      srcMac: OUR_MAC,
      dstMac: '33:33:00:00:00:01',
      srcIp: '2001:db8:1::5',
      dstIp: 'ff02::1',
      targetIp: '2001:db8:1::5',
      targetLinkAddr: OUR_MAC,
      override: true,
      solicited: false,
      router: false,
    });
    expect(parsed(nsProbe('2001:db8:1::abcd:1234', OUR_MAC))).toEqual({
      kind: 'ns',
      srcMac: OUR_MAC,
      dstMac: '33:33:ff:cd:12:34',
      srcIp: '::',
      dstIp: 'ff02::1:ffcd:1234',
      targetIp: '2001:db8:1::abcd:1234',
    });
  });

  it('accepts any spelling of an address and refuses bad ones with a code', () => {
    expect(parsed(unsolicitedNA('2001:DB8:0:0:0:0:0:5', 'AA:BB:CC:DD:EE:FF'))).toMatchObject({
      targetIp: '2001:db8::5',
      srcMac: 'aa:bb:cc:dd:ee:ff',
    });
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(FrameError);
        return (e as FrameError).code;
      }
      return 'no error';
    };
    expect(code(() => arpProbe('192.0.2.1', 'aa:bb:cc:dd:ee'))).toBe('InvalidMac');
    expect(code(() => arpProbe('192.0.2.256', OUR_MAC))).toBe('InvalidIp');
    expect(code(() => arpProbe('2001:db8::1', OUR_MAC))).toBe('WrongFamily');
    expect(code(() => unsolicitedNA('192.0.2.1', OUR_MAC))).toBe('WrongFamily');
  });
});

describe('addresses', () => {
  it.each([
    ['2001:db8::10', 'ff02::1:ff00:10', '33:33:ff:00:00:10'],
    ['2001:db8::abcd:1234', 'ff02::1:ffcd:1234', '33:33:ff:cd:12:34'],
    ['2001:0DB8:0000:0000:0000:0000:12ff:ffff', 'ff02::1:ffff:ffff', '33:33:ff:ff:ff:ff'],
    ['fe80::1', 'ff02::1:ff00:1', '33:33:ff:00:00:01'],
    ['2001:db8::', 'ff02::1:ff00:0', '33:33:ff:00:00:00'],
  ])('the solicited-node group of %s is %s at %s', (ip, group, mac) => {
    expect(solicitedNodeAddress(ip)).toBe(group);
    expect(solicitedNodeMac(ip)).toBe(mac);
  });

  it('maps IPv6 multicast to 33:33 MACs', () => {
    expect(multicastMac('ff02::1')).toBe('33:33:00:00:00:01');
    expect(multicastMac('ff02::1:ff12:3456')).toBe('33:33:ff:12:34:56');
  });

  it.each([
    ['192.0.2.1', '192.0.2.1'],
    [' 192.0.2.1 ', '192.0.2.1'],
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:db8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:0db8:0000:0001:0000:0000:0000:0001', '2001:db8:0:1::1'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['::ffff:192.0.2.1', '::ffff:c000:201'],
    ['192.0.2.01', undefined],
    ['fe80::1%eth0', undefined],
    ['192.0.2.0/24', undefined],
    ['', undefined],
  ])('canonicalIp(%j) = %j', (text, want) => {
    expect(canonicalIp(text)).toBe(want);
  });

  it('parseIpText gives the same frozen parse for the same text, and stays right past its bound', () => {
    const a = parseIpText('2001:DB8::1');
    expect(a).toEqual({
      addr: { family: 'IPv6', value: 0x20010db8000000000000000000000001n },
      ip: '2001:db8::1',
    });
    expect(parseIpText('2001:DB8::1')).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
    expect(parseIpText('192.0.2.01')).toBeUndefined();
    expect(parseIpText('192.0.2.01')).toBeUndefined(); // a refusal is remembered as one
    // 20,000 distinct texts: more than the memo holds, each still parsed right.
    for (let i = 1; i <= 20_000; i++) {
      const text = `2001:db8::${i.toString(16)}`;
      expect(parseIpText(text)?.ip).toBe(text);
    }
    expect(parseIpText('2001:DB8::1')?.ip).toBe('2001:db8::1');
  });
});

const MAC_TEXT = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** What any message parseFrame returns must satisfy, whatever bytes it came from. */
function consistent(m: Inbound): boolean {
  const macs = [m.srcMac, m.dstMac];
  const ips = m.kind === 'ns' || m.kind === 'na' ? [m.srcIp, m.dstIp, m.targetIp] : [m.senderIp, m.targetIp];
  if (m.kind === 'arp-request' || m.kind === 'arp-reply') macs.push(m.senderMac, m.targetMac);
  if (m.kind === 'ns' && m.sourceLinkAddr !== undefined) macs.push(m.sourceLinkAddr);
  if (m.kind === 'na' && m.targetLinkAddr !== undefined) macs.push(m.targetLinkAddr);
  const v6 = m.kind === 'ns' || m.kind === 'na';
  return (
    macs.every((x) => MAC_TEXT.test(x)) &&
    ips.every((x) => canonicalIp(x) === x && x.includes(':') === v6) &&
    (!v6 || !m.targetIp.startsWith('ff'))
  );
}

const VALID = [
  ARP_REQUEST,
  NS,
  NA_FOR_NS,
  ...gratuitousArp('192.0.2.9', OUR_MAC),
  arpProbe('192.0.2.9', OUR_MAC),
  unsolicitedNA('2001:db8::9', OUR_MAC),
  nsProbe('2001:db8::9', OUR_MAC),
];

const never = (frame: Buffer) => {
  const r = parseFrame(frame);
  return r.ok ? consistent(r.msg) : typeof r.reason === 'string';
};

describe('parseFrame never throws', () => {
  it('on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (b) => never(Buffer.from(b))),
      { numRuns: 3000 },
    );
  });

  it('on random bytes behind an ARP or IPv6 Ethernet header', () => {
    const arb = fc.tuple(fc.constantFrom(0x0806, 0x86dd), fc.uint8Array({ maxLength: 120 }));
    fc.assert(
      fc.property(arb, ([type, body]) => {
        const f = Buffer.concat([Buffer.alloc(14), Buffer.from(body)]);
        f.writeUInt16BE(type, 12);
        // IPv6 with next header 58 and hop limit 255, so the fuzz reaches the ICMPv6 code.
        if (type === 0x86dd && f.length > 21) [f[14], f[20], f[21]] = [0x60, 58, 255];
        return never(f);
      }),
      { numRuns: 3000 },
    );
  });

  it('on truncations and bit flips of valid frames', () => {
    const arb = fc.tuple(
      fc.constantFrom(...VALID),
      fc.nat(),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { maxLength: 4 }),
      fc.boolean(),
    );
    fc.assert(
      fc.property(arb, ([valid, cut, flips, fix]) => {
        const f = edited(
          valid.subarray(0, cut % (valid.length + 1)),
          (b) => {
            for (const [at, bit] of flips) if (b.length > 0) b[at % b.length]! ^= 1 << bit;
          },
          fix && cut % (valid.length + 1) >= 58,
        );
        return never(f);
      }),
      { numRuns: 5000 },
    );
  });

  it('and a frame cut short is never a message', () => {
    for (const valid of [ARP_REQUEST.subarray(0, 42), NS, NA_FOR_NS]) {
      for (let n = 0; n < valid.length; n++) expect(parseFrame(valid.subarray(0, n)).ok).toBe(false);
    }
  });
});
