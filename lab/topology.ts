// The lab's network as data: names, addresses, MACs and the exact `ip`/`sysctl` steps that
// build it. Pure: nothing here runs a command, so the whole plan is unit-tested and every
// step can be checked to target a lab namespace (never the host's).

/** Prefix of every network namespace the lab creates. */
export const NETNS_PREFIX = 'hlb-';
export const LAN_NETNS = 'hlb-lan';
export const CLIENT_NETNS = 'hlb-client';
export const BRIDGE = 'br0';
export const MAX_NODES = 9; // nodes are 192.0.2.11–.19 (docs/development.md, Addresses)
/** Where each node namespace reaches the API server (the node agent's relay). */
export const NODE_API_PORT = 6443;

/** Pool ranges that every node accepts traffic for, as kube-proxy IPVS would. */
export const POOL_V4_ONLINK = { start: '192.0.2.200', end: '192.0.2.250' };
export const POOL_V4_ROUTED = '203.0.113.0/24'; // behind an on-link route in the client
export const POOL_V6 = '2001:db8:1::200/120'; // 2001:db8:1::200 – 2001:db8:1::2ff
/** Room for thousands of VIPs (the speaker benchmark's 1,000-IP takeover): on-link like the rest
 * of 2001:db8:1::/64, clear of host addresses. */
export const POOL_V6_BULK = '2001:db8:1::1:0/112'; // 2001:db8:1::1:0 – 2001:db8:1::1:ffff

export interface Host {
  /** `node1`… or `client`. */
  name: string;
  netns: string;
  /** The veth end inside the lan namespace, enslaved to the bridge. */
  bridgePort: string;
  ipv4: string;
  ipv6?: string;
  /** MAC of `eth0` in the host's namespace (stable, locally administered). */
  mac: string;
  bridgePortMac: string;
}

export interface Topology {
  ipv6: boolean;
  nodes: Host[];
  client: Host;
  /** CIDRs that get a `local` route in every node namespace. */
  poolCidrs: { v4: string[]; v6: string[] };
}

/** One step of the build. `netns` is where it runs; `argv` is the `ip`/`sysctl` argv. */
export type Step =
  | { kind: 'netns-add'; netns: string }
  | { kind: 'ip'; netns: string; argv: string[] }
  | { kind: 'sysctl'; netns: string; settings: string[] };

const hex2 = (n: number): string => n.toString(16).padStart(2, '0');

function host(name: string, octet: number, ipv6: boolean): Host {
  return {
    name,
    netns: `${NETNS_PREFIX}${name}`,
    bridgePort: `v${name}`.slice(0, 15),
    ipv4: `192.0.2.${octet}`,
    ...(ipv6 ? { ipv6: `2001:db8:1::${octet}` } : {}),
    mac: `02:68:6c:00:00:${hex2(octet)}`,
    bridgePortMac: `02:68:6c:ff:00:${hex2(octet)}`,
  };
}

export function nodeName(i: number): string {
  return `node${i}`;
}

export function planTopology(opts: { nodes: number; ipv6: boolean }): Topology {
  const { nodes, ipv6 } = opts;
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > MAX_NODES) {
    throw new RangeError(`--nodes must be an integer from 1 to ${MAX_NODES}, got ${nodes}`);
  }
  return {
    ipv6,
    nodes: Array.from({ length: nodes }, (_, i) => host(nodeName(i + 1), 11 + i, ipv6)),
    client: host('client', 100, ipv6),
    poolCidrs: {
      v4: [...rangeToCidrs(POOL_V4_ONLINK.start, POOL_V4_ONLINK.end), POOL_V4_ROUTED],
      v6: ipv6 ? [POOL_V6, POOL_V6_BULK] : [],
    },
  };
}

export function ipv4ToInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new RangeError(`not an IPv4 address: ${ip}`);
  }
  return parts.reduce((acc, p) => acc * 256 + p, 0);
}

export function intToIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/** The smallest list of CIDRs that covers exactly start..end (inclusive). */
export function rangeToCidrs(start: string, end: string): string[] {
  let lo = ipv4ToInt(start);
  const hi = ipv4ToInt(end);
  if (lo > hi) throw new RangeError(`range start ${start} is after end ${end}`);
  const out: string[] = [];
  for (let guard = 0; lo <= hi && guard < 64; guard++) {
    let size = 32;
    // Grow the block while it stays aligned at `lo` and inside the range.
    while (size > 0 && lo % 2 ** (33 - size) === 0 && lo + 2 ** (33 - size) - 1 <= hi) size--;
    out.push(`${intToIpv4(lo)}/${size}`);
    lo += 2 ** (32 - size);
  }
  return out;
}

/** Every namespace of the lab, the lan namespace first. */
export function allNetns(t: Topology): string[] {
  return [LAN_NETNS, ...t.nodes.map((n) => n.netns), t.client.netns];
}

function lanSteps(): Step[] {
  const ip = (...argv: string[]): Step => ({ kind: 'ip', netns: LAN_NETNS, argv });
  return [
    { kind: 'netns-add', netns: LAN_NETNS },
    ip('link', 'set', 'lo', 'up'),
    // No STP (ports forward at once) and no multicast snooping: a speaker answering NDP
    // from user space never joins the solicited-node group of a VIP, so the bridge must
    // flood those Neighbor Solicitations to every port.
    ip(
      'link',
      'add',
      BRIDGE,
      'address',
      '02:68:6c:ff:ff:01',
      'type',
      'bridge',
      'stp_state',
      '0',
      'mcast_snooping',
      '0',
    ),
    ip('link', 'set', BRIDGE, 'up'),
  ];
}

