/**
 * Two network namespaces joined by one veth pair, for the link test and the `arp` bench.
 * Names must start with `hn-` (never the lab's hlb-*); addresses are documentation ones.
 * Only `ip netns add|del hn-…`, `ip -n hn-…` and `ip netns exec hn-…` run: the host's own
 * interfaces are never touched.
 */
import { execFileSync } from 'node:child_process';

export interface VethPair {
  /** namespace names; each holds one end called `veth0` */
  a: string;
  b: string;
  macA: string;
  macB: string;
  ipA: string;
  ipB: string;
}

const ip = (...args: string[]): string =>
  execFileSync('ip', args, { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });

export function vethPairNames(prefix: string): { a: string; b: string } {
  if (!/^hn-[a-z0-9-]{1,8}$/.test(prefix))
    throw new Error(`netns prefix ${prefix} must be hn-<up to 8 chars>`);
  return { a: `${prefix}-a`, b: `${prefix}-b` };
}

/** Deletes both namespaces if present (their veth ends go with them). */
export function deleteVethPair(prefix: string): void {
  const { a, b } = vethPairNames(prefix);
  for (const ns of [a, b]) {
    try {
      ip('netns', 'del', ns);
    } catch {
      // absent already
    }
  }
}

/** IPv6 documentation addresses on the two ends (nodad: usable at once). */
export const IPV6_A = '2001:db8:6e::1';
export const IPV6_B = '2001:db8:6e::2';

export function createVethPair(prefix: string, ipA = '192.0.2.1', ipB = '192.0.2.2'): VethPair {
  const { a, b } = vethPairNames(prefix);
  deleteVethPair(prefix);
  ip('netns', 'add', a);
  ip('netns', 'add', b);
  ip('-n', a, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth0', 'netns', b);
  for (const [ns, addr, addr6] of [
    [a, ipA, IPV6_A],
    [b, ipB, IPV6_B],
  ] as const) {
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'veth0');
    ip('-n', ns, '-6', 'addr', 'add', `${addr6}/64`, 'dev', 'veth0', 'nodad');
    ip('-n', ns, 'link', 'set', 'veth0', 'up');
  }
  const mac = (ns: string): string =>
    (JSON.parse(ip('-j', '-n', ns, 'link', 'show', 'veth0')) as { address: string }[])[0]?.address ?? '';
  return { a, b, macA: mac(a), macB: mac(b), ipA, ipB };
}
