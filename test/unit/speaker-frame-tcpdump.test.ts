// A second opinion on the frames the speaker sends: tcpdump decodes them from a pcap file and
// verifies every ICMPv6 checksum. No network, no root: it only reads a file.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  arpProbe,
  arpReply,
  gratuitousArp,
  neighborAdvert,
  nsProbe,
  unsolicitedNA,
} from '../../speaker/frame.js';
import { missing, refuseOrWarn } from '../support/prerequisites.js';

const ready = refuseOrWarn('tcpdump frame cross-check', missing({ commands: ['tcpdump'] }));
const dir = mkdtempSync(join(tmpdir(), 'speaker-pcap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A classic pcap file (microsecond timestamps, Ethernet link type) holding `frames`. */
function pcap(frames: Buffer[]): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(1, 20);
  const records = frames.map((f, i) => {
    const h = Buffer.alloc(16);
    h.writeUInt32LE(i, 0);
    h.writeUInt32LE(f.length, 8);
    h.writeUInt32LE(f.length, 12);
    return Buffer.concat([h, f]);
  });
  return Buffer.concat([header, ...records]);
}

function decode(frames: Buffer[]): string[] {
  const file = join(dir, `f${Math.random().toString(36).slice(2)}.pcap`);
  writeFileSync(file, pcap(frames));
  const out = execFileSync('tcpdump', ['-nn', '-e', '-vv', '-r', file], { encoding: 'utf8', stdio: 'pipe' });
  // One entry per frame: continuation lines (options, hex) start with whitespace.
  return out.split(/\n(?=\d\d:)/).map((s) => s.replace(/\s+/g, ' ').trim());
}

const MAC = '02:00:00:00:00:aa';
const PEER = '02:00:00:00:00:01';

describe.runIf(ready)('tcpdump reads the speaker frames as intended', () => {
  it('ARP: gratuitous request and reply, probe, reply', () => {
    const lines = decode([
      ...gratuitousArp('192.0.2.10', MAC),
      arpProbe('192.0.2.10', MAC),
      arpReply({ senderMac: PEER, senderIp: '192.0.2.1', targetIp: '192.0.2.10' }, MAC),
    ]);
    expect(lines).toHaveLength(4);
    expect(lines[0]).toContain(`${MAC} > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806)`);
    expect(lines[0]).toContain('Request who-has 192.0.2.10 tell 192.0.2.10');
    expect(lines[1]).toContain(`Reply 192.0.2.10 is-at ${MAC}`);
    expect(lines[2]).toContain('Request who-has 192.0.2.10 tell 0.0.0.0');
    expect(lines[3]).toContain(`${MAC} > ${PEER}, ethertype ARP`);
    expect(lines[3]).toContain(`Reply 192.0.2.10 is-at ${MAC}`);
  });

  it('NDP: checksums verified, flags, addresses and options', () => {
    const lines = decode([
      unsolicitedNA('2001:db8::10', MAC),
      nsProbe('2001:db8::10', MAC),
      neighborAdvert({ srcMac: PEER, srcIp: 'fe80::1', targetIp: '2001:db8::10', sourceLinkAddr: PEER }, MAC),
      neighborAdvert({ srcMac: PEER, srcIp: '::', targetIp: '2001:db8::10' }, MAC),
    ]);
    expect(lines).toHaveLength(4);
    for (const l of lines) {
      expect(l).toContain('[icmp6 sum ok]');
      expect(l).toContain('hlim 255');
    }
    expect(lines[0]).toContain(`${MAC} > 33:33:00:00:00:01`);
    expect(lines[0]).toMatch(
      /2001:db8::10 > ff02::1: .*neighbor advertisement.*tgt is 2001:db8::10, Flags \[override\]/,
    );
    expect(lines[0]).toContain(`link-address option (2), length 8 (1): ${MAC}`);
    expect(lines[1]).toContain(`${MAC} > 33:33:ff:00:00:10`);
    expect(lines[1]).toMatch(
      /:: > ff02::1:ff00:10: .*neighbor solicitation, length 24, who has 2001:db8::10$/,
    );
    expect(lines[2]).toContain(`${MAC} > ${PEER}`);
    expect(lines[2]).toMatch(/2001:db8::10 > fe80::1: .*Flags \[solicited, override\]/);
    expect(lines[3]).toMatch(/2001:db8::10 > ff02::1: .*Flags \[override\]/);
  });
});
