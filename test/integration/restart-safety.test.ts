/**
 * Restart safety against the real API server with the controller as a real process: ~300
 * Services (more than the pool holds, so some are pending) are created, deleted and edited
 * while the controller is SIGKILLed 20 times at random moments and restarted at once. An
 * observer checks every Service version as it happens; at the end no Service that had an IP
 * has another, no IP is held twice, every pending Service that fits has one, and the pool
 * status counts what is really held. Then the same churn with three replicas on one Lease, the
 * leader SIGTERMed ten times and restarted. The seed is printed; HERALDLB_SEED=<seed> replays it.
 */
import { CoordinationV1Api, type V1Service } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AssignmentObserver, ingressOf, inParallel, Rng, retrying, seedFromEnv } from '../support/churn.js';
import {
  type ControllerHandle,
  type PoolObject,
  sleep,
  startController,
  TestObjects,
  waitFor,
} from '../support/controller.js';
import { adminKubeConfig, controlPlaneAvailable, kubeconfigPath, uniqueName } from '../support/kube.js';

const CLASS = 'heraldlb.io/test-restart';
const KILLS = 20;
const TERMS = 10; // leader SIGTERMs among 3 replicas
const INITIAL = 300;
const [MIN_LIVE, MAX_LIVE] = [280, 320];
// 10 IPv4 + 240 IPv6 = 250 addresses for ~300 Services (from our reserved subranges).
const V4 = { range: '203.0.113.0-203.0.113.9', size: 10, prefix: '203.0.113.' };
const V6 = { range: '2001:db8:100:1::-2001:db8:100:1::ef', size: 240, prefix: '2001:db8:100:1::' };

type Family = 'IPv4' | 'IPv6';
const familyOf = (s: V1Service): Family => (s.spec?.ipFamilies?.[0] === 'IPv4' ? 'IPv4' : 'IPv6');

interface Tally {
  held: Record<Family, number>;
  pending: Record<Family, number>;
}

function tally(services: readonly V1Service[]): Tally {
  const t: Tally = { held: { IPv4: 0, IPv6: 0 }, pending: { IPv4: 0, IPv6: 0 } };
  for (const s of services) {
    if (s.metadata?.deletionTimestamp) continue;
    // Held once the ingress and the pool annotation are both in: they travel in one status
    // patch, but an API server that drops metadata from it gets the annotation in a second
    // write, and counting on the ingress alone would judge "settled" between the two.
    if (ingressOf(s) && s.metadata?.annotations?.['heraldlb.io/ip-allocated-from-pool'])
      t.held[familyOf(s)]++;
    else t.pending[familyOf(s)]++;
  }
  return t;
}

/** Throws (with the numbers) unless the pool is full or nothing waits, per family, and the
 * pool status counts exactly what is held. */
function checkSettled(t: Tally, pool: PoolObject): void {
  const free4 = V4.size - t.held.IPv4;
  const free6 = V6.size - t.held.IPv6;
  const got = pool.status ?? {};
  const want = {
    assignedIPv4: t.held.IPv4,
    availableIPv4: free4,
    assignedIPv6: t.held.IPv6,
    availableIPv6: free6,
  };
  const counts = {
    assignedIPv4: Number(got.assignedIPv4),
    availableIPv4: Number(got.availableIPv4),
    assignedIPv6: Number(got.assignedIPv6),
    availableIPv6: Number(got.availableIPv6),
  };
  const fits = Math.min(free4, t.pending.IPv4) + Math.min(free6, t.pending.IPv6);
  if (fits > 0 || JSON.stringify(counts) !== JSON.stringify(want)) {
    throw new Error(`not settled: ${JSON.stringify({ tally: t, poolStatus: counts, expected: want })}`);
  }
}

