import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { IPAddressPool } from '../../api/crd-types.js';
import { parsePools, statusCount } from '../../controller/pools.js';
import { deepFreeze, pool } from './allocator-fixtures.js';

// The schema admits only four operators; the pure layer still refuses others (objects
// written before the schema, or by a client that skipped validation).
const BOGUS_OPERATOR = 'Near' as unknown as 'In';

const problems = (crs: IPAddressPool[]) => parsePools(deepFreeze(crs)).problems.map((p) => [p.pool, p.code]);

describe('parsePools', () => {
  it('builds the model: merged intervals, defaults, candidate order', () => {
    const { pools, problems: probs } = parsePools(
      deepFreeze([
        pool('b', ['203.0.113.0/30', '203.0.113.2-203.0.113.9', '2001:db8:100::/64']),
        pool('a', ['198.51.100.0/31'], { auto: false, buggy: true, priority: 5, namespaces: ['x'] }),
      ]),
    );
    expect(probs).toEqual([]);
    expect(pools.map((p) => p.name)).toEqual(['a', 'b']);
    expect(pools[1]).toMatchObject({
      autoAssign: true,
      avoidBuggyIPs: false,
      priority: undefined,
      namespaces: [],
      intervals: [
        { family: 'IPv4', start: 0xcb007100n, end: 0xcb007109n },
        {
          family: 'IPv6',
          start: 0x20010db8010000000000000000000000n,
          end: 0x20010db801000000ffffffffffffffffn,
        },
      ],
    });
    expect(pools[0]).toMatchObject({
      autoAssign: false,
      avoidBuggyIPs: true,
      priority: 5,
      namespaces: ['x'],
    });
  });

  it('rejects invalid pools whole, with a reason', () => {
    expect(
      problems([
        pool('bad-cidr', ['203.0.113.0/33']),
        pool('empty', []),
        pool('bad-sel', ['203.0.113.0/30'], {
          svcSel: [{ matchExpressions: [{ key: 'a', operator: BOGUS_OPERATOR }] }],
        }),
        pool('bad-prio', ['198.51.100.0/30'], { priority: 1.5 }),
        pool('fine', ['192.0.2.0/30']),
      ]),
    ).toEqual([
      ['bad-cidr', 'InvalidAddress'],
      ['bad-prio', 'InvalidPriority'],
      ['bad-sel', 'InvalidSelector'],
      ['empty', 'InvalidAddress'],
    ]);
  });

  it('marks the later-created overlapping pool as Conflict, naming the earlier one', () => {
    const r = parsePools([
      pool('late', ['2001:db8:100::80/121'], { created: 9 }),
      pool('early', ['2001:db8:100::/120'], { created: 1 }),
      pool('v4', ['203.0.113.0/24'], { created: 20 }),
    ]);
    expect(r.pools.map((p) => p.name)).toEqual(['early', 'v4']);
    expect(r.problems).toEqual([
      { pool: 'late', code: 'Conflict', conflictsWith: 'early', message: expect.stringMatching(/"early"/) },
    ]);
    // a pool without creationTimestamp counts as newest
    const noTs = pool('aaa', ['2001:db8:100::1/128']);
    delete (noTs.metadata as { creationTimestamp?: string }).creationTimestamp;
    expect(problems([noTs, pool('zzz', ['2001:db8:100::/120'], { created: 50 })])).toEqual([
      ['aaa', 'Conflict'],
    ]);
  });

  it('is order-independent', () => {
    const crs = [
      pool('a', ['203.0.113.0/28'], { created: 3 }),
      pool('b', ['203.0.113.8/29'], { created: 3 }),
      pool('c', ['203.0.113.16/28'], { created: 1, priority: 2 }),
      pool('d', ['203.0.113.20/30'], { created: 0 }),
      pool('e', ['bogus']),
    ];
    const base = parsePools(crs);
    fc.assert(
      fc.property(fc.shuffledSubarray(crs, { minLength: crs.length }), (shuffled) => {
        expect(parsePools(shuffled)).toEqual(base);
      }),
    );
  });

  it('writes counts as numbers up to 2^53, as strings above', () => {
    expect(statusCount(0n)).toBe(0);
    expect(statusCount(2n ** 53n - 1n)).toBe(2 ** 53 - 1);
    expect(statusCount(2n ** 53n)).toBe('9007199254740992');
    expect(statusCount(2n ** 64n)).toBe('18446744073709551616');
  });
});
