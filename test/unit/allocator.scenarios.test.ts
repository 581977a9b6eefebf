// Table-driven allocator scenarios (MetalLB's TestAssignment style): one allocator per
// scenario, a sequence of steps, each with its expectation; every input is deep-frozen and
// compared with a clone taken before the step, so the core can never mutate what it is given.
import type { V1Service } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { IPAddressPool } from '../../api/crd-types.js';
import type { Labels } from '../../api/selectors.js';
import { Allocator, type ReasonCode } from '../../controller/allocator.js';
import { type PoolProblemCode, parsePools } from '../../controller/pools.js';
import { sharingFingerprint } from '../../controller/service.js';
import { deepFreeze, model, pool, svc } from './allocator-fixtures.js';

// The fingerprint a Service with this key and these ports was admitted with (its annotation).
const admittedAs = (share: string, ports: number[]) => sharingFingerprint(model(svc('x', { share, ports })));

type Want = string[] | { fail: ReasonCode; msg?: RegExp; held?: string[] };
type Step =
  | { setPools: IPAddressPool[]; problems?: [string, PoolProblemCode][] }
  | { restore: V1Service; ips: string[]; conflicts?: string[]; known?: boolean }
  | {
      assign: V1Service;
      ns?: Labels;
      want: Want;
      unserved?: ReasonCode[];
      changed?: boolean;
      /** the pool each IP counts as drawn from (what the annotation will say) */
      pools?: (string | undefined)[];
      outOfPool?: boolean[];
    }
  | { release: string; released?: boolean }
  | { stats: string; want: [number, number, number, bigint | number] | undefined }
  | { outOfPool: string[] }
  | { holder: string; want: string[] };

const N = 'default/';
const v4 = (last: number) => `203.0.113.${last}`;

function runStep(a: Allocator, step: Step): void {
  if ('setPools' in step) {
    const { pools, problems } = parsePools(step.setPools);
    expect(problems.map((p) => [p.pool, p.code])).toEqual(step.problems ?? []);
    a.setPools(deepFreeze(pools));
  } else if ('restore' in step) {
    const r = a.restore(deepFreeze(model(step.restore)));
    expect(r.ips.map((i) => i.ip)).toEqual(step.ips);
    expect(r.conflicts.flatMap((c) => c.with)).toEqual(step.conflicts ?? []);
    expect(r.alreadyKnown).toBe(step.known ?? false);
  } else if ('assign' in step) {
    const r = a.assign(deepFreeze(model(step.assign)), deepFreeze(step.ns ?? {}));
    if (Array.isArray(step.want)) {
      expect(r, JSON.stringify(r)).toMatchObject({ ok: true });
      if (!r.ok) return;
      expect(r.ips.map((i) => i.ip)).toEqual(step.want);
      expect(r.unserved.map((u) => u.reason)).toEqual(step.unserved ?? []);
      if (step.changed !== undefined) expect(r.changed).toBe(step.changed);
      if (step.pools) expect(r.ips.map((i) => i.pool)).toEqual(step.pools);
      if (step.outOfPool) expect(r.ips.map((i) => i.outOfPool)).toEqual(step.outOfPool);
    } else {
      expect(r.ok, JSON.stringify(r)).toBe(false);
      if (r.ok) return;
      expect(r.reason).toBe(step.want.fail);
      if (step.want.msg) expect(r.message).toMatch(step.want.msg);
      expect(r.held.map((i) => i.ip)).toEqual(step.want.held ?? []);
    }
  } else if ('release' in step) {
    expect(a.release(step.release)).toBe(step.released ?? true);
  } else if ('stats' in step) {
    const s = a.poolStats(step.stats);
    const want = step.want?.map(BigInt);
    expect(s && [s.assignedV4, s.availableV4, s.assignedV6, s.availableV6]).toEqual(want);
  } else if ('outOfPool' in step) {
    expect(a.outOfPool()).toEqual(step.outOfPool);
  } else {
    expect(a.holderOf(step.holder)).toEqual(step.want);
  }
}

