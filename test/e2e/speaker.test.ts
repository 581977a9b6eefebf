import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricsOf } from '../../bench/speaker-lab.js';
import { labDriver } from '../support/cluster-driver.js';
import { lab, labAvailable, labUp } from '../support/lab.js';
import {
  advertise,
  answeringMacs,
  api,
  deleteService,
  endpointOn,
  ipOf,
  ownerOf,
  pool,
  servedBy,
  service,
  until,
} from './scenarios/speaker.js';
import { speakerScenarios } from './scenarios/speaker-suite.js';

const d = labDriver(3);

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

  /** A fresh Service with its IP and announcing node (lab-only scenarios below). */
  async function fresh(name: string, opts: { ip?: string; local?: boolean } = {}) {
    await service(a(), name, { pool: 'e2e', ...opts });
    const ip = await ipOf(a(), name);
    const owner = await ownerOf(a(), name);
    return { ip, owner };
  }

  // Lab-only: IPv6 (the kind network may have none), EndpointSlices made by hand (kind's
  // controller-manager owns them), and a restart of every speaker with a stalling main thread.
  it('IPv6: NDP answered with exactly the owner\u2019s MAC (multicast NS), and curl reaches the owner', async () => {
    const { ip, owner } = await fresh('basic6', { ip: '2001:db8:1::201' });
    expect(await answeringMacs(d, ip)).toEqual([d.macOf(owner)]);
    expect(await servedBy(d, ip)).toBe(owner);
    await deleteService(a(), 'basic6');
  });

  // The reader thread answers without JS seeing the frames; the counts still reach /metrics.
  it('answers sent by the addon are counted in the owner\u2019s metrics, and only the owner replies', async () => {
    const { ip, owner } = await fresh('counted');
    const other = d.nodes().find((n) => n !== owner) as string;
    const before = [await metricsOf(owner), await metricsOf(other)];
    expect(await answeringMacs(d, ip, 3)).toEqual([d.macOf(owner)]);
    const after = [await metricsOf(owner), await metricsOf(other)];
    const delta = (i: number, name: string) => (after[i]?.get(name) ?? 0) - (before[i]?.get(name) ?? 0);
    expect(delta(0, 'heraldlb_speaker_replies_total{family="IPv4"}')).toBeGreaterThanOrEqual(3);
    expect(delta(0, 'heraldlb_speaker_arp_requests_total')).toBeGreaterThanOrEqual(3);
    expect(delta(1, 'heraldlb_speaker_arp_requests_total')).toBeGreaterThanOrEqual(3); // seen, not answered
    expect(delta(1, 'heraldlb_speaker_replies_total{family="IPv4"}')).toBe(0);
    await deleteService(a(), 'counted');
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

  // The shared scenarios (partition last among them), then the stall restart.
  speakerScenarios({ driver: () => d, pool: 'e2e', foreignIp: '192.0.2.235' });

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
