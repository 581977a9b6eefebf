import { CoordinationV1Api } from '@kubernetes/client-node';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { kubeConfigConnection } from '../../kube/connection.js';
import { LeaderElector } from '../../kube/leader-election.js';
import { restLeaseClient } from '../../kube/lease-client.js';
import { adminKubeConfig, controlPlaneAvailable, uniqueName } from '../support/kube.js';

const NS = 'default';
const TIMING = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 400 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!controlPlaneAvailable())('Lease leader election against a real API server', () => {
  let api: CoordinationV1Api;
  const running: LeaderElector[] = [];

  beforeAll(() => {
    api = adminKubeConfig().makeApiClient(CoordinationV1Api);
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((e) => e.stop()));
  });

  function electors(lease: string, n: number, releaseOnStop = true) {
    return Array.from({ length: n }, (_, i) => {
      const e = new LeaderElector({
        lock: restLeaseClient(kubeConfigConnection(adminKubeConfig()), NS, lease),
        identity: `cand-${i}`,
        releaseOnStop,
        ...TIMING,
      });
      e.start(new AbortController().signal);
      running.push(e);
      return e;
    });
  }

  /** Samples every 25 ms for `ms`; fails if two electors ever think they lead at once. */
  async function watchLeaders(all: LeaderElector[], ms: number, until?: () => boolean): Promise<number> {
    const start = Date.now();
    while (Date.now() - start < ms) {
      expect(all.filter((e) => e.isLeader()).length).toBeLessThanOrEqual(1);
      if (until?.()) return Date.now() - start;
      await sleep(25);
    }
    return Date.now() - start;
  }

  it('elects exactly one of three and writes a valid Lease', async () => {
    const name = uniqueName('le');
    const all = electors(name, 3);
    await watchLeaders(all, 4000);
    expect(all.filter((e) => e.isLeader())).toHaveLength(1);
    const leader = all.find((e) => e.isLeader())!;
    const lease = await api.readNamespacedLease({ name, namespace: NS });
    expect(lease.spec?.holderIdentity).toBe(leader.leader());
    expect(lease.spec?.leaseDurationSeconds).toBe(3);
    expect(lease.spec?.leaseTransitions).toBe(0);
    const renew = new Date(lease.spec?.renewTime as unknown as string).getTime();
    expect(Math.abs(Date.now() - renew)).toBeLessThan(2000);
  });

  it('graceful stop hands over fast; leaseTransitions counts holder changes', async () => {
    const name = uniqueName('le');
    const all = electors(name, 3);
    await watchLeaders(all, 5000, () => all.some((e) => e.isLeader()));
    const old = all.find((e) => e.isLeader())!;
    await old.stop();
    const rest = all.filter((e) => e !== old);
    const took = await watchLeaders(rest, 5000, () => rest.some((e) => e.isLeader()));
    expect(took).toBeLessThan(1500); // about one retry period, far below the lease duration
    const lease = await api.readNamespacedLease({ name, namespace: NS });
    expect(lease.spec?.holderIdentity).toBe(rest.find((e) => e.isLeader())!.leader());
    expect(lease.spec?.leaseTransitions).toBe(1);
    await watchLeaders(rest, 1500);
  });

  it('a crashed leader (no release) is replaced only after the lease duration', async () => {
    const name = uniqueName('le');
    const all = electors(name, 2, false);
    await watchLeaders(all, 5000, () => all.some((e) => e.isLeader()));
    const old = all.find((e) => e.isLeader())!;
    const other = all.find((e) => e !== old)!;
    await old.stop(); // stops renewing, leaves the lease held
    const lease = await api.readNamespacedLease({ name, namespace: NS });
    expect(lease.spec?.holderIdentity).toBe(`cand-${all.indexOf(old)}`);
    const took = await watchLeaders([other], 10_000, () => other.isLeader());
    expect(other.isLeader()).toBe(true);
    expect(took).toBeGreaterThanOrEqual(2000); // waited for expiry (a release would take < 1 s)
    expect(took).toBeLessThan(3000 + 2 * TIMING.retryPeriodMs + 1000);
  });
});
