// The speaker in the lab: real ARP/NDP (arping, ndisc6), real TCP (curl and fresh connections
// every 20 ms) from the client namespace. Bounds here are generous pass/fail limits; the
// failover figures against the targets are the benchmark's (npm run bench -- speaker).
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labDriver } from '../support/cluster-driver.js';
import { lab, labAvailable, labUp } from '../support/lab.js';
import {
  advertise,
  answeringMacs,
  api,
  deleteService,
  endpointOn,
  ipOf,
  measureFailover,
  ownerOf,
  pool,
  servedBy,
  service,
  until,
} from './scenarios/speaker.js';

const d = labDriver(3);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.runIf(labAvailable())('speaker', () => {
  const a = () => api(d);

  beforeAll(async () => {
    await lab('down');
    await labUp('--nodes', '3', '--ipv6');
    await pool(a(), 'e2e', ['192.0.2.200-192.0.2.239', '2001:db8:1::200/124']);
    await advertise(a(), 'e2e', { ipAddressPools: ['e2e'] });
  }, 600_000);

  afterAll(async () => {
    await lab('down');
  });

  /** A fresh Service with its IP and announcing node, every node healthy. */
  async function fresh(name: string, opts: { ip?: string; local?: boolean } = {}) {
    await service(a(), name, { pool: 'e2e', ...opts });
    const ip = await ipOf(a(), name);
    const owner = await ownerOf(a(), name);
    return { ip, owner };
  }

  it('answers ARP with exactly the owner\u2019s MAC, and curl reaches the owner', async () => {
    const { ip, owner } = await fresh('basic');
    expect(await answeringMacs(d, ip)).toEqual([d.macOf(owner)]);
    expect(await servedBy(d, ip)).toBe(owner);
    await deleteService(a(), 'basic');
    // Deleted: the owner stops answering and removes its record.
    await until(
      'silent after delete',
      async () => ((await answeringMacs(d, ip, 2)).length === 0 ? true : undefined),
      10_000,
    );
  });

  it('IPv6: NDP answered with exactly the owner\u2019s MAC (multicast NS), and curl reaches the owner', async () => {
    const { ip, owner } = await fresh('basic6', { ip: '2001:db8:1::201' });
    expect(await answeringMacs(d, ip)).toEqual([d.macOf(owner)]);
    expect(await servedBy(d, ip)).toBe(owner);
    await deleteService(a(), 'basic6');
  });

  it('kill-node of the owner: another node serves within a second or so', async () => {
    const { ip, owner } = await fresh('kill');
    const m = await measureFailover(d, ip, owner, (n) => d.fault('kill-node', n));
    const next = await ownerOf(a(), 'kill', 'default', owner);
    expect(m.outageMs).toBeDefined();
    expect(m.outageMs as number).toBeLessThan(1500);
    expect(m.after).toBe(next);
    expect(await answeringMacs(d, ip)).toEqual([d.macOf(next)]);
    await d.fault('revive-node', owner);
    // Hold-down: the revived node is heard a while before it may win the IP back; either way,
    // one MAC answers throughout.
    for (let i = 0; i < 4; i++) {
      expect((await answeringMacs(d, ip, 1)).length).toBeLessThanOrEqual(1);
      await sleep(1000);
    }
    await until(
      'one MAC after revive',
      async () => ((await answeringMacs(d, ip)).length === 1 ? true : undefined),
      10_000,
    );
    await deleteService(a(), 'kill');
  });

  it('graceful stop-speaker: peers take over at once', async () => {
    const { ip, owner } = await fresh('graceful');
    const m = await measureFailover(d, ip, owner, (n) => d.fault('stop-speaker', n));
    expect(m.outageMs as number).toBeLessThan(500);
    const next = await ownerOf(a(), 'graceful', 'default', owner);
    expect(await answeringMacs(d, ip)).toEqual([d.macOf(next)]);
    await d.fault('start-speaker', owner);
    await deleteService(a(), 'graceful');
  });

  it('node-notready moves the IP; the node ready again is eligible again', async () => {
    const { ip, owner } = await fresh('notready');
    await d.fault('node-notready', owner);
    const next = await ownerOf(a(), 'notready', 'default', owner, 10_000);
    expect(await answeringMacs(d, ip)).toEqual([d.macOf(next)]);
    await d.fault('node-ready', owner);
    await deleteService(a(), 'notready');
  });

  it('link down on the owner (dead NIC, node otherwise alive) fails over; link up leaves one MAC', async () => {
    const { ip, owner } = await fresh('link');
    const m = await measureFailover(d, ip, owner, (n) => d.fault('link-down', n));
    expect(m.outageMs as number).toBeLessThan(1500);
    expect(m.after).not.toBe(owner);
    await d.fault('link-up', owner);
    const deadline = Date.now() + 2500;
    await until(
      'one MAC after link up',
      async () => ((await answeringMacs(d, ip, 1)).length === 1 ? true : undefined),
      6000,
    );
    expect(Date.now()).toBeLessThan(deadline + 3000);
    await sleep(4000); // past hold-down: still exactly one
    expect((await answeringMacs(d, ip)).length).toBe(1);
    await deleteService(a(), 'link');
  });

  it('heartbeats blocked while both nodes live: one MAC answers again within 2.5 s', async () => {
    const { ip, owner } = await fresh('blocked');
    await d.heartbeats(owner, 'block');
    try {
      // Peers now think the owner dead and one of them takes over; the owner still answers.
      // The self-probe (every 2 s) shows each the other's MAC and the lower-ranked yields.
      await sleep(1000);
      const start = Date.now();
      await until(
        'one MAC while heartbeats are blocked',
        async () => ((await answeringMacs(d, ip, 1)).length === 1 ? true : undefined),
        6000,
        50,
      );
      expect(Date.now() - start).toBeLessThan(2500 + 1500); // + one arping round
      for (let i = 0; i < 3; i++) {
        expect((await answeringMacs(d, ip, 1)).length).toBe(1);
        await sleep(500);
      }
    } finally {
      await d.heartbeats(owner, 'unblock');
    }
    await deleteService(a(), 'blocked');
  });

  it('externalTrafficPolicy Local: the node with the ready endpoint announces; the IP follows the endpoint', async () => {
    await service(a(), 'local', { pool: 'e2e', local: true });
    const ip = await ipOf(a(), 'local');
    await endpointOn(a(), 'local', 'node2', '192.0.2.12');
    expect(await ownerOf(a(), 'local')).toBe('node2');
    await endpointOn(a(), 'local', 'node3', '192.0.2.13');
    await until(
      'owner node3',
      async () => ((await ownerOf(a(), 'local')) === 'node3' ? true : undefined),
      10_000,
    );
    expect(await answeringMacs(d, ip)).toEqual([d.macOf('node3')]);
    await deleteService(a(), 'local');
  });

  it('L2Advertisement nodeSelectors: only selected nodes announce', async () => {
    await advertise(a(), 'e2e', {
      ipAddressPools: ['e2e'],
      nodeSelectors: [{ matchLabels: { 'kubernetes.io/hostname': 'node1' } }],
    });
    try {
      const { ip } = await fresh('selected');
      await until(
        'owner node1',
        async () => ((await ownerOf(a(), 'selected')) === 'node1' ? true : undefined),
        10_000,
      );
      expect(await answeringMacs(d, ip)).toEqual([d.macOf('node1')]);
    } finally {
      await advertise(a(), 'e2e', { ipAddressPools: ['e2e'] });
      await deleteService(a(), 'selected');
    }
  });

  it('API server stopped for 60 s: announcements stay; the owner killed meanwhile still fails over', async () => {
    const { ip, owner } = await fresh('apidown');
    await d.apiServer('stop');
    try {
      await sleep(20_000);
      expect(await answeringMacs(d, ip)).toEqual([d.macOf(owner)]);
      const m = await measureFailover(d, ip, owner, (n) => d.fault('power-cut', n));
      expect(m.outageMs as number).toBeLessThan(1500);
      expect(m.after).not.toBe(owner);
      await sleep(30_000);
      expect((await answeringMacs(d, ip)).length).toBe(1);
    } finally {
      await d.apiServer('resume');
    }
    await d.fault('revive-node', owner);
    await deleteService(a(), 'apidown');
  });

  it('a foreign host holding a pool IP: not announced, an IPConflict Warning names its MAC', async () => {
    const foreign = '192.0.2.235';
    const clientMac = (await d.client('cat', '/sys/class/net/eth0/address')).stdout.trim();
    await d.client('ip', 'addr', 'add', `${foreign}/32`, 'dev', 'eth0');
    try {
      await service(a(), 'conflict', { pool: 'e2e', ip: foreign });
      await ipOf(a(), 'conflict');
      const core = d.kube().makeApiClient(CoreV1Api);
      const ev = await until(
        'IPConflict Event',
        async () =>
          (await core.listNamespacedEvent({ namespace: 'default' })).items.find(
            (e) => e.reason === 'IPConflict' && e.involvedObject.name === 'conflict',
          ),
        10_000,
        250,
      );
      expect(ev.type).toBe('Warning');
      expect(ev.message).toContain(clientMac);
      expect(await answeringMacs(d, foreign, 2)).toEqual([]); // the client itself does not arping itself
    } finally {
      await d.client('ip', 'addr', 'del', `${foreign}/32`, 'dev', 'eth0');
      await deleteService(a(), 'conflict');
    }
  });
  // Last: a healed node's watches may stay half-open for a while (up to ~35 s) before its
  // view catches up; later scenarios must not depend on that.
  it('partition then heal: exactly one MAC answers again within 2.5 s of the heal', async () => {
    const { ip, owner } = await fresh('partition');
    await d.fault('partition', owner);
    const next = await ownerOf(a(), 'partition', 'default', owner, 10_000).catch(() => undefined);
    expect((await answeringMacs(d, ip, 2)).length).toBe(1);
    await d.fault('heal', owner);
    const healed = Date.now();
    await until(
      'one MAC after heal',
      async () => ((await answeringMacs(d, ip, 1)).length === 1 ? true : undefined),
      5000,
      50,
    );
    expect(Date.now() - healed).toBeLessThan(2500 + 1500); // + one arping round
    for (let i = 0; i < 3; i++) {
      expect((await answeringMacs(d, ip, 1)).length).toBe(1);
      await sleep(500);
    }
    void next;
    await deleteService(a(), 'partition');
  });
  it('speakers whose main thread stalls 300 ms every second keep their IPs', async () => {
    await lab('down');
    process.env.HERALDLB_DEBUG_STALL = '300/1000';
    try {
      await labUp('--nodes', '3');
    } finally {
      delete process.env.HERALDLB_DEBUG_STALL;
    }
    await pool(a(), 'e2e', ['192.0.2.200-192.0.2.239']);
    await advertise(a(), 'e2e', { ipAddressPools: ['e2e'] });
    const { ip, owner } = await fresh('stall');
    const probed = await d.probe(`http://${ip}/`, 15_000, 50);
    expect(probed.filter((x) => !x.ok).length).toBe(0);
    expect(new Set(probed.map((x) => x.node))).toEqual(new Set([owner]));
    expect(await answeringMacs(d, ip)).toEqual([d.macOf(owner)]);
  });
});
