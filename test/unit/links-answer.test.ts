import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../kube/log.js';
import { type AnswerTable, type LinkAddon, type LinkSocket, openLink } from '../../speaker/link.js';
import { Links } from '../../speaker/links.js';

// Pure wiring: which table each socket's fast path gets, and the fallback without one.
function fakeSocket(ifname: string, tables: Map<string, AnswerTable[]>): LinkSocket {
  tables.set(ifname, []);
  return {
    ifname,
    ifindex: 1,
    send: () => {},
    sendBatch: (f) => f.length,
    stats: () => ({ received: 0, dropped: 0, sent: 0 }),
    setAnswers: (t) => {
      tables.get(ifname)?.push(t);
      return true;
    },
    deliverAnswered: () => true,
    close: () => {},
  };
}

const iface = (name: string, mac: string) => ({ name, mac }) as never;

describe('Links.answer: level-triggered fast-path tables', () => {
  it('pushes each interface its own IPs, all our MACs, and again to a socket opened later', () => {
    const tables = new Map<string, AnswerTable[]>();
    let list = [iface('eth0', '02:00:00:00:00:01')];
    const links = new Links({
      list: () => list,
      open: (name) => fakeSocket(name, tables),
      onFrame: () => {},
      onLinkUp: () => {},
      carrier: () => true,
      log: silentLogger(),
    });
    links.refresh();
    links.answer(
      new Map([
        ['192.0.2.10', undefined],
        ['2001:db8::10', new Set(['eth1'])],
      ]),
    );
    expect(tables.get('eth0')?.at(-1)).toEqual({
      mac: '02:00:00:00:00:01',
      ourMacs: ['02:00:00:00:00:01'],
      ips: ['192.0.2.10'],
    });
    list = [...list, iface('eth1', '02:00:00:00:00:02')];
    links.refresh();
    expect(tables.get('eth1')?.at(-1)?.ips).toEqual(['192.0.2.10', '2001:db8::10']);
    expect(tables.get('eth0')?.at(-1)?.ourMacs).toEqual(['02:00:00:00:00:01', '02:00:00:00:00:02']);
    links.answer(new Map());
    for (const t of tables.values()) expect(t.at(-1)?.ips).toEqual([]);
  });

  it('an addon without the fast path: setAnswers is false and frames come unanswered', () => {
    let deliver: ((f: Buffer[], a?: Uint8Array) => void) | undefined;
    const addon: LinkAddon = {
      open: (_n, cb) => {
        deliver = cb;
        return { handle: {}, ifindex: 2 };
      },
      send: () => {},
      sendBatch: () => 0,
      stats: () => ({ received: 0, dropped: 0, sent: 0 }),
      close: () => {},
    };
    const seen: boolean[] = [];
    const link = openLink('eth0', (_f, answered) => seen.push(answered), { addon });
    expect(link.setAnswers({ mac: '02:00:00:00:00:01', ourMacs: [], ips: ['192.0.2.1'] })).toBe(false);
    deliver?.([Buffer.alloc(42)]);
    deliver?.([Buffer.alloc(42), Buffer.alloc(42)], Uint8Array.from([0, 1]));
    expect(seen).toEqual([false, false, true]);
  });
});

describe('Links.fastPathCounts: answers the reader threads sent, for the metrics', () => {
  it('sums ARP and NS per socket and keeps what a closed socket had answered', () => {
    const answered = new Map([
      ['eth0', { answered: 5, answeredNs: 2 }],
      ['eth1', { answered: 3, answeredNs: 0 }],
    ]);
    let list = [iface('eth0', '02:00:00:00:00:01'), iface('eth1', '02:00:00:00:00:02')];
    const links = new Links({
      list: () => list,
      open: (name) => ({
        ...fakeSocket(name, new Map()),
        stats: () => ({ received: 0, dropped: 0, sent: 0, ...answered.get(name) }),
      }),
      onFrame: () => {},
      onLinkUp: () => {},
      carrier: () => true,
      log: silentLogger(),
    });
    links.refresh();
    expect(links.fastPathCounts()).toEqual({ arp: 6, ns: 2 });
    list = [iface('eth0', '02:00:00:00:00:01')]; // eth1 goes: its 3 stay counted
    links.refresh();
    answered.set('eth0', { answered: 7, answeredNs: 2 });
    expect(links.fastPathCounts()).toEqual({ arp: 8, ns: 2 });
    links.close();
    expect(links.fastPathCounts()).toEqual({ arp: 8, ns: 2 });
  });

  it('openLink({ answeredToJs: false }) asks the addon before any frame can come', () => {
    const calls: string[] = [];
    const addon: LinkAddon = {
      open: () => {
        calls.push('open');
        return { handle: {}, ifindex: 1 };
      },
      send: () => {},
      sendBatch: () => 0,
      stats: () => ({ received: 0, dropped: 0, sent: 0 }),
      close: () => {},
      deliverAnswered: (_h, yes) => void calls.push(`deliverAnswered ${yes}`),
    };
    openLink('eth0', () => {}, { addon, answeredToJs: false });
    openLink('eth0', () => {}, { addon });
    expect(calls).toEqual(['open', 'deliverAnswered false', 'open']);
  });
});
