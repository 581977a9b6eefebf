/**
 * One leader at a time, on the real API server (issue 8 item 1): two ControllerApp replicas in
 * this process share a Lease; the leader is stopped (as SIGTERM does) in the middle of a burst
 * of new Services, over many seeded runs. An observer sees every Service version the API
 * server hands out and records the moment an IP is held by two Services. Zero, every run.
 *
 * What it guards: the stopped term drops what is queued, writes nothing more after its end,
 * hands the Lease over only once its in-flight writes are known, and names its last write in
 * the Lease; the next term allocates only after its cache has seen that write.
 */
import { CoordinationV1Api } from '@kubernetes/client-node';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IPAddressPool } from '../../api/crd-types.js';
import { apiWriter } from '../../controller/api-writer.js';
import { apiIO, ControllerApp } from '../../controller/app.js';
import { parseOptions } from '../../controller/options.js';
import { systemClock } from '../../kube/clock.js';
import { kubeConfigConnection } from '../../kube/connection.js';
import { withKeepAlive } from '../../kube/keep-alive.js';
import { LeadershipTerm } from '../../kube/term.js';
import { AssignmentObserver, inParallel, Rng, retrying, seedFromEnv } from '../support/churn.js';
import { sleep, TestObjects, waitFor } from '../support/controller.js';
import { adminKubeConfig, controlPlaneAvailable, uniqueName } from '../support/kube.js';

const CLASS = 'heraldlb.io/test-terms';
const RUNS = 8;
const BURST = 120;
const POOL_SIZE = 90;
// 90 addresses for 120 Services per run: the pool runs out, so "lowest free" is contested.
const V6 = '2001:db8:100:7::-2001:db8:100:7::59';

