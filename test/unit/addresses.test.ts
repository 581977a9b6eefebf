import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Address, formatIP, parseIP, parsePoolEntry, specialBlockIn } from '../../api/addresses.js';
import {
  isAvoided,
  isBuggyIPv4,
  mergeIntervals,
  OrdinalSpace,
  RunSet,
  usableBelow,
} from '../../api/intervals.js';

const v4 = (t: string) => parseIP(t)?.value as bigint;
const v6 = (t: string) => parseIP(t)?.value as bigint;

describe('parseIP / formatIP', () => {
  it.each([
    ['0.0.0.0', 'IPv4', 0n, '0.0.0.0'],
    ['255.255.255.255', 'IPv4', 2n ** 32n - 1n, '255.255.255.255'],
    ['192.0.2.1', 'IPv4', 0xc0000201n, '192.0.2.1'],
    ['::', 'IPv6', 0n, '::'],
    ['::1', 'IPv6', 1n, '::1'],
    [
      'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
      'IPv6',
      2n ** 128n - 1n,
      'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
    ],
    ['2001:DB8:0:0:1:0:0:1', 'IPv6', 0x20010db8000000000001000000000001n, '2001:db8::1:0:0:1'],
    ['2001:db8:0:0:0:0:2:1', 'IPv6', 0x20010db8000000000000000000020001n, '2001:db8::2:1'],
    ['2001:db8:0:1:1:1:1:1', 'IPv6', 0x20010db8000000010001000100010001n, '2001:db8:0:1:1:1:1:1'],
    ['::ffff:192.0.2.1', 'IPv6', 0xffffc0000201n, '::ffff:c000:201'],
    ['1::', 'IPv6', 1n << 112n, '1::'],
  ])('%s', (text, family, value, canonical) => {
    expect(parseIP(text)).toEqual({ family, value });
    expect(formatIP({ family, value } as Address)).toBe(canonical);
  });

  it.each([
    '',
    '1.2.3',
    '1.2.3.4.5',
    '256.0.0.1',
    '01.2.3.4',
    '1.2.3.-1',
    ':::',
    '1:2:3:4:5:6:7:8:9',
    '1::2::3',
    '12345::',
    'g::',
    '1:2:3:4:5:6:7::8:9',
    '1:2:3:4:5:6:7:8::',
    '::1.2.3',
    'fe80::1%eth0',
    '1.2.3.4/32',
  ])('rejects %j', (text) => {
    expect(parseIP(text)).toBeUndefined();
  });

  it('round-trips every IPv6 value and matches the canonical text', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 128n - 1n }), (value) => {
        const text = formatIP({ family: 'IPv6', value });
        expect(parseIP(text)).toEqual({ family: 'IPv6', value });
        // canonical: never ":0:" runs of two or more left uncompressed, lower case
        expect(text).not.toMatch(/(^|:)0:0(:|$)/);
        expect(text).toBe(text.toLowerCase());
      }),
    );
  });

  it('round-trips sparse IPv6 values (runs of zero groups)', () => {
    const group = fc.oneof(fc.constant(0n), fc.constant(0n), fc.bigInt({ min: 0n, max: 0xffffn }));
    fc.assert(
      fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), (groups) => {
        const value = groups.reduce((a, g) => (a << 16n) | g, 0n);
        const text = formatIP({ family: 'IPv6', value });
        expect(parseIP(text)?.value).toBe(value);
        expect(text.split('::').length).toBeLessThanOrEqual(2);
      }),
    );
  });
});

