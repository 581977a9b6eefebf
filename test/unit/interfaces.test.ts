import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type InterfaceFiles,
  listInterfaces,
  type NetInterface,
  parseInterface,
  usableInterfaces,
} from '../../speaker/interfaces.js';

const eth = (over: Partial<InterfaceFiles> = {}): InterfaceFiles => ({
  ifindex: '2\n',
  address: '02:42:AC:11:00:02\n',
  flags: '0x1003\n',
  hasMaster: false,
  ...over,
});

describe('parseInterface', () => {
  const cases: { what: string; files: InterfaceFiles; want: Partial<NetInterface> | undefined }[] = [
    {
      what: 'an Ethernet interface that is up',
      files: eth(),
      want: {
        ifindex: 2,
        mac: '02:42:ac:11:00:02',
        up: true,
        broadcast: true,
        loopback: false,
        enslaved: false,
      },
    },
    { what: 'down', files: eth({ flags: '0x1002' }), want: { up: false, broadcast: true } },
    {
      what: 'loopback',
      files: eth({ address: '00:00:00:00:00:00', flags: '0x9' }),
      want: { loopback: true, broadcast: false, up: true },
    },
    { what: 'a bridge port', files: eth({ hasMaster: true }), want: { enslaved: true } },
    {
      what: 'point-to-point (no IFF_BROADCAST)',
      files: eth({ flags: '0x1091' }),
      want: { broadcast: false },
    },
    { what: 'no hardware address (tun, WireGuard)', files: eth({ address: '\n' }), want: undefined },
    { what: 'a 16-byte address (ip6tnl)', files: eth({ address: `${'00:'.repeat(15)}00` }), want: undefined },
    {
      what: 'ifindex missing (interface gone mid-read)',
      files: eth({ ifindex: undefined }),
      want: undefined,
    },
    { what: 'ifindex not a number', files: eth({ ifindex: 'x' }), want: undefined },
    { what: 'flags not hex', files: eth({ flags: '4099' }), want: undefined },
  ];
  for (const c of cases)
    it(c.what, () => {
      const got = parseInterface('eth0', c.files);
      if (c.want === undefined) expect(got).toBeUndefined();
      else expect(got).toMatchObject({ name: 'eth0', ...c.want });
    });

  it('never throws and always yields a lower-case MAC', () => {
    fc.assert(
      fc.property(
        fc.record({
          ifindex: fc.option(fc.string(), { nil: undefined }),
          address: fc.option(fc.string(), { nil: undefined }),
          flags: fc.option(fc.string(), { nil: undefined }),
          hasMaster: fc.boolean(),
        }),
        (files) => {
          const got = parseInterface('x', files);
          if (got) expect(got.mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
        },
      ),
    );
  });
});

describe('usableInterfaces', () => {
  it('keeps only up, broadcast, non-loopback, non-enslaved interfaces', () => {
    const base = parseInterface('eth0', eth()) as NetInterface;
    const list: NetInterface[] = [
      base,
      { ...base, name: 'down0', up: false },
      { ...base, name: 'lo', loopback: true },
      { ...base, name: 'ptp0', broadcast: false },
      { ...base, name: 'port0', enslaved: true },
    ];
    const before = structuredClone(list);
    expect(usableInterfaces(list).map((i) => i.name)).toEqual(['eth0']);
    expect(list).toEqual(before);
  });
});

describe('listInterfaces on a fake sysfs', () => {
  let root = '';
  afterEach(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  function iface(name: string, files: Record<string, string>): void {
    mkdirSync(join(root, name));
    for (const [f, text] of Object.entries(files)) writeFileSync(join(root, name, f), text);
  }

  it('reads flags, address, ifindex and master, skips what is not an interface', () => {
    root = mkdtempSync(join(tmpdir(), 'hn-sysfs-'));
    iface('lo', { ifindex: '1\n', address: '00:00:00:00:00:00\n', flags: '0x9\n' });
    iface('eth0', { ifindex: '3\n', address: 'AA:BB:CC:DD:EE:01\n', flags: '0x1003\n' });
    iface('br0', { ifindex: '4\n', address: 'aa:bb:cc:dd:ee:02\n', flags: '0x1003\n' });
    iface('eth1', { ifindex: '2\n', address: 'aa:bb:cc:dd:ee:03\n', flags: '0x1003\n' });
    symlinkSync('../br0', join(root, 'eth1', 'master'));
    iface('wg0', { ifindex: '5\n', address: '\n', flags: '0x91\n' });
    writeFileSync(join(root, 'bonding_masters'), 'bond0\n');

    const list = listInterfaces(root);
    expect(list.map((i) => [i.name, i.ifindex])).toEqual([
      ['lo', 1],
      ['eth1', 2],
      ['eth0', 3],
      ['br0', 4],
    ]);
    expect(list.find((i) => i.name === 'eth0')?.mac).toBe('aa:bb:cc:dd:ee:01');
    expect(list.find((i) => i.name === 'eth1')?.enslaved).toBe(true);
    expect(usableInterfaces(list).map((i) => i.name)).toEqual(['eth0', 'br0']);
  });
});
