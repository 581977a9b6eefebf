/**
 * High availability with three real controller processes on one Lease: exactly one leads
 * (Lease holder and `heraldlb_leader` agree), a SIGTERMed leader hands over at once (it releases
 * the Lease), a SIGKILLed one only after the lease duration (15 s), nobody serves in that gap,
 * Services created in the gap are served after the takeover, and no IP ever changes.
 */
import { CoordinationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AssignmentObserver, ingressOf } from '../support/churn.js';
import {
  type ControllerHandle,
  httpGet,
  metricsPort,
  metricValue,
  sleep,
  startController,
  TestObjects,
  waitFor,
} from '../support/controller.js';
import { adminKubeConfig, controlPlaneAvailable, kubeconfigPath, uniqueName } from '../support/kube.js';

const CLASS = 'heraldlb.io/test-ha';
const V4_RANGE = '203.0.113.16-203.0.113.23';
const V6_RANGE = '2001:db8:100:2::/120';

interface Replica {
  id: string;
  proc: ControllerHandle;
  port: number;
}

describe.runIf(controlPlaneAvailable())('HA: three controller replicas on one Lease', () => {
  const runLabel = { 'heraldlb-test': uniqueName('ha') };
  const pool = uniqueName('ha');
  const leaseName = uniqueName('ha-lease');
  let objects: TestObjects;
  let leases: CoordinationV1Api;
  let observer: AssignmentObserver;
  let ns = '';
  let replicas: Replica[] = [];
  const ips = new Map<string, string>(); // service name -> IP it got first
  let serial = 0;

  beforeAll(async () => {
    const kc = adminKubeConfig();
    objects = new TestObjects(kc);
    leases = kc.makeApiClient(CoordinationV1Api);
    ns = await objects.namespace('ha', runLabel);
    await objects.createPool(pool, { addresses: [V4_RANGE, V6_RANGE] });
    observer = new AssignmentObserver(kc, `heraldlb-test=${runLabel['heraldlb-test']}`);
    await observer.start();
    replicas = await Promise.all(
      ['ha-0', 'ha-1', 'ha-2'].map(async (id) => {
        const proc = startController({
          kubeconfig: kubeconfigPath(),
          name: `heraldlb-${id}`,
          args: [
            `--load-balancer-class=${CLASS}`,
            `--identity=${id}`,
            `--lease-namespace=${ns}`,
            `--lease-name=${leaseName}`,
            '--metrics-addr=127.0.0.1:0',
          ],
        });
        return { id, proc, port: await metricsPort(proc) };
      }),
    );
  });

  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.proc.stop()));
    await observer?.stop();
    await objects?.cleanup();
    if (ns) await objects.core.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  const holder = async () =>
    (await leases.readNamespacedLease({ namespace: ns, name: leaseName })).spec?.holderIdentity ?? '';
  const gauge = async (r: Replica) => metricValue((await httpGet(r.port, '/metrics'))[1], 'heraldlb_leader');
  const gone = new Set<string>(); // ids of replicas this test stopped or killed
  const alive = () => replicas.filter((r) => !gone.has(r.id));

  /** Waits until the Lease names a live replica and exactly that one reports heraldlb_leader 1. */
  async function soleLeader(ms: number): Promise<Replica> {
    return waitFor(
      async () => {
        const id = await holder();
        const live = alive();
        const gauges = await Promise.all(live.map(gauge));
        const leaders = live.filter((_, i) => gauges[i] === 1);
        if (leaders.length > 1)
          throw new Error(`two replicas report heraldlb_leader 1: ${leaders.map((r) => r.id)}`);
        return leaders.length === 1 && leaders[0]?.id === id ? leaders[0] : undefined;
      },
      ms,
      50,
    );
  }

  async function createServices(n: number, family: 'IPv4' | 'IPv6' = 'IPv6'): Promise<string[]> {
    const names = Array.from({ length: n }, () => `s-${serial++}`);
    for (const name of names) {
      await objects.createService(ns, name, {
        loadBalancerClass: CLASS,
        families: [family],
        policy: 'SingleStack',
        labels: runLabel,
        annotations: { 'heraldlb.io/address-pool': pool },
      });
    }
    return names;
  }

  async function servedAll(names: readonly string[], ms = 15_000): Promise<void> {
    for (const name of names) {
      const ip = ingressOf(await objects.served(ns, name, 1, ms));
      ips.set(name, ips.get(name) ?? ip);
    }
  }

  async function expectIPsUnchanged(): Promise<void> {
    for (const [name, ip] of ips) expect(ingressOf(await objects.getService(ns, name)), name).toBe(ip);
    expect(observer.violations).toEqual([]);
  }

  it('elects exactly one leader, and the leader serves Services', async () => {
    const leader = await soleLeader(30_000);
    await sleep(2500); // more than one retry period: still exactly one
    expect((await soleLeader(1000)).id).toBe(leader.id);
    await servedAll([...(await createServices(10)), ...(await createServices(2, 'IPv4'))]);
    const standbys = replicas.filter((r) => r !== leader);
    for (const r of standbys) {
      expect(r.proc.logs().filter((l) => l.msg === 'assigned')).toEqual([]);
    }
  });

  it('SIGTERM on the leader: a standby takes over at once and no IP changes', async () => {
    const old = await soleLeader(5000);
    const t0 = Date.now();
    gone.add(old.id);
    expect(await old.proc.stop()).toBe(0);
    expect(old.proc.logs().some((l) => l.msg === 'lease released')).toBe(true);
    const next = await soleLeader(10_000);
    const took = Date.now() - t0;
    console.log(`graceful takeover by ${next.id} in ${took} ms`);
    expect(next.id).not.toBe(old.id);
    expect(took).toBeLessThan(5000); // about one retry period (2 s), far below the 15 s lease
    await next.proc.waitForLog((l) => l.msg === 'leading: existing assignments loaded');
    const fresh = await createServices(3);
    await servedAll(fresh);
    await expectIPsUnchanged();
  });

  it('SIGKILL on the new leader: takeover after lease expiry; Services created in the gap are served then', async () => {
    const dead = await soleLeader(5000);
    const standby = alive().find((r) => r !== dead)!;
    gone.add(dead.id);
    await dead.proc.kill();
    const t0 = Date.now();
    const gap = await createServices(4);
    // Nobody may serve before the dead leader's lease has expired.
    await sleep(3000);
    expect(await holder()).toBe(dead.id);
    expect(await gauge(standby)).toBe(0);
    for (const name of gap) expect(ingressOf(await objects.getService(ns, name)), name).toBe('');
    const next = await soleLeader(30_000);
    const took = Date.now() - t0;
    console.log(`takeover after SIGKILL by ${next.id} in ${took} ms`);
    expect(next.id).toBe(standby.id);
    expect(took).toBeGreaterThan(10_000);
    expect(took).toBeLessThan(25_000);
    await servedAll(gap);
    await expectIPsUnchanged();
    const lease = await leases.readNamespacedLease({ namespace: ns, name: leaseName });
    expect(lease.spec?.leaseTransitions).toBe(2);
  });
});