/** Creates `h`'s namespace, its veth into the bridge, and its addresses. */
function hostSteps(h: Host): Step[] {
  const ip = (...argv: string[]): Step => ({ kind: 'ip', netns: h.netns, argv });
  const lan = (...argv: string[]): Step => ({ kind: 'ip', netns: LAN_NETNS, argv });
  const steps: Step[] = [
    { kind: 'netns-add', netns: h.netns },
    // Created in the lan namespace; the peer is born directly inside the host's namespace.
    lan(
      ...['link', 'add', h.bridgePort, 'address', h.bridgePortMac, 'type', 'veth'],
      ...['peer', 'name', 'eth0', 'address', h.mac, 'netns', h.netns],
    ),
    lan('link', 'set', h.bridgePort, 'master', BRIDGE, 'up'),
    ip('link', 'set', 'lo', 'up'),
    ip('addr', 'add', `${h.ipv4}/24`, 'dev', 'eth0'),
  ];
  // nodad: the address is usable at once (no 1–2 s of tentative state on every `up`).
  if (h.ipv6) steps.push(ip('addr', 'add', `${h.ipv6}/64`, 'dev', 'eth0', 'nodad'));
  steps.push(ip('link', 'set', 'eth0', 'up'));
  return steps;
}

/** What kube-proxy in IPVS strictARP mode leaves on a node: pool addresses are local (so TCP
 * to a VIP is served) yet the kernel never answers ARP/NDP for them — only a speaker may. */
function strictArpSteps(t: Topology, h: Host): Step[] {
  const ip = (...argv: string[]): Step => ({ kind: 'ip', netns: h.netns, argv });
  const steps: Step[] = [
    {
      kind: 'sysctl',
      netns: h.netns,
      settings: [
        'net.ipv4.conf.all.arp_ignore=1',
        'net.ipv4.conf.all.arp_announce=2',
        'net.ipv4.conf.eth0.arp_ignore=1',
        'net.ipv4.conf.eth0.arp_announce=2',
      ],
    },
  ];
  for (const c of t.poolCidrs.v4) steps.push(ip('route', 'add', 'local', c, 'dev', 'lo', 'table', 'local'));
  // IPv6: a local route creates no inet6_ifaddr, and the kernel answers a Neighbor
  // Solicitation only for an interface address (or a proxy entry), so it stays silent.
  for (const c of t.poolCidrs.v6)
    steps.push(ip('-6', 'route', 'add', 'local', c, 'dev', 'lo', 'table', 'local'));
  return steps;
}

function clientSteps(t: Topology): Step[] {
  const ip = (...argv: string[]): Step => ({ kind: 'ip', netns: t.client.netns, argv });
  // The routed pool is on-link for the client, as a slice of a home LAN is.
  return [ip('route', 'add', POOL_V4_ROUTED, 'dev', 'eth0')];
}

/** The full build, in order, from no namespaces at all. */
export function buildSteps(t: Topology): Step[] {
  const steps = lanSteps();
  for (const n of t.nodes) steps.push(...hostSteps(n), ...strictArpSteps(t, n));
  steps.push(...hostSteps(t.client), ...clientSteps(t));
  return steps;
}

/** The argv that runs a step (the executor runs exactly this, nothing else). */
export function stepArgv(s: Step): { cmd: string; args: string[] } {
  if (!s.netns.startsWith(NETNS_PREFIX)) throw new Error(`refusing a step outside the lab: ${s.netns}`);
  if (s.kind === 'netns-add') return { cmd: 'ip', args: ['netns', 'add', s.netns] };
  if (s.kind === 'ip') return { cmd: 'ip', args: ['-n', s.netns, ...s.argv] };
  // `ip netns exec` enters the namespace before sysctl runs, so /proc/sys/net is the lab's.
  return { cmd: 'ip', args: ['netns', 'exec', s.netns, 'sysctl', '-q', '-w', ...s.settings] };
}

/** Link state of a host's bridge port: down is a cut cable (kill-node, partition). */
export function linkStep(h: Host, up: boolean): Step {
  return { kind: 'ip', netns: LAN_NETNS, argv: ['link', 'set', h.bridgePort, up ? 'up' : 'down'] };
}

/** With `--runtime`: the `kubernetes` Service's ClusterIP is local in each node namespace
 * (kube-proxy's IPVS mode puts every ClusterIP on a dummy device; the lab needs only this
 * one), where the node agent relays it to the API server. `lo`: never answered by ARP. */
export function serviceIpStep(h: Host): Step {
  return { kind: 'ip', netns: h.netns, argv: ['addr', 'add', '198.51.100.1/32', 'dev', 'lo'] };
}

/** True for names the lab owns: `hlb-lan`, `hlb-client`, `hlb-node<N>`. Other `hlb-`
 * namespaces (a test's own) are left alone by `down`. */
export function isLabNetns(name: string): boolean {
  return name === LAN_NETNS || name === CLIENT_NETNS || /^hlb-node\d+$/.test(name);
}

export function findHost(t: Topology, name: string): Host | undefined {
  return name === 'client' ? t.client : t.nodes.find((n) => n.name === name);
}
