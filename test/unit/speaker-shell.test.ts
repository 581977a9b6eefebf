// The speaker's own decision pieces around the pure core: what to answer, what changed, the
// status objects, the GARP bursts and the guard's probes — with real frames and a fake clock.
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../kube/clock.js';
import { Announcer } from '../../speaker/announcer.js';
import { answerIndex, type OwnedIp, transition } from '../../speaker/decider.js';
import { rank } from '../../speaker/election.js';
import { arpProbe, gratuitousArp, type Inbound, parseFrame } from '../../speaker/frame.js';
import { Guard } from '../../speaker/guard.js';
import { parseOptions, UsageError } from '../../speaker/options.js';
import { respond } from '../../speaker/responder.js';
import { announcementName, desiredAnnouncements, nodeLabelValue } from '../../speaker/status.js';

const OUR = '02:00:00:00:00:01';
const PEER = '02:00:00:00:00:02';
const ASKER = '02:00:00:00:00:09';

const arpRequest = (target: string, senderMac = ASKER, senderIp = '192.0.2.100'): Inbound => ({
  kind: 'arp-request',
  srcMac: senderMac,
  dstMac: 'ff:ff:ff:ff:ff:ff',
  targetMac: '00:00:00:00:00:00',
  senderMac,
  senderIp,
  targetIp: target,
});

describe('responder', () => {
  const owned = new Map([
    ['192.0.2.200', undefined],
    ['192.0.2.201', new Set(['eth1'])],
  ]);
  const ours = new Set([OUR]);

  it.each([
    ['an owned IP on any interface', arpRequest('192.0.2.200'), 'eth0', 'reply'],
    ['an owned IP on its interface', arpRequest('192.0.2.201'), 'eth1', 'reply'],
    ['an owned IP on another interface', arpRequest('192.0.2.201'), 'eth0', 'ignore'],
    ['an IP not ours', arpRequest('192.0.2.202'), 'eth0', 'ignore'],
    ['our own request', arpRequest('192.0.2.200', OUR), 'eth0', 'ignore'],
    [
      'a probe (sender 0.0.0.0) for our IP: defended',
      arpRequest('192.0.2.200', ASKER, '0.0.0.0'),
      'eth0',
      'reply',
    ],
    [
      'a peer\u2019s gratuitous ARP for our IP',
      arpRequest('192.0.2.200', PEER, '192.0.2.200'),
      'eth0',
      'foreign',
    ],
  ] as const)('ARP request: %s -> %s', (_, msg, ifname, kind) => {
    expect(respond(msg, ifname, OUR, owned, ours).kind).toBe(kind);
  });

  it('a reply answers the asker with our MAC and parses back', () => {
    const v = respond(arpRequest('192.0.2.200'), 'eth0', OUR, owned, ours);
    if (v.kind !== 'reply') throw new Error(v.kind);
    const back = parseFrame(v.frame);
    expect(back).toMatchObject({
      ok: true,
      msg: { kind: 'arp-reply', senderMac: OUR, senderIp: '192.0.2.200', targetIp: '192.0.2.100' },
    });
  });

  it('an ARP reply for an owned or watched IP from another MAC is a foreign claim', () => {
    const reply: Inbound = {
      kind: 'arp-reply',
      srcMac: PEER,
      dstMac: OUR,
      targetMac: OUR,
      senderMac: PEER,
      senderIp: '192.0.2.210',
      targetIp: '0.0.0.0',
    };
    expect(respond(reply, 'eth0', OUR, owned, ours).kind).toBe('ignore');
    expect(respond(reply, 'eth0', OUR, owned, ours, (ip) => ip === '192.0.2.210')).toEqual({
      kind: 'foreign',
      ip: '192.0.2.210',
      mac: PEER,
    });
  });
});

const own = (ip: string, services = ['default/a'], interfaces?: string[]): OwnedIp => ({
  ip,
  family: ip.includes(':') ? 6 : 4,
  services,
  interfaces,
});

describe('transition', () => {
  it('names gained, lost and changed IPs', () => {
    const before = new Map([
      ['192.0.2.1', own('192.0.2.1')],
      ['192.0.2.2', own('192.0.2.2')],
    ]);
    const after = new Map([
      ['192.0.2.2', own('192.0.2.2', ['default/a', 'default/b'])],
      ['192.0.2.3', own('192.0.2.3')],
    ]);
    const t = transition(before, after);
    expect(t.gained.map((o) => o.ip)).toEqual(['192.0.2.3']);
    expect(t.lost).toEqual(['192.0.2.1']);
    expect(t.changed.map((o) => o.ip)).toEqual(['192.0.2.2']);
    expect(transition(after, after)).toEqual({ gained: [], lost: [], changed: [] });
  });
});