const scenarios: { name: string; steps: Step[] }[] = [
  {
    name: 'lowest free address, idempotent assign, release makes it reusable, exhaustion',
    steps: [
      { setPools: [pool('lan', ['203.0.113.10-203.0.113.12'])] },
      { assign: svc('a'), want: [v4(10)], changed: true },
      { assign: svc('b'), want: [v4(11)] },
      { assign: svc('a'), want: [v4(10)], changed: false },
      { release: `${N}a` },
      { release: `${N}a`, released: false },
      { assign: svc('c'), want: [v4(10)] },
      { assign: svc('d'), want: [v4(12)] },
      { assign: svc('e'), want: { fail: 'PoolExhausted', msg: /no free IPv4 address in pool "lan"/ } },
      { stats: 'lan', want: [3, 0, 0, 0] },
      { release: `${N}b` },
      { assign: svc('e'), want: [v4(11)] },
      { holder: v4(11), want: [`${N}e`] },
      { holder: '203.0.113.99', want: [] },
    ],
  },
  {
    name: 'candidate pools by priority (unset last), then name',
    steps: [
      {
        setPools: [
          pool('z', [`${v4(1)}/32`], { priority: 10 }),
          pool('y', [`${v4(2)}/32`], { priority: 20 }),
          pool('b', [`${v4(3)}/32`]),
          pool('a', [`${v4(4)}/32`]),
          pool('c', [`${v4(5)}/32`], { priority: 10 }),
        ],
      },
      { assign: svc('s1'), want: [v4(5)] },
      { assign: svc('s2'), want: [v4(1)] },
      { assign: svc('s3'), want: [v4(2)] },
      { assign: svc('s4'), want: [v4(4)] },
      { assign: svc('s5'), want: [v4(3)] },
      { assign: svc('s6'), want: { fail: 'PoolExhausted', msg: /"c", "z", "y", "a", "b"/ } },
    ],
  },
  {
    name: 'autoAssign false: only by pool annotation or requested IP',
    steps: [
      { setPools: [pool('reserved', [`${v4(100)}/32`, `${v4(101)}/32`], { auto: false })] },
      { assign: svc('a'), want: { fail: 'NoEligiblePool', msg: /autoAssign/ } },
      { setPools: [pool('reserved', [`${v4(100)}/31`], { auto: false }), pool('lan', [`${v4(1)}/32`])] },
      { assign: svc('a'), want: [v4(1)] },
      { assign: svc('b'), want: { fail: 'PoolExhausted', msg: /"lan"$/ } },
      { assign: svc('b', { pool: 'reserved' }), want: [v4(100)] },
      { assign: svc('c', { ips: v4(101) }), want: [v4(101)] },
      { stats: 'reserved', want: [2, 0, 0, 0] },
    ],
  },
  {
    name: 'avoidBuggyIPs never hands out .0 or .255 and counts exactly',
    steps: [
      { setPools: [pool('b', ['192.0.2.0/30', '198.51.100.254-198.51.100.255'], { buggy: true })] },
      { stats: 'b', want: [0, 4, 0, 0] },
      { assign: svc('x'), want: ['192.0.2.1'] },
      { assign: svc('y', { ips: '192.0.2.0' }), want: { fail: 'RequestedIPExcluded', msg: /avoidBuggyIPs/ } },
      { assign: svc('y', { ips: '198.51.100.255' }), want: { fail: 'RequestedIPExcluded' } },
      { assign: svc('y'), want: ['192.0.2.2'] },
      { assign: svc('z'), want: ['192.0.2.3'] },
      { assign: svc('w'), want: ['198.51.100.254'] },
      { assign: svc('v'), want: { fail: 'PoolExhausted' } },
      { stats: 'b', want: [4, 0, 0, 0] },
    ],
  },
  {
    name: 'serviceAllocation: namespaces OR namespaceSelectors, AND serviceSelectors',
    steps: [
      {
        setPools: [
          pool('media', [`${v4(1)}/32`], { priority: 1, namespaces: ['media'] }),
          pool('tiered', [`${v4(2)}/31`], {
            priority: 2,
            namespaces: ['ops'],
            nsSel: [{ matchLabels: { tier: 'lan' } }],
          }),
          pool('web', [`${v4(4)}/32`], {
            priority: 3,
            svcSel: [{ matchExpressions: [{ key: 'app', operator: 'In', values: ['web'] }] }],
          }),
          pool('general', [`${v4(5)}/32`]),
        ],
      },
      { assign: svc('m', { ns: 'media' }), want: [v4(1)] },
      { assign: svc('t', { ns: 'other' }), ns: { tier: 'lan' }, want: [v4(2)] },
      { assign: svc('o', { ns: 'ops' }), want: [v4(3)] },
      { assign: svc('w', { ns: 'other', labels: { app: 'web' } }), want: [v4(4)] },
      { assign: svc('g', { ns: 'other' }), ns: { tier: 'wan' }, want: [v4(5)] },
      { assign: svc('p', { ns: 'other', pool: 'media' }), want: { fail: 'PoolNotAllowed', msg: /"media"/ } },
      { assign: svc('q', { ns: 'other', ips: v4(1) }), want: { fail: 'PoolNotAllowed' } },
      { assign: svc('r', { ns: 'other' }), want: { fail: 'PoolExhausted', msg: /"general"$/ } },
      { setPools: [pool('media', [`${v4(1)}/29`], { namespaces: ['media'] })] },
      // pool edits never move an IP, even when the Service no longer matches
      { assign: svc('g', { ns: 'other' }), want: [v4(5)], changed: false },
      { assign: svc('r', { ns: 'other' }), want: { fail: 'NoEligiblePool' } },
    ],
  },
  {
    name: 'overlapping pools: the later-created one is a Conflict and unused',
    steps: [
      {
        setPools: [
          pool('new', ['203.0.113.8-203.0.113.20'], { created: 10 }),
          pool('old', ['203.0.113.0/28'], { created: 0 }),
          pool('apart', ['198.51.100.0/30'], { created: 20 }),
          pool('twin-b', ['192.0.2.0/30'], { created: 5 }),
          pool('twin-a', ['192.0.2.2/31'], { created: 5 }),
        ],
        problems: [
          ['new', 'Conflict'],
          ['twin-b', 'Conflict'],
        ],
      },
      { stats: 'new', want: undefined },
      { stats: 'old', want: [0, 16, 0, 0] },
      { assign: svc('a', { pool: 'new' }), want: { fail: 'UnknownPool', msg: /"new"/ } },
      { assign: svc('b', { ips: '203.0.113.18' }), want: { fail: 'RequestedIPOutsidePools' } },
      { assign: svc('c', { ips: '203.0.113.9' }), want: ['203.0.113.9'] },
      { assign: svc('d', { pool: 'twin-a' }), want: ['192.0.2.2'] },
    ],
  },
  {
    name: 'explicit requests: annotations, metallb spellings, spec.loadBalancerIP, failures',
    steps: [
      { setPools: [pool('lan', ['203.0.113.0/28']), pool('other', ['198.51.100.0/30'])] },
      { assign: svc('a', { ips: v4(5) }), want: [v4(5)] },
      { assign: svc('b', { mlbIPs: v4(6) }), want: [v4(6)] },
      { assign: svc('c', { lbIP: v4(7) }), want: [v4(7)] },
      { assign: svc('d', { ips: v4(8), mlbIPs: v4(9), lbIP: v4(10) }), want: [v4(8)] },
      { assign: svc('e', { ips: v4(5) }), want: { fail: 'IPInUse', msg: /default\/a.*keys differ/ } },
      { assign: svc('f', { ips: '203.0.113.300' }), want: { fail: 'InvalidRequest', msg: /not a valid IP/ } },
      { assign: svc('g', { ips: '2001:db8:100::5' }), want: { fail: 'InvalidRequest', msg: /IPv6/ } },
      {
        assign: svc('h', { ips: `${v4(1)}, ${v4(2)}` }),
        want: { fail: 'InvalidRequest', msg: /more than one/ },
      },
      { assign: svc('i', { ips: '198.51.100.77' }), want: { fail: 'RequestedIPOutsidePools' } },
      { assign: svc('j', { ips: v4(11), pool: 'other' }), want: { fail: 'RequestedIPNotInPool' } },
      { assign: svc('k'), want: [v4(0)] },
      { assign: svc('l', { pool: 'nope' }), want: { fail: 'UnknownPool' } },
      { assign: svc('m', { mlbPool: 'other' }), want: ['198.51.100.0'] },
      { assign: svc('n', { ips: '198.51.100.3', pool: 'other' }), want: ['198.51.100.3'] },
    ],
  },
  {
    name: 'dual-stack by ipFamilyPolicy and ipFamilies',
    steps: [
      { setPools: [pool('v4', ['203.0.113.0/30'])] },
      {
        assign: svc('a', { policy: 'RequireDualStack', families: ['IPv4', 'IPv6'] }),
        want: { fail: 'FamilyNotAvailable', msg: /no usable pool has IPv6/ },
      },
      {
        assign: svc('b', { policy: 'PreferDualStack', families: ['IPv6', 'IPv4'] }),
        want: [v4(0)],
        unserved: ['FamilyNotAvailable'],
      },
      { assign: svc('c', { families: ['IPv6'] }), want: { fail: 'FamilyNotAvailable' } },
      { setPools: [pool('v4', ['203.0.113.0/30']), pool('v6', ['2001:db8:100::/64'])] },
      {
        assign: svc('b', { policy: 'PreferDualStack', families: ['IPv6', 'IPv4'] }),
        want: ['2001:db8:100::', v4(0)],
        changed: true,
      },
      {
        assign: svc('a', { policy: 'RequireDualStack', families: ['IPv4'] }),
        want: [v4(1), '2001:db8:100::1'],
      },
      {
        assign: svc('d', { policy: 'PreferDualStack', families: ['IPv4', 'IPv6'], ips: v4(3) }),
        want: [v4(3), '2001:db8:100::2'],
      },
      { stats: 'v6', want: [0, 0, 3, 2n ** 64n - 3n] },
      {
        assign: svc('e', { policy: 'RequireDualStack', families: ['IPv4', 'IPv6'], ips: '2001:db8:100::1' }),
        want: { fail: 'IPInUse', msg: /default\/a/ },
      },
      {
        assign: svc('f', { policy: 'PreferDualStack', families: ['IPv4', 'IPv6'], ips: '2001:db8:200::1' }),
        want: { fail: 'RequestedIPOutsidePools' },
      },
      // SingleStack now: the IPv6 address is dropped, the IPv4 one kept
      { assign: svc('a', { families: ['IPv4', 'IPv6'] }), want: [v4(1)] },
      { holder: '2001:db8:100::1', want: [] },
    ],
  },
  {
    name: 'sharing: same key, disjoint ports, compatible traffic policy',
    steps: [
      { setPools: [pool('lan', ['203.0.113.0/29'])] },
      { assign: svc('a', { share: 'k', ports: [80] }), want: [v4(0)] },
      { assign: svc('b', { share: 'k', ports: [443] }), want: [v4(0)] },
      { assign: svc('c', { share: 'k', ports: ['udp/80'] }), want: [v4(0)] },
      { assign: svc('d', { share: 'k', ports: [80] }), want: [v4(1)] },
      { assign: svc('e', { share: 'other', ports: [22] }), want: [v4(2)] },
      { assign: svc('f', { share: 'k', ports: [22], local: { app: 'x' } }), want: [v4(3)] },
      { assign: svc('g', { share: 'k', ports: [23], local: { app: 'x' } }), want: [v4(3)] },
      { assign: svc('h', { share: 'k', ports: [24], local: { app: 'y' } }), want: [v4(4)] },
      { holder: v4(0), want: [`${N}a`, `${N}b`, `${N}c`] },
      { assign: svc('i', { mlbShare: 'k', ports: [8080] }), want: [v4(0)] },
      { assign: svc('j', { ips: v4(2) }), want: { fail: 'IPInUse', msg: /default\/e/ } },
      {
        assign: svc('k', { ips: v4(0), share: 'k', ports: [80] }),
        want: { fail: 'IPInUse', msg: /ports overlap/ },
      },
      { assign: svc('l', { ips: v4(0), share: 'k', ports: [9090] }), want: [v4(0)] },
      {
        assign: svc('m', { ips: v4(3), share: 'k', ports: [9] }),
        want: { fail: 'IPInUse', msg: /TrafficPolicy differs/ },
      },
      { release: `${N}a` },
      { release: `${N}b` },
      { holder: v4(0), want: [`${N}c`, `${N}i`, `${N}l`] },
      { stats: 'lan', want: [5, 3, 0, 0] },
    ],
  },
  {
    name: 'a Service that breaks sharing by its own change moves; its partner stays',
    steps: [
      { setPools: [pool('lan', ['203.0.113.0/29'])] },
      { assign: svc('a', { share: 'k', ports: [80] }), want: [v4(0)] },
      { assign: svc('b', { share: 'k', ports: [443] }), want: [v4(0)] },
      { assign: svc('a', { share: 'k', ports: [80] }), want: [v4(0)], changed: false },
      { assign: svc('b', { share: 'k', ports: [80] }), want: [v4(1)], changed: true },
      { holder: v4(0), want: [`${N}a`] },
      { assign: svc('c', { share: 'k', ports: [443] }), want: [v4(0)] },
      // the same change seen in the other order
      { assign: svc('c', { share: 'k2', ports: [443] }), want: [v4(2)] },
      { assign: svc('a', { share: 'k', ports: [80] }), want: [v4(0)], changed: false },
      // explicit request for an IP whose sharing it broke: failure, and the IP is dropped
      { assign: svc('d', { share: 'k', ports: [22], ips: v4(0) }), want: [v4(0)] },
      { assign: svc('d', { share: 'k', ports: [80], ips: v4(0) }), want: { fail: 'IPInUse', held: [] } },
      { holder: v4(0), want: [`${N}a`] },
    ],
  },
  {
    name: 'pool edits and deletions never move an IP; out-of-pool is reported',
    steps: [
      { setPools: [pool('lan', ['203.0.113.0/30'])] },
      { assign: svc('a'), want: [v4(0)] },
      { assign: svc('b'), want: [v4(1)] },
      { setPools: [pool('lan', [`${v4(1)}/32`])] },
      { outOfPool: [`${N}a`] },
      { assign: svc('a'), want: [v4(0)], changed: false },
      { stats: 'lan', want: [1, 0, 0, 0] },
      { assign: svc('c'), want: { fail: 'PoolExhausted' } },
      { setPools: [] },
      { assign: svc('b'), want: [v4(1)], changed: false },
      { outOfPool: [`${N}a`, `${N}b`] },
      { assign: svc('d'), want: { fail: 'FamilyNotAvailable' } },
      { setPools: [pool('lan', ['203.0.113.0/30'], { buggy: true })] },
      { outOfPool: [`${N}a`] },
      { stats: 'lan', want: [1, 2, 0, 0] },
      { assign: svc('d'), want: [v4(2)] },
      { setPools: [pool('lan', ['203.0.113.0/30'])] },
      { outOfPool: [] },
      { stats: 'lan', want: [3, 1, 0, 0] },
      { assign: svc('e', { ips: v4(0) }), want: { fail: 'IPInUse', msg: /default\/a/ } },
    ],
  },
  {
    name: 'requested pool: kept when the pool is deleted, moved when the annotation changes',
    steps: [
      { setPools: [pool('p1', ['203.0.113.0/30']), pool('p2', ['198.51.100.0/30'])] },
      { assign: svc('a', { pool: 'p1' }), want: [v4(0)] },
      { setPools: [pool('p2', ['198.51.100.0/30'])] },
      { assign: svc('a', { pool: 'p1' }), want: [v4(0)], changed: false },
      { assign: svc('a', { pool: 'p2' }), want: ['198.51.100.0'], changed: true },
      { assign: svc('a', { pool: 'p3' }), want: { fail: 'UnknownPool', held: ['198.51.100.0'] } },
      { assign: svc('a'), want: ['198.51.100.0'], changed: false },
    ],
  },
  {
    name: 'a changed request keeps the old IP until the new one succeeds',
    steps: [
      { setPools: [pool('lan', ['203.0.113.0/29'])] },
      { assign: svc('a'), want: [v4(0)] },
      { assign: svc('b'), want: [v4(1)] },
      { assign: svc('a', { ips: v4(1) }), want: { fail: 'IPInUse', held: [v4(0)] } },
      { assign: svc('a', { ips: 'bogus' }), want: { fail: 'InvalidRequest', held: [v4(0)] } },
      { holder: v4(0), want: [`${N}a`] },
      { assign: svc('c'), want: [v4(2)] },
      { assign: svc('a', { ips: v4(5) }), want: [v4(5)], changed: true },
      { holder: v4(0), want: [] },
      { assign: svc('d'), want: [v4(0)] },
      // dropping the request keeps the IP: nothing asks for a move
      { assign: svc('a'), want: [v4(5)], changed: false },
    ],
  },
  {
    name: 'restore loads statuses first, never evicts, settles conflicts by age then key',
    steps: [
      { setPools: [pool('lan', ['203.0.113.0/29'])] },
      { restore: svc('x', { status: [v4(3)], fromPool: 'lan' }), ips: [v4(3)] },
      { restore: svc('y', { status: [v4(0), v4(4)] }), ips: [v4(0)] },
      { assign: svc('z'), want: [v4(1)] },
      { restore: svc('w', { status: ['198.51.100.7'] }), ips: ['198.51.100.7'] },
      { outOfPool: [`${N}w`] },
      { restore: svc('x', { status: [v4(6)] }), ips: [v4(3)], known: true },
      { assign: svc('x'), want: [v4(3)], changed: false },
      { restore: svc('s1', { status: [v4(7)], share: 'k', ports: [80] }), ips: [v4(7)] },
      { restore: svc('s2', { status: [v4(7)], share: 'k', ports: [81] }), ips: [v4(7)] },
      { restore: svc('p', { status: [v4(5)], created: 10 }), ips: [v4(5)] },
      { restore: svc('q', { status: [v4(5)], created: 5 }), ips: [v4(5)], conflicts: [`${N}p`] },
      { holder: v4(5), want: [`${N}p`, `${N}q`] },
      { assign: svc('p', { created: 10 }), want: [v4(2)], changed: true },
      { assign: svc('q', { created: 5 }), want: [v4(5)], changed: false },
      { holder: v4(5), want: [`${N}q`] },
      { stats: 'lan', want: [6, 2, 0, 0] },
    ],
  },
  {
    // Issue 8 item 3: the range moves from pool a to pool b under a Service pinned to a.
    name: 'a pinned Service keeps its IP when its range moves to another pool, on every later resync too',
    steps: [
      { setPools: [pool('a', ['203.0.113.0/30']), pool('b', ['198.51.100.0/30'])] },
      { assign: svc('s', { pool: 'a' }), want: [v4(0)], pools: ['a'] },
      { setPools: [pool('a', ['203.0.113.4/30']), pool('b', ['203.0.113.0/30'])] },
      { assign: svc('s', { pool: 'a' }), want: [v4(0)], changed: false, pools: ['a'], outOfPool: [true] },
      // the 5-minute resync: still the same IP, still naming pool a
      { assign: svc('s', { pool: 'a' }), want: [v4(0)], changed: false, pools: ['a'], outOfPool: [true] },
      { outOfPool: [`${N}s`] },
      { assign: svc('t', { pool: 'b' }), want: [v4(1)] },
      { stats: 'b', want: [2, 2, 0, 0] },
      // only an explicit act on the Service moves it
      { assign: svc('s', { pool: 'b' }), want: [v4(0)], changed: false, pools: ['b'], outOfPool: [false] },
      { assign: svc('s', { ips: v4(5) }), want: [v4(5)], changed: true },
    ],
  },
  {
    name: 'a pinned Service restored after its range moved keeps its IP (restore then assign = live)',
    steps: [
      { setPools: [pool('a', ['203.0.113.4/30']), pool('b', ['203.0.113.0/30'])] },
      { restore: svc('s', { pool: 'a', status: [v4(0)], fromPool: 'a' }), ips: [v4(0)] },
      {
        assign: svc('s', { pool: 'a', status: [v4(0)], fromPool: 'a' }),
        want: [v4(0)],
        changed: false,
        pools: ['a'],
      },
      {
        assign: svc('s', { pool: 'a', status: [v4(0)], fromPool: 'a' }),
        want: [v4(0)],
        changed: false,
        pools: ['a'],
      },
      { outOfPool: [`${N}s`] },
    ],
  },
  {
    // Issue 8 item 4: the status is the durable record.
    name: 'a valid, free IP already in the status is adopted, never replaced',
    steps: [
      { setPools: [pool('lan', ['203.0.113.0/29']), pool('p2', ['198.51.100.0/30'])] },
      { assign: svc('a'), want: [v4(0)] },
      // written by a previous leader's late write, or restored from a backup
      { assign: svc('b', { status: [v4(5)] }), want: [v4(5)], changed: true },
      { holder: v4(5), want: [`${N}b`] },
      { assign: svc('c'), want: [v4(1)] }, // lowest free skips the adopted one
      // not adopted: held by another, outside every pool, outside the requested pool, not requested
      { assign: svc('d', { status: [v4(0)] }), want: [v4(2)] },
      { assign: svc('e', { status: ['192.0.2.9'] }), want: [v4(3)] },
      { assign: svc('f', { status: [v4(6)], pool: 'p2' }), want: ['198.51.100.0'] },
      { assign: svc('g', { status: [v4(7)], ips: v4(4) }), want: [v4(4)] },
      // held here, but the status names another free IP (written after this term began): adopt it
      { assign: svc('a', { status: [v4(6)] }), want: [v4(6)], changed: true },
      { holder: v4(0), want: [] },
      { assign: svc('a', { status: [v4(6)] }), want: [v4(6)], changed: false },
    ],
  },
  {
    // Issue 8 item 5: A's ports were edited to overlap B's while no leader ran.
    name: 'after a restart, of two Services that can no longer share, the one that changed gives the IP up',
    steps: [
      { setPools: [pool('lan', ['203.0.113.0/29'])] },
      {
        restore: svc('a', {
          status: [v4(7)],
          share: 'k',
          ports: [81],
          created: 1,
          admitted: admittedAs('k', [80]),
        }),
        ips: [v4(7)],
      },
      {
        restore: svc('b', {
          status: [v4(7)],
          share: 'k',
          ports: [81],
          created: 9,
          admitted: admittedAs('k', [81]),
        }),
        ips: [v4(7)],
        conflicts: [`${N}a`],
      },
      // b is unchanged and later-created: it still keeps the IP; a (changed) moves
      {
        assign: svc('b', { status: [v4(7)], share: 'k', ports: [81], created: 9 }),
        want: [v4(7)],
        changed: false,
      },
      {
        assign: svc('a', { status: [v4(7)], share: 'k', ports: [81], created: 1 }),
        want: [v4(0)],
        changed: true,
      },
      { holder: v4(7), want: [`${N}b`] },
    ],
  },
  {
    name: 'restore before pools exist, then pools arrive',
    steps: [
      { restore: svc('a', { status: [v4(2)] }), ips: [v4(2)] },
      {
        restore: svc('b', { status: ['2001:db8:100::9', v4(3)], families: ['IPv6', 'IPv4'] }),
        ips: ['2001:db8:100::9', v4(3)],
      },
      { outOfPool: [`${N}a`, `${N}b`] },
      { setPools: [pool('lan', ['203.0.113.0/30', '2001:db8:100::/120'])] },
      { outOfPool: [] },
      { stats: 'lan', want: [2, 2, 1, 255] },
      { assign: svc('c', { families: ['IPv6'] }), want: ['2001:db8:100::'] },
      // b is SingleStack IPv6 now: its IPv4 address is released on success
      { assign: svc('b', { families: ['IPv6', 'IPv4'] }), want: ['2001:db8:100::9'] },
      { stats: 'lan', want: [1, 3, 2, 254] },
    ],
  },
];

describe('allocator scenarios', () => {
  for (const sc of scenarios) {
    it(sc.name, () => {
      const a = new Allocator();
      sc.steps.forEach((step, i) => {
        const before = structuredClone(step);
        deepFreeze(step);
        try {
          runStep(a, step);
        } catch (e) {
          const text = JSON.stringify(step, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));
          throw new Error(`step ${i}: ${text}\n${(e as Error).message}`);
        }
        expect(step).toEqual(before);
      });
    });
  }
});
