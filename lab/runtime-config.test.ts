import { describe, expect, it } from 'vitest';
import {
  cniConfig,
  containerdConfig,
  controllerManagerArgs,
  kubeletArgs,
  kubeletConfig,
  NODE_GRACE_SECONDS,
  nodeCgroup,
  nodeRuntimePaths,
  podSubnet,
  runtimeBinaries,
} from './runtime-config.js';
import { ipv4ToInt, planTopology } from './topology.js';

const DIR = '/tmp/heraldlb-lab';
const t = planTopology({ nodes: 9, ipv6: true });
const bins = runtimeBinaries('/cache/bin/runtime-x');

describe('Pod subnets', () => {
  it('are disjoint /29s inside 192.0.2.128–199, clear of nodes, client and the pool', () => {
    const taken = new Set<number>();
    for (const h of t.nodes) {
      const p = podSubnet(h);
      const base = ipv4ToInt(p.subnet.split('/')[0] ?? '');
      expect(p.subnet.endsWith('/29')).toBe(true);
      for (let i = 0; i < 8; i++) {
        expect(taken.has(base + i)).toBe(false);
        taken.add(base + i);
      }
      for (const a of [p.gateway, p.first, p.last]) {
        const n = ipv4ToInt(a);
        expect(n).toBeGreaterThan(base);
        expect(n).toBeLessThan(base + 7);
      }
    }
    const lo = ipv4ToInt('192.0.2.128');
    const hi = ipv4ToInt('192.0.2.199');
    for (const a of taken) expect(a >= lo && a <= hi).toBe(true);
    for (const h of [...t.nodes, t.client]) expect(taken.has(ipv4ToInt(h.ipv4))).toBe(false);
  });

  it('the CNI config uses that subnet and keeps its state in the lab dir', () => {
    const h = t.nodes[1];
    if (!h) throw new Error('no node2');
    const conf = JSON.parse(cniConfig(h, nodeRuntimePaths(DIR, h.name).cniState));
    expect(conf.plugins[0].ipam.ranges[0][0].subnet).toBe('192.0.2.136/29');
    expect(conf.plugins[0].ipam.dataDir.startsWith(`${DIR}/`)).toBe(true);
  });
});

describe('node runtime config', () => {
  for (const h of t.nodes.slice(0, 2)) {
    it(`${h.name}: every path is under the lab dir or the cache, nothing in the host's /run or /var`, () => {
      const text = [
        containerdConfig(DIR, h, bins, '/usr/sbin/runc'),
        kubeletConfig(DIR, h, `${DIR}/cp/certs/ca.crt`),
        kubeletArgs(DIR, h, `${DIR}/node.kubeconfig`).join('\n'),
      ].join('\n');
      const paths = [...text.matchAll(/(?:^|["=\s])(\/[A-Za-z0-9._/-]+)/gm)].map((m) => m[1] ?? '');
      for (const p of paths) {
        const allowed =
          p.startsWith(`${DIR}/`) ||
          p.startsWith('/cache/bin/') ||
          p === '/usr/sbin/runc' ||
          p === `/${h.netns}`;
        expect(allowed, p).toBe(true);
      }
      expect(text).not.toMatch(/\/run\/netns|\/var\/lib|\/etc\/cni/);
    });
  }

  it('kubelet: cgroup v1 allowed, cgroupfs under the node cgroup, quick leases', () => {
    const h = t.nodes[0];
    if (!h) throw new Error('no node1');
    const k = JSON.parse(kubeletConfig(DIR, h, 'ca.crt'));
    expect(k.failCgroupV1).toBe(false);
    expect(k.cgroupDriver).toBe('cgroupfs');
    expect(k.cgroupRoot).toBe(nodeCgroup(h));
    expect(k.cgroupRoot).toBe('/hlb-node1');
    expect(k.nodeLeaseDurationSeconds).toBeLessThan(NODE_GRACE_SECONDS);
    expect(k.containerRuntimeEndpoint).toBe(`unix://${nodeRuntimePaths(DIR, 'node1').containerdSocket}`);
    expect(kubeletArgs(DIR, h, 'kc')).toContain('--node-ip=192.0.2.11,2001:db8:1::11');
  });

  it('the containerd socket path fits a unix socket (≤ 107 bytes)', () => {
    expect(nodeRuntimePaths(DIR, 'node9').containerdSocket.length).toBeLessThanOrEqual(107);
  });

  it('kube-controller-manager: the lab grace period, loopback only, no leader election', () => {
    const a = controllerManagerArgs({ kubeconfig: 'k', caCert: 'c', caKey: 'ck', saKey: 's' });
    expect(a).toContain(`--node-monitor-grace-period=${NODE_GRACE_SECONDS}s`);
    expect(a).toContain('--bind-address=127.0.0.1');
    expect(a).toContain('--leader-elect=false');
  });
});
