import { describe, expect, it } from 'vitest';
import {
  allNetns,
  buildSteps,
  findHost,
  isLabNetns,
  linkStep,
  planTopology,
  rangeToCidrs,
  stepArgv,
} from './topology.js';

describe('rangeToCidrs', () => {
  it.each([
    [
      '192.0.2.200',
      '192.0.2.250',
      [
        '192.0.2.200/29',
        '192.0.2.208/28',
        '192.0.2.224/28',
        '192.0.2.240/29',
        '192.0.2.248/31',
        '192.0.2.250/32',
      ],
    ],
    ['192.0.2.0', '192.0.2.255', ['192.0.2.0/24']],
    ['192.0.2.7', '192.0.2.7', ['192.0.2.7/32']],
    ['0.0.0.0', '255.255.255.255', ['0.0.0.0/0']],
  ])('%s-%s', (start, end, want) => {
    expect(rangeToCidrs(start, end)).toEqual(want);
  });

  it('rejects a reversed range and bad addresses', () => {
    expect(() => rangeToCidrs('192.0.2.9', '192.0.2.1')).toThrow(/after/);
    expect(() => rangeToCidrs('192.0.2', '192.0.2.1')).toThrow(/IPv4/);
  });
});

describe('planTopology', () => {
  it('names, addresses and MACs follow the address plan', () => {
    const t = planTopology({ nodes: 3, ipv6: false });
    expect(t.nodes.map((n) => [n.name, n.netns, n.ipv4, n.mac])).toEqual([
      ['node1', 'hlb-node1', '192.0.2.11', '02:68:6c:00:00:0b'],
      ['node2', 'hlb-node2', '192.0.2.12', '02:68:6c:00:00:0c'],
      ['node3', 'hlb-node3', '192.0.2.13', '02:68:6c:00:00:0d'],
    ]);
    expect(t.client).toMatchObject({ netns: 'hlb-client', ipv4: '192.0.2.100' });
    expect(t.client.ipv6).toBeUndefined();
    expect(t.poolCidrs.v4).toContain('203.0.113.0/24');
    expect(t.poolCidrs.v6).toEqual([]);
    expect(allNetns(t)).toEqual(['hlb-lan', 'hlb-node1', 'hlb-node2', 'hlb-node3', 'hlb-client']);
  });

  it('IPv6 adds 2001:db8:1::/64 addresses and the v6 pool', () => {
    const t = planTopology({ nodes: 2, ipv6: true });
    expect(t.nodes.map((n) => n.ipv6)).toEqual(['2001:db8:1::11', '2001:db8:1::12']);
    expect(t.client.ipv6).toBe('2001:db8:1::100');
    expect(t.poolCidrs.v6).toEqual(['2001:db8:1::200/120', '2001:db8:1::1:0/112']);
  });

  it.each([0, 10, 2.5, Number.NaN])('rejects %s nodes', (n) => {
    expect(() => planTopology({ nodes: n, ipv6: false })).toThrow(RangeError);
  });

  it('finds hosts by name', () => {
    const t = planTopology({ nodes: 2, ipv6: false });
    expect(findHost(t, 'client')?.netns).toBe('hlb-client');
    expect(findHost(t, 'node2')?.ipv4).toBe('192.0.2.12');
    expect(findHost(t, 'node3')).toBeUndefined();
  });
});

describe('buildSteps', () => {
  const t = planTopology({ nodes: 3, ipv6: true });
  const steps = buildSteps(t);
  const argvs = steps.map(stepArgv);

  it('every command is scoped to a lab namespace (never the host)', () => {
    for (const { cmd, args } of argvs) {
      expect(cmd).toBe('ip');
      const scoped =
        (args[0] === '-n' && args[1]?.startsWith('hlb-')) ||
        (args[0] === 'netns' && ['add', 'exec'].includes(args[1] ?? '') && args[2]?.startsWith('hlb-'));
      expect(scoped, args.join(' ')).toBe(true);
    }
  });

  it('only documentation addresses appear', () => {
    const text = argvs.map((a) => a.args.join(' ')).join('\n');
    const v4 = text.match(/\b\d+\.\d+\.\d+\.\d+\b/g) ?? [];
    for (const a of v4) expect(a.startsWith('192.0.2.') || a.startsWith('203.0.113.'), a).toBe(true);
    const v6 = text.split(/\s+/).filter((w) => w.includes('::')); // MACs have no '::'
    for (const a of v6) expect(a.startsWith('2001:db8:'), a).toBe(true);
  });

  it('creates each namespace before using it', () => {
    const created = new Set<string>();
    for (const s of steps) {
      if (s.kind === 'netns-add') created.add(s.netns);
      else expect(created.has(s.netns), `${s.netns} used before it exists`).toBe(true);
    }
  });

  it('node namespaces get strictARP sysctls and local pool routes; the client does not', () => {
    for (const ns of ['hlb-node1', 'hlb-node3']) {
      const mine = steps.filter((s) => s.netns === ns);
      expect(
        mine.some((s) => s.kind === 'sysctl' && s.settings.includes('net.ipv4.conf.all.arp_ignore=1')),
      ).toBe(true);
      const routes = mine.filter(
        (s) => s.kind === 'ip' && s.argv.includes('local') && s.argv.includes('table'),
      );
      expect(routes.length).toBe(t.poolCidrs.v4.length + t.poolCidrs.v6.length);
    }
    const client = steps.filter((s) => s.netns === 'hlb-client');
    expect(client.some((s) => s.kind === 'sysctl')).toBe(false);
    expect(
      client.some((s) => s.kind === 'ip' && s.argv.join(' ') === 'route add 203.0.113.0/24 dev eth0'),
    ).toBe(true);
  });

  it('stepArgv refuses a step outside the lab', () => {
    expect(() => stepArgv({ kind: 'ip', netns: 'default', argv: ['link'] })).toThrow(/outside the lab/);
  });
});

describe('lab names', () => {
  it('linkStep acts on the bridge port in hlb-lan', () => {
    const h = planTopology({ nodes: 1, ipv6: false }).nodes[0]!;
    expect(stepArgv(linkStep(h, false)).args).toEqual(['-n', 'hlb-lan', 'link', 'set', 'vnode1', 'down']);
  });

  it.each([
    ['hlb-lan', true],
    ['hlb-client', true],
    ['hlb-node12', true],
    ['hlb-test-x', false],
    ['lan', false],
  ])('isLabNetns(%s) = %s', (name, want) => {
    expect(isLabNetns(name)).toBe(want);
  });
});