describe('answerIndex', () => {
  it('keeps each IP on its own interfaces, and every interface where it names none', () => {
    const owned = new Map<string, OwnedIp>([
      ['192.0.2.1', { ...own('192.0.2.1'), interfaces: ['eth1', 'eth0'] }],
      ['2001:db8::1', { ...own('2001:db8::1'), family: 6, interfaces: undefined }],
    ]);
    const index = answerIndex(owned);
    expect([...index.keys()]).toEqual(['192.0.2.1', '2001:db8::1']);
    expect(index.get('192.0.2.1')).toEqual(new Set(['eth0', 'eth1']));
    expect(index.has('2001:db8::1')).toBe(true);
    expect(index.get('2001:db8::1')).toBeUndefined();
    expect(answerIndex(new Map()).size).toBe(0);
  });
});

describe('status objects', () => {
  it('one per Service, named <service>.<node>, only for Services seen', () => {
    const owned = new Map([
      ['192.0.2.1', own('192.0.2.1', ['default/web', 'default/web2'])],
      ['2001:db8::1', own('2001:db8::1', ['default/web'], ['eth1'])],
    ]);
    const out = desiredAnnouncements('node1', owned, {
      since: new Map([['192.0.2.1', '2026-01-01T00:00:00.000Z']]),
      macs: new Map([
        ['eth0', OUR],
        ['eth1', PEER],
      ]),
      allInterfaces: ['eth0'],
      services: new Map([['default/web', { uid: 'u1' }]]),
    });
    expect([...out.keys()]).toEqual(['default/web.node1']);
    const o = out.get('default/web.node1');
    expect(o?.status).toEqual({
      service: 'web',
      node: 'node1',
      ips: ['192.0.2.1', '2001:db8::1'],
      interfaces: ['eth0', 'eth1'],
      mac: OUR,
      since: '2026-01-01T00:00:00.000Z',
    });
    expect(o?.metadata.ownerReferences).toEqual([
      { apiVersion: 'v1', kind: 'Service', name: 'web', uid: 'u1' },
    ]);
  });

  it('long names stay within the API limits and distinct', () => {
    const long = 'n'.repeat(300);
    expect(announcementName('svc', long).length).toBeLessThanOrEqual(253);
    expect(announcementName('svc', long)).not.toBe(announcementName('svc', `${long}x`));
    expect(nodeLabelValue(long).length).toBeLessThanOrEqual(63);
    expect(nodeLabelValue('node1')).toBe('node1');
  });
});

describe('announcer', () => {
  it('bursts at every offset, only for IPs still owned, batched per interface', async () => {
    const clock = new FakeClock();
    const owned = new Map([
      ['192.0.2.1', own('192.0.2.1')],
      ['2001:db8::1', own('2001:db8::1')],
    ]);
    const sent: { at: number; ifname: string; n: number }[] = [];
    const a = new Announcer({
      clock,
      offsetsMs: [0, 250, 1000],
      current: (ip) => owned.get(ip),
      interfacesOf: () => ['eth0', 'eth1'],
      macOf: () => OUR,
      send: (ifname, frames) => {
        sent.push({ at: clock.now(), ifname, n: frames.length });
        return frames.length;
      },
    });
    const t0 = clock.now();
    a.takeover(['192.0.2.1', '2001:db8::1']);
    expect(sent).toEqual([
      { at: t0, ifname: 'eth0', n: 3 }, // GARP request + reply, one NA
      { at: t0, ifname: 'eth1', n: 3 },
    ]);
    await clock.advance(250);
    expect(sent.length).toBe(4);
    owned.delete('192.0.2.1'); // no longer ours: never announced again
    await clock.advance(750);
    expect(sent.slice(4)).toEqual([
      { at: t0 + 1000, ifname: 'eth0', n: 1 },
      { at: t0 + 1000, ifname: 'eth1', n: 1 },
    ]);
    a.stop();
    expect(clock.pendingTimers()).toBe(0);
  });

  it('gratuitous ARP is a request and a reply with sender = target = the IP', () => {
    const [req, rep] = gratuitousArp('192.0.2.9', OUR);
    expect(parseFrame(req)).toMatchObject({
      ok: true,
      msg: { kind: 'arp-request', senderIp: '192.0.2.9', targetIp: '192.0.2.9' },
    });
    expect(parseFrame(rep)).toMatchObject({
      ok: true,
      msg: { kind: 'arp-reply', senderIp: '192.0.2.9', targetIp: '192.0.2.9' },
    });
    expect(parseFrame(arpProbe('192.0.2.9', OUR))).toMatchObject({ ok: true, msg: { senderIp: '0.0.0.0' } });
  });
});

