// The pieces app.ts wires together and delegates to: who is live, which status records this
// node manages, how scrapes turn totals into counters, and per-interface group memberships.
import type { Socket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import type { L2Announcement } from '../../api/crd-types.js';
import type { OwnedIp } from '../../speaker/decider.js';
import { zeroCounters } from '../../speaker/membership/protocol.js';
import { ScrapeSampler, speakerMetrics } from '../../speaker/metrics.js';
import { InterfaceGroups, SolicitedNodeGroups } from '../../speaker/multicast.js';
import { liveSpeakers, type PeerPresence } from '../../speaker/presence.js';
import { managedAnnouncements, NODE_LABEL } from '../../speaker/status.js';

const NOW = 1_000_000;
const presence = (node: string, renewedAgoMs: number): PeerPresence => ({
  node,
  renewedAt: NOW - renewedAgoMs,
  durationMs: 10_000,
  macs: [],
});

describe('liveSpeakers', () => {
  const cases: {
    name: string;
    heard: string[];
    presences: PeerPresence[];
    notReady: string[];
    live: string[];
  }[] = [
    { name: 'self is live even when unheard', heard: [], presences: [], notReady: [], live: ['n1'] },
    {
      name: 'heard peers are live while their Lease is fresh',
      heard: ['n2'],
      presences: [presence('n2', 1000)],
      notReady: ['n2'],
      live: ['n1', 'n2'],
    },
    {
      name: 'an expired Lease alone does not kill a heard peer whose Node is Ready',
      heard: ['n2'],
      presences: [presence('n2', 60_000)],
      notReady: [],
      live: ['n1', 'n2'],
    },
    {
      name: 'expired Lease and Node not Ready: dead, whatever packets claim',
      heard: ['n2', 'n3'],
      presences: [presence('n2', 60_000), presence('n3', 1000)],
      notReady: ['n2', 'n3'],
      live: ['n1', 'n3'],
    },
    {
      name: 'our own Lease never removes us; an unheard peer stays dead',
      heard: [],
      presences: [presence('n1', 60_000), presence('n4', 1000)],
      notReady: ['n1'],
      live: ['n1'],
    },
  ];
  for (const c of cases)
    it(c.name, () => {
      const live = liveSpeakers('n1', c.heard, c.presences, (n) => !c.notReady.includes(n), NOW);
      expect([...live].sort()).toEqual(c.live);
    });
});

describe('managedAnnouncements', () => {
  const record = (name: string, node: string, service: string, label = node): L2Announcement =>
    ({
      apiVersion: 'heraldlb.io/v1beta1',
      kind: 'L2Announcement',
      metadata: { name, namespace: 'ns', labels: { [NODE_LABEL]: label } },
      status: { service, node, ips: [], interfaces: [], mac: '' },
    }) as L2Announcement;
  const stored = [
    record('web.n1', 'n1', 'web'),
    record('db.n1', 'n1', 'db'), // ours, for a Service we no longer announce: kept (to delete)
    record('web.n2', 'n2', 'web'), // dead peer, a Service we announce: ours to remove
    record('api.n3', 'n3', 'api'), // dead peer, a Service we do not announce: not ours
    record('web.n4', 'n4', 'web'), // live peer: its own business
  ];
  it('our own records, and dead speakers’ records of Services we announce', () => {
    const out = managedAnnouncements('n1', stored, new Set(['n1', 'n4']), new Set(['ns/web']));
    expect([...out.keys()].sort()).toEqual(['ns/db.n1', 'ns/web.n1', 'ns/web.n2']);
  });
  it('nothing of peers while they are live', () => {
    const out = managedAnnouncements('n1', stored, new Set(['n1', 'n2', 'n3', 'n4']), new Set(['ns/web']));
    expect([...out.keys()].sort()).toEqual(['ns/db.n1', 'ns/web.n1']);
  });
});

describe('ScrapeSampler', () => {
  const owned = (ips: string[]) =>
    new Map(
      ips.map((ip) => [ip, { ip, family: ip.includes(':') ? 6 : 4, services: [] } as unknown as OwnedIp]),
    );
  const stats = (auth: number, replays: number, rttMs: number[] = []) => ({
    sent: 0,
    received: 0,
    authFailures: auth,
    replays,
    malformed: 0,
    rttMs,
    peersAlive: 2,
    counters: zeroCounters(),
  });

  it('adds each total once, as the delta since the previous scrape, never a negative step', () => {
    const m = speakerMetrics();
    const s = new ScrapeSampler(m);
    s.sample({
      owned: owned(['192.0.2.1', '2001:db8::1', '2001:db8::2']),
      membership: stats(2, 1, [1, 2]),
      conflicted: 1,
      fastPath: { arp: 10, ns: 4 },
    });
    s.sample({
      owned: owned(['192.0.2.1']),
      membership: stats(5, 1),
      conflicted: 0,
      fastPath: { arp: 25, ns: 4 },
    });
    expect(m.ownedIps.get({ family: 'IPv4' })).toBe(1);
    expect(m.ownedIps.get({ family: 'IPv6' })).toBe(0);
    expect(m.authFailures.get({ why: 'auth' })).toBe(5);
    expect(m.authFailures.get({ why: 'replay' })).toBe(1);
    expect(m.arpRequests.get()).toBe(25);
    expect(m.replies.get({ family: 'IPv4' })).toBe(25);
    expect(m.nsReceived.get()).toBe(4);
    expect(m.replies.get({ family: 'IPv6' })).toBe(4);
    expect(m.conflicted.get()).toBe(0);
    expect(m.peersAlive.get()).toBe(2);
    // A restarted source counts from zero again: nothing is subtracted.
    s.sample({ owned: owned([]), membership: stats(0, 0), conflicted: 0, fastPath: { arp: 3, ns: 0 } });
    expect(m.authFailures.get({ why: 'auth' })).toBe(5);
    expect(m.arpRequests.get()).toBe(25);
    s.sample({ owned: owned([]), membership: stats(1, 0), conflicted: 0, fastPath: { arp: 5, ns: 0 } });
    expect(m.authFailures.get({ why: 'auth' })).toBe(6);
    expect(m.arpRequests.get()).toBe(27);
  });
});

describe('InterfaceGroups', () => {
  function fake(failOn?: string) {
    const calls: string[] = [];
    const make = (ifname: string) =>
      new SolicitedNodeGroups(ifname, () => {
        const socket = {
          unref: () => socket,
          addMembership: (g: string, i: string) => {
            if (i.endsWith(`%${failOn}`)) throw Object.assign(new Error('no'), { code: 'ENODEV' });
            calls.push(`add ${g} ${i}`);
          },
          dropMembership: (g: string, i: string) => void calls.push(`drop ${g} ${i}`),
          close: () => void calls.push(`close ${ifname}`),
        };
        return socket as unknown as Socket;
      });
    return { calls, make };
  }

  it('joins IPv6 addresses on the interfaces given, ignores IPv4, leaves wherever joined', () => {
    const { calls, make } = fake();
    const errors: string[] = [];
    const g = new InterfaceGroups((ip, ifname) => errors.push(`${ip} ${ifname}`), make);
    g.join('192.0.2.1', ['eth0']);
    g.join('2001:db8::1', ['eth0', 'eth1']);
    g.leave('2001:db8::1');
    g.leave('2001:db8::2'); // never joined
    g.close();
    expect(calls).toEqual([
      'add ff02::1:ff00:1 ::%eth0',
      'add ff02::1:ff00:1 ::%eth1',
      'drop ff02::1:ff00:1 ::%eth0',
      'drop ff02::1:ff00:1 ::%eth1',
      'close eth0',
      'close eth1',
    ]);
    expect(errors).toEqual([]);
  });

  it('reports a refused join and goes on with the other interfaces', () => {
    const { calls, make } = fake('eth0');
    const errors: string[] = [];
    const g = new InterfaceGroups((ip, ifname) => errors.push(`${ip} ${ifname}`), make);
    g.join('2001:db8::1', ['eth0', 'eth1']);
    expect(errors).toEqual(['2001:db8::1 eth0']);
    expect(calls).toEqual(['add ff02::1:ff00:1 ::%eth1']);
  });
});
