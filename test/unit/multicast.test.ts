import type { Socket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { SolicitedNodeGroups, solicitedNodeGroup } from '../../speaker/multicast.js';

describe('solicitedNodeGroup', () => {
  const cases: [string, string][] = [
    ['2001:db8::1', 'ff02::1:ff00:1'],
    ['2001:db8::abcd:1234', 'ff02::1:ffcd:1234'],
    ['fe80::2c0:ffee:fe12:3456', 'ff02::1:ff12:3456'],
    ['2001:DB8::FF:FFFF', 'ff02::1:ffff:ffff'],
  ];
  for (const [ip, group] of cases) it(`${ip} -> ${group}`, () => expect(solicitedNodeGroup(ip)).toBe(group));
  it('refuses IPv4 and garbage', () => {
    expect(() => solicitedNodeGroup('192.0.2.1')).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_IPV6' }),
    );
    expect(() => solicitedNodeGroup('2001:db8::1%eth0')).toThrow();
  });
});

describe('SolicitedNodeGroups', () => {
  function fake() {
    const calls: string[] = [];
    const socket = {
      unref: () => socket,
      addMembership: (g: string, i: string) => void calls.push(`add ${g} ${i}`),
      dropMembership: (g: string, i: string) => void calls.push(`drop ${g} ${i}`),
      close: () => void calls.push('close'),
    };
    let made = 0;
    const groups = new SolicitedNodeGroups('eth0', () => {
      made++;
      return socket as unknown as Socket;
    });
    return { calls, groups, made: () => made };
  }

  it('does no I/O until the first join, and ref-counts groups shared by addresses', () => {
    const { calls, groups, made } = fake();
    expect(made()).toBe(0);
    groups.join('2001:db8::abcd:1234');
    groups.join('2001:db8:1::cd:1234'); // same low 24 bits, same group
    groups.join('2001:db8::2');
    groups.leave('2001:db8::abcd:1234');
    groups.leave('2001:db8::99'); // never joined: no-op
    groups.leave('2001:db8:1::cd:1234');
    groups.close();
    expect(made()).toBe(1);
    expect(calls).toEqual([
      'add ff02::1:ffcd:1234 ::%eth0',
      'add ff02::1:ff00:2 ::%eth0',
      'drop ff02::1:ffcd:1234 ::%eth0',
      'close',
    ]);
  });

  it('names the group and interface when the kernel refuses', () => {
    const groups = new SolicitedNodeGroups('nosuch0', () => {
      const s = {
        unref: () => s,
        addMembership: () => {
          throw Object.assign(new Error('addMembership ENODEV'), { code: 'ENODEV' });
        },
      };
      return s as unknown as Socket;
    });
    expect(() => groups.join('2001:db8::1')).toThrow(
      expect.objectContaining({ code: 'ENODEV', message: 'cannot join ff02::1:ff00:1 on nosuch0' }),
    );
  });
});
