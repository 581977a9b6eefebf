// The CRDs against a real kube-apiserver: valid objects are accepted and defaulted, invalid
// ones are refused with 422 and a message that names the offending field. The rules are in
// crds/*.yaml (OpenAPI + CEL); docs/api.md describes them for users.
import { ApiException, CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePoolEntry, specialBlockIn } from '../../api/addresses.js';
import { GROUP, IPADDRESSPOOL_PLURAL, L2ADVERTISEMENT_PLURAL, VERSION } from '../../api/crd-types.js';
import { adminKubeConfig, controlPlaneAvailable, uniqueName } from '../support/kube.js';

type Obj = Record<string, unknown> & { metadata?: { name?: string }; spec?: Record<string, unknown> };
type Plural = typeof IPADDRESSPOOL_PLURAL | typeof L2ADVERTISEMENT_PLURAL;

interface Status {
  message?: string;
  details?: { causes?: { field?: string; message?: string }[] };
}

const pool = (spec: unknown): Obj =>
  ({ apiVersion: `${GROUP}/${VERSION}`, kind: 'IPAddressPool', spec }) as Obj;
const l2 = (spec: unknown): Obj =>
  ({ apiVersion: `${GROUP}/${VERSION}`, kind: 'L2Advertisement', spec }) as Obj;
const sel = (matchExpressions: unknown) => ({
  serviceAllocation: { serviceSelectors: [{ matchExpressions }] },
});
const poolWith = (addresses: unknown, extra: Record<string, unknown> = {}) => pool({ addresses, ...extra });
const A = ['203.0.113.0/28'];