describe('parsePoolEntry', () => {
  it.each([
    ['192.0.2.0/24', 'IPv4', '192.0.2.0', '192.0.2.255'],
    ['192.0.2.7/24', 'IPv4', '192.0.2.0', '192.0.2.255'], // host bits masked, as MetalLB does
    ['10.0.0.0/8', 'IPv4', '10.0.0.0', '10.255.255.255'],
    ['0.0.0.0/0', 'IPv4', '0.0.0.0', '255.255.255.255'],
    ['192.0.2.5/32', 'IPv4', '192.0.2.5', '192.0.2.5'],
    ['192.0.2.5', 'IPv4', '192.0.2.5', '192.0.2.5'],
    [' 192.0.2.10 - 192.0.2.20 ', 'IPv4', '192.0.2.10', '192.0.2.20'],
    ['2001:db8:1::/64', 'IPv6', '2001:db8:1::', '2001:db8:1:0:ffff:ffff:ffff:ffff'],
    ['::/0', 'IPv6', '::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
    ['2001:db8::/128', 'IPv6', '2001:db8::', '2001:db8::'],
    ['2001:db8:1::200-2001:db8:1::2ff', 'IPv6', '2001:db8:1::200', '2001:db8:1::2ff'],
  ])('%s', (text, family, first, last) => {
    const r = parsePoolEntry(text);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.interval.family).toBe(family);
    expect(formatIP({ family: r.interval.family, value: r.interval.start })).toBe(first);
    expect(formatIP({ family: r.interval.family, value: r.interval.end })).toBe(last);
  });

  it.each([
    ['192.0.2.0/33', /prefix length must be 0..32/],
    ['2001:db8::/129', /0..128/],
    ['192.0.2.0/', /prefix length/],
    ['192.0.2.0/08', /prefix length/],
    ['bogus/24', /not a valid address/],
    ['192.0.2.9-192.0.2.1', /start is after its end/],
    ['192.0.2.1-2001:db8::1', /mixes IPv4 and IPv6/],
    ['192.0.2.1-', /two valid addresses/],
    ['192.0.2.1-2-3', /not a CIDR/],
    ['', /not a CIDR/],
  ])('rejects %j', (text, why) => {
    const r = parsePoolEntry(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(why);
  });
});

describe('interval math', () => {
  it('merges overlapping and touching intervals per family, IPv4 first, without mutating', () => {
    const ivs = Object.freeze([
      { family: 'IPv6' as const, start: 5n, end: 9n },
      { family: 'IPv4' as const, start: 10n, end: 20n },
      { family: 'IPv4' as const, start: 21n, end: 22n },
      { family: 'IPv4' as const, start: 0n, end: 3n },
      { family: 'IPv4' as const, start: 2n, end: 4n },
      { family: 'IPv6' as const, start: 0n, end: 3n },
    ]);
    expect(mergeIntervals(ivs)).toEqual([
      { family: 'IPv4', start: 0n, end: 4n },
      { family: 'IPv4', start: 10n, end: 22n },
      { family: 'IPv6', start: 0n, end: 3n },
      { family: 'IPv6', start: 5n, end: 9n },
    ]);
  });

  it('counts usable (non-.0/.255) IPv4 addresses like a brute-force walk', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2000n }), fc.nat(600), (a, len) => {
        const b = a + BigInt(len);
        let brute = 0n;
        for (let x = a; x <= b; x++) if (!isBuggyIPv4(x)) brute++;
        expect(usableBelow(b + 1n) - usableBelow(a)).toBe(brute);
      }),
    );
  });

  it('sizes a /8, a /64, ::/0 and 0.0.0.0/0 exactly, with and without avoidBuggyIPs', () => {
    const space = (text: string, avoid: boolean) => {
      const r = parsePoolEntry(text);
      if (!r.ok) throw new Error(r.error);
      return new OrdinalSpace(r.interval.family, [r.interval], avoid);
    };
    expect(space('10.0.0.0/8', false).size).toBe(2n ** 24n);
    expect(space('10.0.0.0/8', true).size).toBe(2n ** 16n * 254n);
    expect(space('0.0.0.0/0', true).size).toBe(2n ** 24n * 254n);
    expect(space('2001:db8:100::/64', false).size).toBe(2n ** 64n);
    // IPv6: avoidBuggyIPs skips the subnet-router anycast address (all-zero interface ID) of each /64.
    expect(space('2001:db8:100::/64', true).size).toBe(2n ** 64n - 1n);
    expect(space('2001:db8:100::/48', true).size).toBe(2n ** 80n - 2n ** 16n);
    expect(space('2001:db8:100::/120', true).addressAt(0n)).toBe(v6('2001:db8:100::1'));
    expect(space('2001:db8:100::100/120', true).size).toBe(256n); // holds no ::0 of a /64
    expect(space('::/0', false).size).toBe(2n ** 128n);
    const all = space('::/0', false);
    expect(all.addressAt(2n ** 128n - 1n)).toBe(2n ** 128n - 1n);
    expect(all.ordinalOf(v6('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'))).toBe(2n ** 128n - 1n);
    expect(space('192.0.2.255/32', true).size).toBe(0n);
    expect(space('192.0.2.255-192.0.3.0', true).size).toBe(0n);
    expect(space('192.0.2.255-192.0.3.1', true).size).toBe(1n);
  });

  it('numbers usable addresses densely across several ranges (ordinalOf/addressAt inverse)', () => {
    const iv = fc
      .tuple(fc.nat(3000), fc.nat(700))
      .map(([s, l]) => ({ family: 'IPv4' as const, start: BigInt(s), end: BigInt(s + l) }));
    fc.assert(
      fc.property(fc.array(iv, { minLength: 1, maxLength: 4 }), fc.boolean(), (ivs, avoid) => {
        const merged = mergeIntervals(ivs);
        const space = new OrdinalSpace('IPv4', merged, avoid);
        const usable: bigint[] = [];
        for (const m of merged) {
          for (let x = m.start; x <= m.end; x++) if (!(avoid && isBuggyIPv4(x))) usable.push(x);
        }
        expect(space.size).toBe(BigInt(usable.length));
        usable.forEach((x, k) => {
          expect(space.ordinalOf(x)).toBe(BigInt(k));
          expect(space.addressAt(BigInt(k))).toBe(x);
        });
        const outside = (merged[merged.length - 1]?.end ?? 0n) + 1n;
        expect(space.ordinalOf(outside)).toBeUndefined();
        if (avoid) expect(space.ordinalOf(merged[0]!.start - (merged[0]!.start % 256n))).toBeUndefined();
      }),
      { numRuns: 60 },
    );
  });

  it('RunSet behaves like a Set of bigints and finds the lowest free value', () => {
    const op = fc.tuple(fc.boolean(), fc.nat(40));
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), fc.constantFrom(1, 2, 64), (ops, chunkSize) => {
        const rs = new RunSet(chunkSize);
        const ref = new Set<number>();
        for (const [add, n] of ops) {
          expect(add ? rs.add(BigInt(n)) : rs.delete(BigInt(n))).toBe(add ? !ref.has(n) : ref.has(n));
          if (add) ref.add(n);
          else ref.delete(n);
          expect(rs.count).toBe(BigInt(ref.size));
          let free = 0;
          while (ref.has(free)) free++;
          expect(rs.lowestFree(41n)).toBe(free < 41 ? BigInt(free) : undefined);
          expect(rs.runs).toBeLessThanOrEqual(ref.size);
        }
        for (let n = 0; n <= 40; n++) expect(rs.has(BigInt(n))).toBe(ref.has(n));
      }),
    );
  });

  it('counts IPv6 addresses avoidBuggyIPs keeps like a brute-force walk, across /64 boundaries', () => {
    const edge = 2n ** 64n;
    fc.assert(
      fc.property(fc.bigInt({ min: edge * 3n - 300n, max: edge * 3n + 300n }), fc.nat(600), (a, len) => {
        const b = a + BigInt(len);
        let brute = 0n;
        for (let x = a; x <= b; x++) if (x % edge !== 0n) brute++;
        expect(usableBelow(b + 1n, 'IPv6') - usableBelow(a, 'IPv6')).toBe(brute);
        expect(isAvoided('IPv6', a)).toBe(a % edge === 0n);
      }),
    );
  });

  it('avoids exactly .0 and .255', () => {
    expect(isBuggyIPv4(v4('192.0.2.0'))).toBe(true);
    expect(isBuggyIPv4(v4('192.0.2.255'))).toBe(true);
    expect(isBuggyIPv4(v4('192.0.2.1'))).toBe(false);
    expect(isBuggyIPv4(v4('192.0.2.254'))).toBe(false);
  });
});