describe.runIf(controlPlaneAvailable())('restart safety: SIGKILL at random moments during churn', () => {
  const seed = seedFromEnv();
  const rng = new Rng(seed);
  const runLabel = { 'heraldlb-test': uniqueName('restart') };
  const pool = uniqueName('rs');
  const leaseName = uniqueName('rs-lease');
  let objects: TestObjects;
  let observer: AssignmentObserver;
  let namespaces: string[] = [];
  let controller: ControllerHandle | undefined;

  beforeAll(async () => {
    const kc = adminKubeConfig();
    objects = new TestObjects(kc);
    namespaces = [await objects.namespace('rs-a', runLabel), await objects.namespace('rs-b', runLabel)];
    await objects.createPool(pool, { addresses: [V4.range, V6.range] });
    observer = new AssignmentObserver(kc, `heraldlb-test=${runLabel['heraldlb-test']}`);
    await observer.start();
  });

  afterAll(async () => {
    await controller?.stop();
    await observer?.stop();
    await objects?.cleanup();
    for (const ns of namespaces) await objects.core.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  const start = () =>
    startController({
      kubeconfig: kubeconfigPath(),
      name: 'heraldlb-restart',
      args: [
        `--load-balancer-class=${CLASS}`,
        // A fixed identity is a restarted pod: it renews its own Lease instead of waiting 15 s.
        '--identity=restart-safety',
        `--lease-namespace=${namespaces[0]}`,
        `--lease-name=${leaseName}`,
        '--metrics-addr=127.0.0.1:0',
      ],
    });

  it(`keeps every IP through ${KILLS} SIGKILLs during create/delete/edit churn`, async () => {
    console.log(`restart-safety seed ${seed} (replay: HERALDLB_SEED=${seed})`);
    const t0 = Date.now();
    const churner = startChurn(objects, namespaces, rng, pool, runLabel);
    const { live, ops } = churner;

    const kills: string[] = [];
    for (let k = 0; k < KILLS; k++) {
      controller = start();
      let exitedEarly = false;
      void controller.exited.then(() => {
        exitedEarly = true;
      });
      // Node needs ~1 s to start here, so pick the moment relative to a phase: mostly while
      // leading (restoring, assigning, serving churn), sometimes still starting up.
      if (rng.chance(0.3)) await sleep(rng.int(0, 1500));
      else {
        await controller.waitForLog((l) => l.msg === 'leading: existing assignments loaded', 30_000);
        await sleep(rng.int(0, 1500));
      }
      expect(exitedEarly, `controller exited on its own:\n${controller.stderr()}`).toBe(false);
      const logs = controller.logs();
      const loaded = logs.some((l) => l.msg === 'leading: existing assignments loaded');
      const assigned = logs.filter((l) => l.msg === 'assigned').length;
      await controller.kill();
      kills.push(loaded ? `leading+${assigned}` : 'starting');
    }
    await churner.stop();
    const churnMs = Date.now() - t0;

    controller = start();
    await controller.waitForLog((l) => l.msg === 'leading: existing assignments loaded', 30_000);
    const settled = await settleAndCheck(objects, observer, namespaces, pool, live);

    console.log(
      `restart-safety seed ${seed}: ${KILLS} kills [${kills.join(' ')}], ops ${JSON.stringify(ops)}, ` +
        `${observer.versions} Service versions checked, ${observer.firstIPs.size} Services ever served, ` +
        `final ${JSON.stringify(settled)}, churn ${churnMs} ms, total ${Date.now() - t0} ms`,
    );
  }, 240_000);

  it('keeps every IP through SIGTERMs of the leader among 3 replicas during churn', async () => {
    // A fresh start: the previous test's controller and Services go first.
    await controller?.stop();
    controller = undefined;
    for (const namespace of namespaces) {
      const list = await objects.core.listNamespacedService({ namespace });
      await inParallel(list.items, 16, (s) =>
        retrying(() => objects.deleteService(namespace, s.metadata!.name!)),
      );
    }
    await waitFor(async () => observer.services().length === 0, 30_000);
    const t0 = Date.now();
    const replica = (id: string) =>
      startController({
        kubeconfig: kubeconfigPath(),
        name: `heraldlb-${id}`,
        args: [
          `--load-balancer-class=${CLASS}`,
          `--identity=${id}`,
          `--lease-namespace=${namespaces[0]}`,
          `--lease-name=${leaseName}`,
          '--metrics-addr=127.0.0.1:0',
        ],
      });
    const leases = adminKubeConfig().makeApiClient(CoordinationV1Api);
    const holder = async () =>
      (
        await leases
          .readNamespacedLease({ namespace: namespaces[0]!, name: leaseName })
          .catch(() => undefined)
      )?.spec?.holderIdentity ?? '';
    const replicas = new Map(['rs-0', 'rs-1', 'rs-2'].map((id) => [id, replica(id)]));
    const churner = startChurn(objects, namespaces, rng, pool, runLabel);
    const stops: string[] = [];
    for (let k = 0; k < TERMS; k++) {
      const id = await waitFor(async () => {
        const h = await holder();
        const proc = replicas.get(h);
        return proc?.logs().some((l) => l.msg === 'leading: existing assignments loaded') ? h : undefined;
      }, 40_000);
      await sleep(rng.int(0, 2000));
      const proc = replicas.get(id)!;
      const code = await proc.stop(); // SIGTERM: the term ends, writes settle, the Lease is released
      expect(code, `${id} exit code\n${proc.stderr()}`).toBe(0);
      stops.push(id);
      await sleep(rng.int(0, 3000)); // a Pod restarts after a while: often a standby leads first
      replicas.set(id, replica(id));
      expect(observer.violations, `after stopping ${id} (seed ${seed})`).toEqual([]);
    }
    await churner.stop();
    const settled = await settleAndCheck(objects, observer, namespaces, pool, churner.live);
    await Promise.all([...replicas.values()].map((r) => r.stop()));
    console.log(
      `restart-safety seed ${seed}: ${TERMS} leader SIGTERMs [${stops.join(' ')}], ops ${JSON.stringify(churner.ops)}, ` +
        `${observer.versions} Service versions checked, final ${JSON.stringify(settled)}, total ${Date.now() - t0} ms`,
    );
  }, 240_000);
});

/**
 * Service churn in the background: ~300 Services created (in parallel, as a deploy would),
 * then mixed create/delete/edit until stop(). Edits are those the contract says must not move
 * an IP: labels, unrelated annotations, ports.
 */
function startChurn(
  objects: TestObjects,
  namespaces: string[],
  rng: Rng,
  pool: string,
  runLabel: Record<string, string>,
) {
  const live = new Map<string, { ns: string; name: string }>(); // ns/name -> Service we created
  const ops = { create: 0, delete: 0, edit: 0 };
  let counter = 0;

  const create = async () => {
    const ns = rng.pick(namespaces);
    const name = `s-${(counter++).toString().padStart(4, '0')}`;
    ops.create++;
    await retrying(() =>
      objects.createService(ns, name, {
        loadBalancerClass: CLASS,
        families: [rng.chance(0.04) ? 'IPv4' : 'IPv6'],
        policy: 'SingleStack',
        labels: { ...runLabel, tier: 'a' },
        // Only our pool: a pool another test left behind cannot change what we see.
        annotations: { 'heraldlb.io/address-pool': pool },
        ports: [rng.int(1000, 9000)],
      }),
    );
    live.set(`${ns}/${name}`, { ns, name });
  };
  const remove = async () => {
    const key = rng.pick([...live.keys()]);
    const s = live.get(key)!;
    live.delete(key);
    ops.delete++;
    await retrying(() => objects.deleteService(s.ns, s.name));
  };
  // Edits the contract says must not move an IP: labels, unrelated annotations, ports.
  const edit = async () => {
    const s = live.get(rng.pick([...live.keys()]))!;
    const bodies = [
      { metadata: { labels: { tier: rng.pick(['a', 'b', 'c']) } } },
      { metadata: { annotations: { 'example.com/note': `n${rng.int(0, 1e6)}` } } },
      { spec: { ports: [{ name: 'p', port: rng.int(1000, 9000), protocol: 'TCP' }] } },
    ];
    ops.edit++;
    await retrying(() => objects.patchService(s.ns, s.name, rng.pick(bodies))).catch((err) => {
      if ((err as { code?: number }).code !== 404) throw err; // deleted by a concurrent op
    });
  };

  let churning = true;
  const churnLoop = async () => {
    while (churning) {
      const r = rng.next();
      if (live.size < MIN_LIVE || (live.size < MAX_LIVE && r < 0.34)) await create();
      else if (live.size > MAX_LIVE || r < 0.67) await remove();
      else await edit();
      await sleep(rng.int(0, 30));
    }
  };
  // First the population (in parallel, as a deploy would), then mixed churn; kills throughout.
  const churn = (async () => {
    await inParallel(
      Array.from({ length: INITIAL }, (_, i) => i),
      16,
      () => create(),
    );
    await Promise.all([churnLoop(), churnLoop(), churnLoop()]);
  })();

  return {
    live,
    ops,
    async stop() {
      churning = false;
      await churn;
    },
  };
}

/**
 * Waits until the churned Services settle, then checks on a fresh list from the API server:
 * no Service that had an IP has another, no IP is held twice (the observer also checked every
 * version as it happened), everything in the pool, counts exact, nothing rewritten once settled.
 */
async function settleAndCheck(
  objects: TestObjects,
  observer: AssignmentObserver,
  namespaces: string[],
  pool: string,
  live: ReadonlyMap<string, unknown>,
): Promise<Tally> {
  const settled = await waitFor(
    async () => {
      const t = tally(observer.services());
      checkSettled(t, await objects.getPool(pool));
      return t;
    },
    60_000,
    250,
  );
  // Settled means settled: nothing more is written to our Services.
  const before = new Map(observer.services().map((s) => [s.metadata?.uid, JSON.stringify(s)]));
  await sleep(2000);
  const rewritten = observer.services().filter((s) => before.get(s.metadata?.uid) !== JSON.stringify(s));
  expect(
    rewritten.map((s) => JSON.stringify(s)),
    `Services still being rewritten after settling (was: ${rewritten.map((s) => before.get(s.metadata?.uid)).join('\n')})`,
  ).toEqual([]);

  // Final, authoritative checks on a fresh list from the API server.
  const all = (
    await Promise.all(namespaces.map((namespace) => objects.core.listNamespacedService({ namespace })))
  ).flatMap((l) => l.items);
  const byIP = new Map<string, string>(); // ip -> service holding it
  for (const s of all) {
    const ips = ingressOf(s);
    if (!ips) continue;
    const key = `${s.metadata?.namespace}/${s.metadata?.name}`;
    expect(observer.firstIPs.get(s.metadata?.uid ?? ''), `${key} first IP`).toBe(ips);
    expect(ips.startsWith(familyOf(s) === 'IPv4' ? V4.prefix : V6.prefix), `${key} ${ips} in pool`).toBe(
      true,
    );
    expect(byIP.get(ips), `${ips} held twice`).toBeUndefined();
    byIP.set(ips, key);
  }
  expect(tally(all)).toEqual(settled);
  checkSettled(tally(all), await objects.getPool(pool));
  expect(observer.violations).toEqual([]);
  expect(all.length).toBe(live.size);
  expect(settled.pending.IPv6 + settled.pending.IPv4).toBeGreaterThan(0); // the pool really ran short
  return settled;
}