describe.skipIf(!controlPlaneAvailable())('CRDs on a real kube-apiserver', () => {
  let api: CustomObjectsApi;
  const created: [Plural, string][] = [];

  // The tier's global setup installed crds/ (test/support/control-plane-setup.ts).
  beforeAll(() => {
    api = adminKubeConfig().makeApiClient(CustomObjectsApi);
  });

  afterAll(async () => {
    for (const [plural, name] of created) {
      await api.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural, name });
    }
  });

  async function create(plural: Plural, body: Obj, opts: { dryRun?: boolean; strict?: boolean } = {}) {
    const named = { ...body, metadata: { name: uniqueName(plural.slice(0, 4)), ...body.metadata } };
    const res = (await api.createClusterCustomObject({
      group: GROUP,
      version: VERSION,
      plural,
      body: named,
      dryRun: opts.dryRun === false ? undefined : 'All',
      fieldValidation: opts.strict ? 'Strict' : undefined,
    })) as Obj;
    if (opts.dryRun === false) created.push([plural, named.metadata.name]);
    return res;
  }

  /** The API error of a request that must fail, with its Status body parsed. */
  async function failure(p: Promise<unknown>): Promise<{ code: number; status: Status }> {
    try {
      await p;
    } catch (err) {
      if (!(err instanceof ApiException)) throw err;
      const body = err.body as unknown;
      const status = (typeof body === 'string' ? JSON.parse(body) : body) as Status;
      return { code: err.code, status };
    }
    throw new Error('the API server accepted an object that must be rejected');
  }

  describe('accepts valid objects and applies defaults', () => {
    it('the IPAddressPool of ARCHITECTURE.md §1', async () => {
      const got = await create(
        IPADDRESSPOOL_PLURAL,
        pool({
          addresses: ['192.168.126.40/32', '192.168.126.41-192.168.126.60', 'fd00:10::/120'],
          autoAssign: true,
          avoidBuggyIPs: false,
          serviceAllocation: {
            priority: 10,
            namespaces: ['media'],
            namespaceSelectors: [{ matchLabels: { tier: 'lan' } }],
            serviceSelectors: [{ matchExpressions: [{ key: 'app', operator: 'In', values: ['web'] }] }],
          },
        }),
        { dryRun: false, strict: true },
      );
      expect(got.spec?.addresses).toEqual([
        '192.168.126.40/32',
        '192.168.126.41-192.168.126.60',
        'fd00:10::/120',
      ]);
      expect(got.spec?.serviceAllocation).toMatchObject({ priority: 10 });
    });

    it('the L2Advertisement of ARCHITECTURE.md §1', async () => {
      const spec = {
        ipAddressPools: ['lan'],
        ipAddressPoolSelectors: [{ matchLabels: { announce: 'l2' } }],
        nodeSelectors: [{ matchLabels: { 'kubernetes.io/os': 'linux' } }],
        interfaces: ['eth0'],
      };
      const got = await create(L2ADVERTISEMENT_PLURAL, l2(spec), { dryRun: false, strict: true });
      expect(got.spec).toEqual(spec);
    });

    it('a minimal pool gets autoAssign: true and avoidBuggyIPs: false', async () => {
      const got = await create(IPADDRESSPOOL_PLURAL, poolWith(A));
      expect(got.spec).toEqual({ addresses: A, autoAssign: true, avoidBuggyIPs: false });
    });

    it('an L2Advertisement without spec gets an empty one (all pools, all nodes)', async () => {
      const got = await create(L2ADVERTISEMENT_PLURAL, {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'L2Advertisement',
      });
      expect(got.spec).toEqual({});
    });

    const validPools: [string, Obj][] = [
      ['one IPv4 address as /32', poolWith(['203.0.113.7/32'])],
      ['one IPv6 address as /128', poolWith(['2001:db8:100::7/128'])],
      ['a one-address range', poolWith(['203.0.113.9-203.0.113.9'])],
      ['a range across an octet boundary', poolWith(['203.0.113.255-203.0.114.0'])],
      ['an IPv6 range', poolWith(['2001:db8:100::10-2001:db8:100::1:0'])],
      ['an IPv6 range differing in the last bit', poolWith(['2001:db8:100::fe-2001:db8:100::ff'])],
      ['uncompressed and upper-case IPv6', poolWith(['2001:DB8:100:0:0:0:0:0/120'])],
      ['a whole IPv6 /64', poolWith(['2001:db8:100:1::/64'])],
      // Neighbours of the blocks that can never be LoadBalancer IPs are fine.
      [
        'addresses right next to the special blocks',
        poolWith([
          '0.0.0.1-126.255.255.255',
          '128.0.0.0-169.253.255.255',
          '169.255.0.0/16',
          '223.255.255.0-223.255.255.255',
          '240.0.0.0-255.255.255.254',
          '::2-fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
          'fec0::/10',
          'fe00::-fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
        ]),
      ],
      ['mixed families in one pool', poolWith(['203.0.113.0/28', '2001:db8:100::/120'])],
      ['64 entries (the maximum)', poolWith(Array.from({ length: 64 }, (_, i) => `203.0.113.${i}/32`))],
      ['priority 0 and an empty serviceAllocation part', poolWith(A, { serviceAllocation: { priority: 0 } })],
      ['priority at its maximum', poolWith(A, { serviceAllocation: { priority: 2147483647 } })],
      ['autoAssign false, avoidBuggyIPs true', poolWith(A, { autoAssign: false, avoidBuggyIPs: true })],
      ['Exists without values', poolWith(A, sel([{ key: 'app', operator: 'Exists' }]))],
      [
        'DoesNotExist with an empty values list',
        poolWith(A, sel([{ key: 'a', operator: 'DoesNotExist', values: [] }])),
      ],
      [
        'NotIn, a prefixed key',
        poolWith(A, sel([{ key: 'example.com/app', operator: 'NotIn', values: ['x'] }])),
      ],
      ['an empty selector (matches all)', poolWith(A, { serviceAllocation: { namespaceSelectors: [{}] } })],
      [
        'an empty label value',
        poolWith(A, { serviceAllocation: { serviceSelectors: [{ matchLabels: { a: '' } }] } }),
      ],
      ['a 63-character namespace', poolWith(A, { serviceAllocation: { namespaces: ['n'.repeat(63)] } })],
    ];
    it.each(validPools)('IPAddressPool: %s', async (_name, body) => {
      const got = await create(IPADDRESSPOOL_PLURAL, body, { strict: true });
      expect(got.spec).toMatchObject(body.spec ?? {});
    });

    const validL2: [string, Obj][] = [
      ['an explicit empty spec', l2({})],
      [
        '15-character, VLAN and bridge interface names',
        l2({ interfaces: ['enp3s0f1np1abcd', 'eth0.100', 'br-lan'] }),
      ],
      ['dotted pool names', l2({ ipAddressPools: ['lan.home', 'a'] })],
      [
        'node selector with In',
        l2({ nodeSelectors: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }] }),
      ],
    ];
    it.each(validL2)('L2Advertisement: %s', async (_name, body) => {
      const got = await create(L2ADVERTISEMENT_PLURAL, body, { strict: true });
      expect(got.spec).toEqual(body.spec);
    });
  });

  // start <= end is computed bitwise in CEL (no IP ordering exists there): cross-check it
  // against BigInt arithmetic on pairs that differ in every single bit position.
  describe('range order agrees with numeric order in every bit position', () => {
    const v4 = (n: bigint) => [24n, 16n, 8n, 0n].map((s) => (n >> s) & 255n).join('.');
    const v6 = (n: bigint) =>
      Array.from({ length: 8 }, (_, i) => ((n >> BigInt(112 - 16 * i)) & 0xffffn).toString(16)).join(':');
    const base4 = 0xcb007100n | 0x5an; // 203.0.113.90: a mix of 0 and 1 bits
    const base6 = 0x20010db8010000000000000000000000n | 0x5a5a_0000_a5a5n;
    const pairs: [string, string][] = [
      ...Array.from({ length: 32 }, (_, k) => [v4(base4), v4(base4 ^ (1n << BigInt(k)))] as [string, string]),
      ...Array.from(
        { length: 128 },
        (_, k) => [v6(base6), v6(base6 ^ (1n << BigInt(k)))] as [string, string],
      ),
    ];
    const toInt = (s: string) =>
      s.includes(':')
        ? s.split(':').reduce((acc, g) => (acc << 16n) | BigInt(`0x${g}`), 0n)
        : s.split('.').reduce((acc, o) => (acc << 8n) | BigInt(o), 0n);
    // Flipping a high bit can make a range span loopback or multicast, which another rule
    // refuses: the order check uses the pairs that touch no special block.
    const plain = pairs.filter(([a, b]) => {
      const r = parsePoolEntry(toInt(a) <= toInt(b) ? `${a}-${b}` : `${b}-${a}`);
      return r.ok && specialBlockIn(r.interval) === undefined;
    });
    const ordered = plain.map(([a, b]) => (toInt(a) <= toInt(b) ? `${a}-${b}` : `${b}-${a}`));
    const reversed = plain.map(([a, b]) => (toInt(a) > toInt(b) ? `${a}-${b}` : `${b}-${a}`));
    it('keeps most pairs for the check', () => expect(plain.length).toBeGreaterThan(150));

    it('accepts every ordered range', async () => {
      for (let i = 0; i < ordered.length; i += 64)
        await create(IPADDRESSPOOL_PLURAL, poolWith(ordered.slice(i, i + 64)));
    });

    it('rejects every reversed range, each at its own index', async () => {
      for (let i = 0; i < reversed.length; i += 64) {
        const chunk = reversed.slice(i, i + 64);
        const { code, status } = await failure(create(IPADDRESSPOOL_PLURAL, poolWith(chunk)));
        expect(code).toBe(422);
        const fields = (status.details?.causes ?? []).map((c) => c.field);
        expect(fields).toEqual(chunk.map((_, j) => `spec.addresses[${j}]`));
      }
    });
  });

  // [description, kind, object, field the message must name, text the message must contain]
  type Bad = [string, Plural, Obj, string, RegExp];
  const P = IPADDRESSPOOL_PLURAL;
  const L = L2ADVERTISEMENT_PLURAL;
  const addr0 = 'spec.addresses[0]';
  const sa = 'spec.serviceAllocation';
  const expr0 = `${sa}.serviceSelectors[0].matchExpressions[0]`;
  const invalid: Bad[] = [
    ['not an address', P, poolWith(['not-an-address']), addr0, /must be a CIDR/],
    ['prefix longer than 32', P, poolWith(['203.0.113.0/33']), addr0, /must be a CIDR/],
    ['IPv4 host bits set', P, poolWith(['203.0.113.1/24']), addr0, /host bits/],
    ['IPv6 host bits set', P, poolWith(['2001:db8:100::1/64']), addr0, /host bits/],
    ['plain address without prefix', P, poolWith(['203.0.113.10']), addr0, /must be a CIDR/],
    ['reversed IPv4 range', P, poolWith(['203.0.113.20-203.0.113.10']), addr0, /reversed/],
    ['reversed IPv6 range', P, poolWith(['2001:db8:100::ff-2001:db8:100::1']), addr0, /reversed/],
    ['mixed-family range', P, poolWith(['203.0.113.1-2001:db8:100::1']), addr0, /IPv4 and IPv6/],
    // Addresses that can never be LoadBalancer IPs (ARCHITECTURE.md §1), as CIDRs and as ranges.
    ['everything (0.0.0.0/0)', P, poolWith(['0.0.0.0/0']), addr0, /unspecified address/],
    ['the IPv6 unspecified address', P, poolWith(['::/128']), addr0, /unspecified address/],
    ['a range starting at 0.0.0.0', P, poolWith(['0.0.0.0-0.0.0.9']), addr0, /unspecified address/],
    ['IPv4 loopback', P, poolWith(['127.0.0.0/8']), addr0, /loopback/],
    ['a CIDR inside loopback', P, poolWith(['127.1.2.0/24']), addr0, /loopback/],
    ['IPv6 loopback', P, poolWith(['::1/128']), addr0, /loopback/],
    ['a range spanning loopback', P, poolWith(['126.255.255.250-128.0.0.5']), addr0, /loopback/],
    ['IPv4 link-local', P, poolWith(['169.254.1.0/24']), addr0, /link-local/],
    ['IPv6 link-local', P, poolWith(['fe80::/64']), addr0, /link-local/],
    ['a range spanning IPv6 link-local', P, poolWith(['fe7f::-fec0::']), addr0, /link-local/],
    ['IPv4 multicast', P, poolWith(['239.255.0.0/16']), addr0, /multicast/],
    ['a range spanning IPv4 multicast', P, poolWith(['223.0.0.0-240.0.0.1']), addr0, /multicast/],
    ['a range ending in IPv4 multicast', P, poolWith(['223.255.255.250-224.0.0.1']), addr0, /multicast/],
    ['IPv6 multicast', P, poolWith(['ff02::/16']), addr0, /multicast/],
    ['the broadcast address', P, poolWith(['255.255.255.255/32']), addr0, /broadcast/],
    [
      'a range ending at the broadcast address',
      P,
      poolWith(['255.255.255.0-255.255.255.255']),
      addr0,
      /broadcast/,
    ],
    ['three-part range', P, poolWith(['203.0.113.1-203.0.113.5-203.0.113.9']), addr0, /must be a CIDR/],
    ['range of CIDRs', P, poolWith(['203.0.113.0/28-203.0.113.32/28']), addr0, /must be a CIDR/],
    ['leading whitespace', P, poolWith([' 203.0.113.0/28']), addr0, /must be a CIDR/],
    ['spaces around the dash', P, poolWith(['203.0.113.1 - 203.0.113.5']), addr0, /must be a CIDR/],
    ['trailing newline', P, poolWith(['203.0.113.0/28\n']), addr0, /must be a CIDR/],
    ['leading zeros', P, poolWith(['203.0.113.010/32']), addr0, /must be a CIDR/],
    ['IPv4-mapped IPv6', P, poolWith(['::ffff:203.0.113.1/128']), addr0, /must be a CIDR/],
    ['IPv6 with a zone', P, poolWith(['fe80::1%eth0/128']), addr0, /must be a CIDR/],
    [
      'bad entry after a good one',
      P,
      poolWith(['203.0.113.0/28', '203.0.113.16/27']),
      'spec.addresses[1]',
      /host bits/,
    ],
    ['empty addresses list', P, poolWith([]), 'spec.addresses', /at least 1 item/],
    ['addresses missing', P, pool({ autoAssign: true }), 'spec.addresses', /Required value/],
    [
      'spec missing',
      P,
      { apiVersion: `${GROUP}/${VERSION}`, kind: 'IPAddressPool' },
      'spec',
      /Required value/,
    ],
    [
      'duplicate address',
      P,
      poolWith(['203.0.113.0/28', '203.0.113.0/28']),
      'spec.addresses[1]',
      /Duplicate/,
    ],
    [
      '65 addresses',
      P,
      poolWith(Array.from({ length: 65 }, (_, i) => `203.0.113.${i}/32`)),
      'spec.addresses',
      /most 64/,
    ],
    ['address of the wrong type', P, poolWith([42]), addr0, /string/],
    ['addresses not a list', P, poolWith('203.0.113.0/28'), 'spec.addresses', /array/],
    ['autoAssign not a boolean', P, poolWith(A, { autoAssign: 'yes' }), 'spec.autoAssign', /boolean/],
    ['negative priority', P, poolWith(A, { serviceAllocation: { priority: -1 } }), `${sa}.priority`, /0/],
    [
      'fractional priority',
      P,
      poolWith(A, { serviceAllocation: { priority: 1.5 } }),
      `${sa}.priority`,
      /int32/,
    ],
    [
      'priority above int32',
      P,
      poolWith(A, { serviceAllocation: { priority: 2 ** 31 } }),
      `${sa}.priority`,
      /2147483647/,
    ],
    [
      'upper-case namespace',
      P,
      poolWith(A, { serviceAllocation: { namespaces: ['Media'] } }),
      `${sa}.namespaces[0]`,
      /DNS-1123/,
    ],
    [
      'namespace with underscore',
      P,
      poolWith(A, { serviceAllocation: { namespaces: ['my_ns'] } }),
      `${sa}.namespaces[0]`,
      /DNS-1123/,
    ],
    [
      '64-character namespace',
      P,
      poolWith(A, { serviceAllocation: { namespaces: ['n'.repeat(64)] } }),
      `${sa}.namespaces[0]`,
      /63/,
    ],
    [
      'unknown operator',
      P,
      poolWith(A, sel([{ key: 'a', operator: 'Equals', values: ['b'] }])),
      `${expr0}.operator`,
      /Unsupported value/,
    ],
    [
      'In without values',
      P,
      poolWith(A, sel([{ key: 'a', operator: 'In' }])),
      `${expr0}.values`,
      /at least one value when operator is In/,
    ],
    [
      'NotIn with empty values',
      P,
      poolWith(A, sel([{ key: 'a', operator: 'NotIn', values: [] }])),
      `${expr0}.values`,
      /at least one value/,
    ],
    [
      'Exists with values',
      P,
      poolWith(A, sel([{ key: 'a', operator: 'Exists', values: ['b'] }])),
      `${expr0}.values`,
      /must be empty when operator is Exists/,
    ],
    [
      'DoesNotExist with values',
      P,
      poolWith(A, sel([{ key: 'a', operator: 'DoesNotExist', values: ['b'] }])),
      `${expr0}.values`,
      /must be empty/,
    ],
    [
      'requirement without key',
      P,
      poolWith(A, sel([{ operator: 'Exists' }])),
      `${expr0}.key`,
      /Required value/,
    ],
    [
      'label key with a space',
      P,
      poolWith(A, sel([{ key: 'my app', operator: 'Exists' }])),
      `${expr0}.key`,
      /valid label key/,
    ],
    [
      'label key name over 63',
      P,
      poolWith(A, sel([{ key: `x/${'a'.repeat(64)}`, operator: 'Exists' }])),
      `${expr0}.key`,
      /valid label key/,
    ],
    [
      'label value with a space',
      P,
      poolWith(A, sel([{ key: 'a', operator: 'In', values: ['b c'] }])),
      `${expr0}.values[0]`,
      /should match/,
    ],
    [
      'matchLabels key invalid',
      P,
      poolWith(A, { serviceAllocation: { namespaceSelectors: [{ matchLabels: { '-bad': 'x' } }] } }),
      `${sa}.namespaceSelectors[0].matchLabels`,
      /valid label key/,
    ],
    [
      'matchLabels value too long',
      P,
      poolWith(A, { serviceAllocation: { namespaceSelectors: [{ matchLabels: { a: 'v'.repeat(64) } }] } }),
      `${sa}.namespaceSelectors[0].matchLabels.a`,
      /63/,
    ],
    ['16-character interface', L, l2({ interfaces: ['abcdefghijklmnop'] }), 'spec.interfaces[0]', /15/],
    [
      'interface with a slash',
      L,
      l2({ interfaces: ['eth0/1'] }),
      'spec.interfaces[0]',
      /Linux interface name/,
    ],
    [
      'interface with a colon',
      L,
      l2({ interfaces: ['eth0:1'] }),
      'spec.interfaces[0]',
      /Linux interface name/,
    ],
    [
      'interface with a space',
      L,
      l2({ interfaces: ['eth 0'] }),
      'spec.interfaces[0]',
      /Linux interface name/,
    ],
    ['empty interface name', L, l2({ interfaces: [''] }), 'spec.interfaces[0]', /at least 1/],
    ['interface named ..', L, l2({ interfaces: ['eth0', '..'] }), 'spec.interfaces[1]', /not '.' or '..'/],
    ['interfaces not a list', L, l2({ interfaces: 'eth0' }), 'spec.interfaces', /array/],
    ['pool name with upper case', L, l2({ ipAddressPools: ['LAN'] }), 'spec.ipAddressPools[0]', /DNS-1123/],
    [
      'node selector with a bad operator',
      L,
      l2({ nodeSelectors: [{ matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] }] }),
      'spec.nodeSelectors[0].matchExpressions[0].operator',
      /Unsupported value/,
    ],
    [
      'pool selector In without values',
      L,
      l2({ ipAddressPoolSelectors: [{ matchExpressions: [{ key: 'a', operator: 'In' }] }] }),
      'spec.ipAddressPoolSelectors[0].matchExpressions[0].values',
      /at least one value/,
    ],
    [
      'selector list not a list',
      L,
      l2({ nodeSelectors: { matchLabels: { a: 'b' } } }),
      'spec.nodeSelectors',
      /array/,
    ],
  ];

  it(`has at least 30 distinct invalid cases (${invalid.length})`, () => {
    expect(new Set(invalid.map((c) => c[0])).size).toBe(invalid.length);
    expect(invalid.length).toBeGreaterThanOrEqual(30);
  });

  it.each(invalid)('rejects %s (422, names the field)', async (_name, plural, body, field, text) => {
    const { code, status } = await failure(create(plural, body));
    expect(code).toBe(422);
    const causes = status.details?.causes ?? [];
    expect(causes.map((c) => c.field)).toContain(field);
    expect(status.message).toContain(`${field}:`);
    const cause = causes.find((c) => c.field === field);
    expect(cause?.message).toMatch(text);
  });

  // Unknown fields cannot be refused by the schema itself (structural schemas prune them);
  // strict field validation — kubectl's default — turns them into a 400 naming the field.
  describe('unknown fields', () => {
    const unknown: [string, Plural, Obj, string][] = [
      ['in a pool spec', P, poolWith(A, { bogus: 1 }), 'spec.bogus'],
      [
        'in serviceAllocation',
        P,
        poolWith(A, { serviceAllocation: { namespace: ['x'] } }),
        `${sa}.namespace`,
      ],
      ['in an L2Advertisement spec', L, l2({ interface: ['eth0'] }), 'spec.interface'],
      [
        'in a label selector',
        L,
        l2({ nodeSelectors: [{ matchLabel: { a: 'b' } }] }),
        'spec.nodeSelectors[0].matchLabel',
      ],
    ];
    it.each(unknown)('rejects one %s under strict validation (400)', async (_n, plural, body, field) => {
      const { code, status } = await failure(create(plural, body, { strict: true }));
      expect(code).toBe(400);
      expect(status.message).toContain(`unknown field "${field}"`);
    });

    it('drops one under the default validation, never storing it', async () => {
      const got = await create(P, poolWith(A, { bogus: 1 }));
      expect(got.spec).not.toHaveProperty('bogus');
    });
  });

  describe('status subresource', () => {
    async function withStatus(status: Record<string, unknown>) {
      const obj = await create(P, poolWith(A), { dryRun: false });
      const name = obj.metadata?.name ?? '';
      return api.replaceClusterCustomObjectStatus({
        group: GROUP,
        version: VERSION,
        plural: P,
        name,
        body: { ...obj, status },
      }) as Promise<Obj>;
    }
    const condition = {
      type: 'Ready',
      status: 'True',
      reason: 'Allocatable',
      message: '18 addresses free',
      lastTransitionTime: '2026-01-01T00:00:00Z',
      observedGeneration: 1,
    };

    it('stores counts, a huge IPv6 count as a string, and conditions', async () => {
      const status = {
        assignedIPv4: 3,
        availableIPv4: 18,
        assignedIPv6: 0,
        availableIPv6: '18446744073709551616',
        conditions: [condition],
      };
      expect((await withStatus(status)).status).toEqual(status);
      expect((await withStatus({ availableIPv6: 256 })).status).toEqual({ availableIPv6: 256 });
    });

    const badStatus: [string, Record<string, unknown>, string][] = [
      ['a negative count', { assignedIPv4: -1 }, 'status.assignedIPv4'],
      ['a non-numeric IPv6 count', { availableIPv6: '2^64' }, 'status.availableIPv6'],
      [
        'a condition status outside True/False/Unknown',
        { conditions: [{ ...condition, status: 'Yes' }] },
        'status.conditions[0].status',
      ],
      [
        'a condition without reason',
        { conditions: [{ ...condition, reason: undefined }] },
        'status.conditions[0].reason',
      ],
    ];
    it.each(badStatus)('rejects %s', async (_n, status, field) => {
      const { code, status: st } = await failure(withStatus(status));
      expect(code).toBe(422);
      expect(st.message).toContain(field);
    });
  });
});
