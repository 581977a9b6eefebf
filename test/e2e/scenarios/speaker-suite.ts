// The speaker scenarios as one suite over a ClusterDriver: test/e2e/speaker.test.ts runs it on
// the lab (every CI run), test/e2e/kind/speaker.kind.test.ts on kind (users with Docker).
// Bounds here are generous pass/fail limits; the failover figures against the targets are the
// benchmark's (npm run bench -- speaker).
import { CoreV1Api } from '@kubernetes/client-node';
import { expect, it } from 'vitest';
import type { ClusterDriver } from '../../support/cluster-driver.js';
import {
  advertise,
  announcers,
  answeringMacs,
  api,
  deleteService,
  ipOf,
  measureFailover,
  ownerOf,
  servedBy,
  service,
  until,
} from './speaker.js';

export interface SuiteEnv {
  driver: () => ClusterDriver;
  /** The pool every scenario Service draws from (already created, with an L2Advertisement 'e2e'). */
  pool: string;
  /** A pool address no scenario Service gets by itself, for the conflict scenario. */
  foreignIp: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Registers the scenarios every cluster driver must pass (call inside a describe). */
export function speakerScenarios(env: SuiteEnv): void {
  const d = new Proxy({} as ClusterDriver, {
    get: (_, k) => (env.driver() as unknown as Record<string | symbol, unknown>)[k],
  });
  const a = () => api(d);
  /** A fresh Service with its IP and announcing node, every node healthy. */
  async function fresh(name: string, opts: { ip?: string; local?: boolean } = {}) {
    await service(a(), name, {
      pool: env.pool,
      ...opts,
      ...(d.backend ? { selector: d.backend.selector, local: true } : {}),
    });
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

  // The client namespace, a host that is no speaker, holds `ip` while `fn` runs (given the
  // client's MAC); after, the address goes and so does the Service `svc` the test made.
  async function foreignHostHolding(ip: string, svc: string, fn: (mac: string) => Promise<void>) {
    const mac = (await d.client('cat', '/sys/class/net/eth0/address')).stdout.trim();
    await d.client('ip', 'addr', 'add', `${ip}/32`, 'dev', 'eth0');
    try {
      await fn(mac);
    } finally {
      await d.client('ip', 'addr', 'del', `${ip}/32`, 'dev', 'eth0');
      await deleteService(a(), svc);
    }
  }

  async function eventsOn(svc: string, reason: string) {
    const core = d.kube().makeApiClient(CoreV1Api);
    return (await core.listNamespacedEvent({ namespace: 'default' })).items.filter(
      (e) => e.reason === reason && e.involvedObject.name === svc,
    );
  }

  const conflictEvent = (svc: string) =>
    until(`IPConflict Event on ${svc}`, async () => (await eventsOn(svc, 'IPConflict'))[0], 10_000, 250);

  it('a foreign host holding a pool IP: not announced, an IPConflict Warning names its MAC', async () => {
    const foreign = env.foreignIp;
    await foreignHostHolding(foreign, 'conflict', async (clientMac) => {
      await service(a(), 'conflict', { pool: env.pool, ip: foreign });
      await ipOf(a(), 'conflict');
      const ev = await conflictEvent('conflict');
      expect(ev.type).toBe('Warning');
      expect(ev.message).toContain(clientMac);
      expect(await answeringMacs(d, foreign, 2)).toEqual([]); // the client itself does not arping itself
    });
  });

  it('an IP released and given to another Service is probed again: a foreign host holding it meanwhile is an IPConflict', async () => {
    const foreign = env.foreignIp;
    const { owner } = await fresh('released', { ip: foreign });
    expect(await answeringMacs(d, foreign)).toEqual([d.macOf(owner)]);
    await deleteService(a(), 'released');
    // Until its status object is gone the speaker has seen the release through to the end.
    await until(
      'the released IP unannounced',
      async () => ((await announcers(a(), 'released')).length === 0 ? true : undefined),
      15_000,
    );
    await foreignHostHolding(foreign, 'reassigned', async (clientMac) => {
      await service(a(), 'reassigned', { pool: env.pool, ip: foreign });
      await ipOf(a(), 'reassigned');
      expect((await conflictEvent('reassigned')).message).toContain(clientMac);
      expect(await answeringMacs(d, foreign, 2)).toEqual([]);
      // Probed before it was announced, not caught by a self-probe after: no speaker announced
      // it at all (an announcement is a gratuitous ARP that moves the LAN's caches to us).
      expect((await eventsOn('reassigned', 'Announcing')).map((e) => e.message)).toEqual([]);
    });
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
}
