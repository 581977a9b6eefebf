import { describe, expect, it } from 'vitest';
import { arpProbe, nsProbe } from '../../speaker/frame.js';
import { Prober } from '../../speaker/prober.js';

const MAC = '02:00:00:00:00:01';
const MAC2 = '02:00:00:00:00:02';

function harness() {
  const sent: { ifname: string; frames: readonly Buffer[] }[] = [];
  const deferred: (() => void)[] = [];
  const p = new Prober({
    send: (ifname, frames) => {
      sent.push({ ifname, frames });
      return frames.length;
    },
    defer: (fn) => deferred.push(fn),
  });
  const turn = () => {
    for (const fn of deferred.splice(0)) fn();
  };
  return { p, sent, turn, deferred };
}

describe('Prober', () => {
  it('sends an ARP probe for IPv4 and a DAD-style NS for IPv6, byte for byte as frame.ts builds them', () => {
    const { p, sent, turn } = harness();
    p.probe('192.0.2.10', [['eth0', MAC]]);
    p.probe('2001:db8::10', [['eth0', MAC]]);
    turn();
    expect(sent).toHaveLength(1);
    expect(sent[0]?.frames).toEqual([arpProbe('192.0.2.10', MAC), nsProbe('2001:db8::10', MAC)]);
  });

  it('sends what one turn probed as one batch per interface, after the turn', () => {
    const { p, sent, turn, deferred } = harness();
    for (let i = 1; i <= 300; i++)
      p.probe(`192.0.2.${i % 250}`, [
        ['eth0', MAC],
        ['eth1', MAC2],
      ]);
    expect(sent).toEqual([]); // nothing before the turn ends
    expect(deferred).toHaveLength(1); // one flush, however many probes
    turn();
    expect(sent.map((s) => [s.ifname, s.frames.length])).toEqual([
      ['eth0', 300],
      ['eth1', 300],
    ]);
    p.probe('192.0.2.1', [['eth1', MAC2]]);
    turn();
    expect(sent.map((s) => s.ifname)).toEqual(['eth0', 'eth1', 'eth1']);
  });

  it('builds each frame once per MAC and IP, and keeps a bounded number', () => {
    const { p, sent, turn } = harness();
    p.probe('2001:db8::1', [['eth0', MAC]]);
    p.probe('2001:db8::1', [
      ['eth0', MAC],
      ['eth1', MAC2],
    ]);
    turn();
    const [a, b, c] = sent.flatMap((s) => s.frames);
    expect(a).toBe(b); // the same Buffer, not an equal copy
    expect(c).not.toBe(a);
    expect(c).toEqual(nsProbe('2001:db8::1', MAC2));
    for (let i = 0; i < 5000; i++) p.probe(`2001:db8::${i.toString(16)}`, [['eth0', MAC]]);
    turn();
    expect(p.cached).toBeLessThanOrEqual(4096);
  });

  it('probing on no interface sends nothing', () => {
    const { p, sent, turn, deferred } = harness();
    p.probe('192.0.2.1', []);
    expect(deferred).toHaveLength(0);
    turn();
    expect(sent).toEqual([]);
  });

  it('reports a batch the interface did not take whole', () => {
    const short: [string, number, number][] = [];
    const deferred: (() => void)[] = [];
    const p = new Prober({
      send: (_, frames) => Math.min(frames.length, 2),
      onShort: (ifname, sent, wanted) => short.push([ifname, sent, wanted]),
      defer: (fn) => deferred.push(fn),
    });
    for (const ip of ['192.0.2.1', '192.0.2.2']) p.probe(ip, [['eth0', MAC]]);
    for (const fn of deferred.splice(0)) fn();
    for (const ip of ['192.0.2.1', '192.0.2.2', '192.0.2.3']) p.probe(ip, [['eth0', MAC]]);
    for (const fn of deferred.splice(0)) fn();
    expect(short).toEqual([['eth0', 2, 3]]);
  });
});