function guard(over: Partial<ConstructorParameters<typeof Guard>[0]> = {}) {
  const clock = new FakeClock();
  const probes: string[] = [];
  const conflicts: [string, string][] = [];
  let changes = 0;
  const urgency: boolean[] = []; // each onChange's `urgent`
  const owned = new Set<string>();
  const g = new Guard({
    self: 'node1',
    clock,
    rank,
    probeWindowMs: 300,
    reprobeMs: 30_000,
    selfProbeMs: 2000,
    probe: (ip) => probes.push(ip),
    speakerOf: (mac) => (mac === PEER ? 'node2' : undefined),
    owned: () => owned,
    onChange: (urgent) => {
      changes++;
      urgency.push(urgent);
    },
    onConflict: (ip, mac) => conflicts.push([ip, mac]),
    onSplitBrain: () => undefined,
    ...over,
  });
  g.start();
  return { g, clock, probes, conflicts, owned, changes: () => changes, urgency };
}

describe('guard', () => {
  it('a first announcement waits for a quiet probe; a failover does not wait', async () => {
    const { g, clock, probes, urgency } = guard();
    expect(g.mayAnnounce('192.0.2.1', false)).toBe(true);
    expect(g.mayAnnounce('192.0.2.2', true)).toBe(false);
    await clock.advance(150);
    expect(probes).toEqual(['192.0.2.2', '192.0.2.2']); // one lost frame must not hide a host
    await clock.advance(150);
    expect(urgency).toEqual([false]); // a probe's end may wait for the spaced replan
    expect(g.mayAnnounce('192.0.2.2', true)).toBe(true);
  });

  it('a foreign host answering the probe holds the IP back and is reported; it is probed again later', async () => {
    const { g, clock, conflicts } = guard();
    g.mayAnnounce('192.0.2.2', true);
    expect(g.watching('192.0.2.2')).toBe(true);
    g.foreign('192.0.2.2', ASKER, false);
    await clock.advance(300);
    expect(conflicts).toEqual([['192.0.2.2', ASKER]]);
    expect(g.mayAnnounce('192.0.2.2', true)).toBe(false);
    expect(g.holds().conflicted.get('192.0.2.2')).toBe(ASKER);
    await clock.advance(30_000);
    expect(g.holds().conflicted.size).toBe(0);
  });

  it('split brain: the lower-ranked speaker yields, and takes the IP back once the other falls silent', async () => {
    // Find an IP node2 wins against node1 and one it loses.
    const ips = Array.from({ length: 50 }, (_, i) => `192.0.2.${i + 1}`);
    const peerWins = ips.find((ip) => rank('node2', ip) < rank('node1', ip)) as string;
    const weWin = ips.find((ip) => rank('node1', ip) < rank('node2', ip)) as string;
    const { g, clock, owned, urgency } = guard();
    owned.add(peerWins).add(weWin);
    g.foreign(weWin, PEER, true);
    expect(g.holds().yielded.has(weWin)).toBe(false);
    g.foreign(peerWins, PEER, true);
    expect(g.holds().yielded.get(peerWins)).toBe('node2');
    expect(urgency).toEqual([true]); // yielding cannot wait: two MACs answer until we replan
    owned.delete(peerWins);
    await clock.advance(2000);
    g.foreign(peerWins, PEER, false); // still answering our probe
    await clock.advance(4000);
    expect(g.holds().yielded.has(peerWins)).toBe(true);
    await clock.advance(6000); // silent since: ours again
    expect(g.holds().yielded.has(peerWins)).toBe(false);
    expect(urgency).toEqual([true, true]); // taking it back is a failover: at once too
    g.stop();
  });
});

describe('speaker options', () => {
  it('needs a node name; names a bad flag', () => {
    expect(() => parseOptions([], {})).toThrow(/--node-name is required/);
    expect(() => parseOptions(['--node-name', 'n1', '--dead-after', '100ms'], {})).toThrow(/--dead-after/);
    expect(() => parseOptions(['--node-name', 'n1', '--heartbeat-port', '0'], {})).toThrow(UsageError);
    const o = parseOptions([], { NODE_NAME: 'n1' });
    expect(o).toMatchObject({
      nodeName: 'n1',
      garpOffsetsMs: [0, 250, 1000, 2000, 4000],
      heartbeatPort: 7947,
    });
  });

  it.each(['', '250,100', 'soon'])('refuses the GARP schedule %j naming the flag', (s) => {
    expect(() => parseOptions(['--node-name', 'n1', '--garp-schedule', s], {})).toThrow(/--garp-schedule/);
  });
});