describe.runIf(controlPlaneAvailable())('one leader at a time: the leader stops mid-burst', () => {
  const seed = seedFromEnv();
  const rng = new Rng(seed);
  const runLabel = { 'heraldlb-test': uniqueName('terms') };
  const pool = uniqueName('terms');
  const leaseName = uniqueName('terms-lease');
  let objects: TestObjects;
  let observer: AssignmentObserver;
  let ns = '';

  beforeAll(async () => {
    const kc = adminKubeConfig();
    objects = new TestObjects(kc);
    ns = await objects.namespace('terms', runLabel);
    await objects.createPool(pool, { addresses: [V6] });
    observer = new AssignmentObserver(kc, `heraldlb-test=${runLabel['heraldlb-test']}`);
    await observer.start();
  });

  afterAll(async () => {
    await observer?.stop();
    await objects?.cleanup();
    if (ns) await objects.core.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  const replica = (identity: string) => {
    const opts = parseOptions(
      [
        `--identity=${identity}`,
        `--load-balancer-class=${CLASS}`,
        `--lease-namespace=${ns}`,
        `--lease-name=${leaseName}`,
        '--metrics-addr=',
        // A standby that tries every 200 ms acts while a stopped leader's late writes would still
        // land: the window this test is about.
        '--leader-elect-lease-duration=3s',
        '--leader-elect-renew-deadline=2s',
        '--leader-elect-retry-period=200ms',
      ],
      {},
    );
    if (opts === 'help') throw new Error('unexpected help');
    const app = new ControllerApp(
      opts,
      apiIO(kubeConfigConnection(withKeepAlive(adminKubeConfig())), opts),
      pino({ level: 'silent' }),
    );
    const ctl = new AbortController();
    const done = app.run(ctl.signal);
    const stop = () => {
      ctl.abort();
      return done;
    };
    return { identity, app, stop };
  };

  it(`holds no IP twice at any moment over ${RUNS} leader stops with a deep queue`, async () => {
    console.log(`controller-terms seed ${seed} (replay: HERALDLB_SEED=${seed})`);
    const leases = adminKubeConfig().makeApiClient(CoordinationV1Api);
    const holder = async () =>
      (await leases.readNamespacedLease({ namespace: ns, name: leaseName }).catch(() => undefined))?.spec
        ?.holderIdentity ?? '';
    let serial = 0;
    const handovers: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      // A burst waiting for a controller: when the leader's term begins, every key is queued.
      const names = Array.from({ length: BURST }, () => `s-${(serial++).toString().padStart(4, '0')}`);
      await inParallel(names, 24, (name) =>
        retrying(() =>
          objects.createService(ns, name, {
            loadBalancerClass: CLASS,
            families: ['IPv6'],
            policy: 'SingleStack',
            labels: runLabel,
            annotations: { 'heraldlb.io/address-pool': pool },
          }),
        ),
      );
      const replicas = [replica(`r${run}a`), replica(`r${run}b`)];
      const leader = await waitFor(
        async () => {
          const id = await holder();
          const r = replicas.find((x) => x.identity === id);
          return r?.app.handlingEvents() ? r : undefined;
        },
        40_000,
        10,
      );
      // Stopped (as SIGTERM does) while most of its queue still waits, and while Services are
      // deleted: freed addresses make the two leaders' "lowest free" differ, which is when a
      // late write of the old term would hand out an address twice.
      await sleep(rng.int(0, 300));
      const doomed = names.filter(() => rng.chance(0.2));
      const deleting = inParallel(doomed, 8, (name) => retrying(() => objects.deleteService(ns, name)));
      const t0 = Date.now();
      await leader.stop();
      await deleting;
      const standby = replicas.find((r) => r !== leader)!;
      await waitFor(() => standby.app.handlingEvents(), 40_000, 10);
      handovers.push(Date.now() - t0);
      // Settled: the pool is full, or nothing waits.
      await waitFor(async () => {
        const list = await objects.core.listNamespacedService({ namespace: ns });
        const served = list.items.filter((s) => (s.status?.loadBalancer?.ingress ?? []).length > 0).length;
        return served === Math.min(POOL_SIZE, list.items.length) ? true : undefined;
      }, 30_000);
      expect(observer.violations, `run ${run}, seed ${seed}`).toEqual([]);
      await standby.stop();
      const left = names.filter((n) => !doomed.includes(n));
      await inParallel(left, 24, (name) => retrying(() => objects.deleteService(ns, name)));
      await waitFor(
        async () => (await objects.core.listNamespacedService({ namespace: ns })).items.length === 0,
        30_000,
      );
    }
    expect(observer.violations).toEqual([]);
    expect(observer.versions).toBeGreaterThan(RUNS * BURST);
    const sorted = [...handovers].sort((a, b) => a - b);
    console.log(
      `controller-terms seed ${seed}: ${RUNS} leader stops, ${observer.versions} versions checked, 0 held twice; ` +
        `handover ms min ${sorted[0]} median ${sorted[Math.floor(sorted.length / 2)]} max ${sorted.at(-1)}`,
    );
  }, 300_000);
});

describe.runIf(controlPlaneAvailable())('what a term hands on to the next leader', () => {
  const objects = new TestObjects(adminKubeConfig());
  let ns = '';

  afterAll(async () => {
    await objects.cleanup();
    if (ns) await objects.core.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  it("names its last Service write, not a later pool status (the successor's Service cache never sees that)", async () => {
    ns = await objects.namespace('handon');
    const poolName = uniqueName('handon');
    const pool = (await objects.createPool(poolName, {
      addresses: ['2001:db8:100:8::/124'],
    })) as unknown as IPAddressPool;
    const svc = await objects.createService(ns, 'web', { loadBalancerClass: 'heraldlb.io/test-handon' });
    const term = new LeadershipTerm(systemClock, systemClock.now() + 60_000, '');
    const writer = apiWriter(kubeConfigConnection(adminKubeConfig()), term);
    const written = await writer.patchServiceStatus(svc, {
      status: { loadBalancer: { ingress: [{ ip: '2001:db8:100:8::1', ipMode: 'VIP' }] } },
    });
    const serviceRv = written.metadata?.resourceVersion ?? '';
    const poolOut = await writer.patchPoolStatus(pool, { assignedIPv6: 1, conditions: [] });
    const poolRv = poolOut.metadata?.resourceVersion ?? '';
    expect(BigInt(poolRv)).toBeGreaterThan(BigInt(serviceRv)); // the pool's write came last
    expect(term.writtenThrough()).toBe(serviceRv);
    expect(term.clean()).toBe(true);
  });
});