describe('addresses that can never be LoadBalancer IPs', () => {
  const block = (text: string) => {
    const r = parsePoolEntry(text);
    if (!r.ok) throw new Error(r.error);
    return specialBlockIn(r.interval);
  };
  it.each([
    ['0.0.0.0/0', '0.0.0.0/32 (the unspecified address)'],
    ['0.0.0.0', '0.0.0.0/32 (the unspecified address)'],
    ['127.0.0.1/32', '127.0.0.0/8 (loopback)'],
    ['126.255.255.250-128.0.0.5', '127.0.0.0/8 (loopback)'],
    ['169.254.10.0/24', '169.254.0.0/16 (link-local)'],
    ['223.255.255.0-240.0.0.0', '224.0.0.0/4 (multicast)'],
    ['239.1.1.1', '224.0.0.0/4 (multicast)'],
    ['255.255.255.255', '255.255.255.255/32 (the broadcast address)'],
    ['::/0', '::/128 (the unspecified address)'],
    ['::1', '::1/128 (loopback)'],
    ['fe80::/64', 'fe80::/10 (link-local)'],
    ['fe7f:ffff::-fec0::', 'fe80::/10 (link-local)'],
    ['ff02::1:ff00:1', 'ff00::/8 (multicast)'],
  ])('%s touches %s', (entry, want) => expect(block(entry)).toBe(want));
  it.each([
    '192.0.2.0/24',
    '203.0.113.10-203.0.113.20',
    '2001:db8:100::/64',
    '::2-::ff',
    '1.0.0.0/8',
    '240.0.0.0/5',
  ])('%s is fine', (entry) => expect(block(entry)).toBeUndefined());
});
