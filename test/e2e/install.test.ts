// The installed thing is the tested thing: the image built by `npm run image`, loaded into the
// containerd of each node of `lab up --runtime`, installed with the chart by `helm install`,
// then used as a user would (pool, advertisement, LoadBalancer Service, ARP and curl from the
// client), failed over by a power cut, rolled by `helm upgrade`, and removed by `helm uninstall`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ApiextensionsV1Api, AppsV1Api, PolicyV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureImage } from '../../image/build.js';
import type { Attempt } from '../../lab/probe.js';
import { labDriver } from '../support/cluster-driver.js';
import { CHART_DIR, Helm } from '../support/helm.js';
import { lab, labAvailable, labDir, labKubeConfig, labUp } from '../support/lab.js';
import { labLeftovers } from '../support/lab-leftovers.js';
import { missing, refuseOrWarn } from '../support/prerequisites.js';
import { CAP_NET_RAW, factsOf, pidsInNode, pidsWith } from '../support/processes.js';
import {
  advertise,
  answeringMacs,
  api,
  ipOf,
  measureFailover,
  ownerOf,
  pool,
  servedBy,
  service,
  until,
  urlOf,
} from './scenarios/speaker.js';

const repo = resolve(import.meta.dirname, '..', '..');
const NS = 'heraldlb-system';
const NODES = ['node1', 'node2', 'node3'];
const SERVICES = ['web', 'web2'];
const runnable =
  labAvailable() &&
  refuseOrWarn(
    'install e2e',
    missing({ commands: ['buildah', 'skopeo', 'umoci', 'runc', 'gcc', 'nsenter'] }),
  );
const helm = runnable ? Helm.forTests('install e2e') : undefined;
const d = labDriver(3);
const figures: Record<string, string> = {};
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

const is404 = (err: unknown) => (err as { code?: number }).code === 404;
async function gone(read: () => Promise<unknown>): Promise<boolean> {
  try {
    await read();
    return false;
  } catch (err) {
    if (is404(err)) return true;
    throw err;
  }
}

describe.runIf(runnable && helm)('the chart installed on lab --runtime', () => {
  const a = () => api(d);
  const kc = () => labKubeConfig();
  const kubeconfig = () => join(labDir(), 'kubeconfig');
  const h = () => helm as Helm;
  let crdDir = '';
  let t0 = 0;

  /** Controller Deployment and speaker DaemonSet fully rolled out and Ready. */
  async function productReady(timeoutMs: number): Promise<void> {
    const apps = kc().makeApiClient(AppsV1Api);
    await until(
      'controller Deployment and speaker DaemonSet Ready',
      async () => {
        const dep = await apps.readNamespacedDeployment({ name: 'heraldlb-controller', namespace: NS });
        const ds = await apps.readNamespacedDaemonSet({ name: 'heraldlb-speaker', namespace: NS });
        const depOk =
          dep.status?.readyReplicas === 2 &&
          dep.status?.updatedReplicas === 2 &&
          dep.status?.observedGeneration === dep.metadata?.generation;
        const s = ds.status;
        const dsOk =
          s?.desiredNumberScheduled === 3 &&
          s.numberReady === 3 &&
          s.updatedNumberScheduled === 3 &&
          s.observedGeneration === ds.metadata?.generation;
        return depOk && dsOk ? true : undefined;
      },
      timeoutMs,
      500,
    );
  }

  const ingressOf = async () => {
    const list = await a().core.listNamespacedService({ namespace: 'default' });
    return Object.fromEntries(
      list.items
        .filter((s) => SERVICES.includes(s.metadata?.name ?? ''))
        .map((s) => [s.metadata?.name, JSON.stringify(s.status?.loadBalancer?.ingress ?? [])]),
    );
  };

  beforeAll(async () => {
    t0 = Date.now();
    await lab('down');
    // The chart installs the CRDs (crds.enabled=true): the lab must not have applied them first,
    // or Helm refuses objects it does not own.
    crdDir = mkdtempSync(join(tmpdir(), 'hlb-install-nocrds-'));
    process.env.HERALDLB_LAB_CRDS = crdDir;
    try {
      await labUp('--nodes', '3', '--runtime');
    } finally {
      delete process.env.HERALDLB_LAB_CRDS;
    }
    const built = await ensureImage({ repo, log: (l) => process.stderr.write(`${l}\n`) });
    if (!('digest' in built)) throw new Error('ensureImage returned only a context');
    expect(built.nativeAddon, 'the image must carry the AF_PACKET addon').toBe(true);
    figures.image = `${built.reference} ${built.reused ? 'reused' : `built in ${built.seconds} s`}`;
    const loaded = await lab('load-image', built.dockerArchive);
    expect(loaded.code, loaded.stderr).toBe(0);
  }, 900_000);

  afterAll(async () => {
    if (crdDir) rmSync(crdDir, { recursive: true, force: true });
    h().dispose();
    figures.total = secs(Date.now() - t0);
    process.stderr.write(`install e2e figures: ${JSON.stringify(figures)}\n`);
  });

  it('helm install --wait: controller Deployment and speaker DaemonSet Ready', async () => {
    const core = a().core;
    const ns = await core.readNamespace({ name: NS });
    ns.metadata = {
      ...ns.metadata,
      labels: { ...ns.metadata?.labels, 'pod-security.kubernetes.io/enforce': 'privileged' },
    };
    await core.replaceNamespace({ name: NS, body: ns });
    const t = Date.now();
    const r = await h().start(
      [
        ...['install', 'heraldlb', CHART_DIR, '-n', NS, '--wait', '--timeout', '5m'],
        ...['--set', 'image.repository=localhost/heraldlb', '--set', 'image.tag=0.1.0'],
        ...['--set', 'image.pullPolicy=Never'],
      ],
      kubeconfig(),
    );
    figures.installWait = secs(Date.now() - t);
    expect(r.code, r.stderr).toBe(0);
    await productReady(10_000);
  });

  it('Pods run as the chart says: speaker root with only NET_RAW, controller uid 65534 with none; both read-only root, no_new_privs, seccomp', async () => {
    for (const node of NODES) {
      const pids = pidsWith(['--heartbeat-port=', `--node-name=${node}`], await pidsInNode(node));
      expect(pids, `one speaker process in hlb-${node}`).toHaveLength(1);
      const f = factsOf(pids[0] as number);
      expect(f).toMatchObject({ uid: 0, noNewPrivs: true, seccomp: 2, readOnlyRoot: true });
      expect(f.capEff.toString(16)).toBe(CAP_NET_RAW.toString(16));
    }
    const controllers = pidsWith(['/app/dist/image/entry.js', 'controller']);
    expect(controllers).toHaveLength(2);
    for (const pid of controllers) {
      const f = factsOf(pid);
      expect(f).toMatchObject({ uid: 65534, noNewPrivs: true, seccomp: 2, readOnlyRoot: true });
      expect(f.capEff).toBe(0n);
    }
  });

  let ip = '';
  let owner = '';

  it('a pool, an advertisement, a Service: IP assigned, exactly the owner\u2019s MAC answers ARP, curl reaches the owner', async () => {
    await pool(a(), 'e2e', ['192.0.2.200-192.0.2.239']);
    await advertise(a(), 'e2e', { ipAddressPools: ['e2e'] });
    for (const s of SERVICES) await service(a(), s, { pool: 'e2e' });
    // The controller's informers may still be starting: allow it a little longer.
    ip = await ipOf(a(), 'web', 'default', 60_000);
    await ipOf(a(), 'web2', 'default', 30_000);
    owner = await ownerOf(a(), 'web', 'default', undefined, 30_000);
    const announced = (await a().custom.listNamespacedCustomObject({
      group: 'heraldlb.io',
      version: 'v1beta1',
      namespace: 'default',
      plural: 'l2announcements',
    })) as { items: { status?: { service?: string; node?: string; mac?: string } }[] };
    const mine = announced.items.find((i) => i.status?.service === 'web');
    expect(mine?.status?.node).toBe(owner);
    expect(mine?.status?.mac?.toLowerCase()).toBe(d.macOf(owner));
    expect(await answeringMacs(d, ip)).toEqual([d.macOf(owner)]);
    expect(await servedBy(d, ip)).toBe(owner);
  });

  it('kill-node of the owner: another node serves the IP within 1.5 s; revive', async () => {
    // 8 s of probing: `lab kill-node` itself takes a while to return with --runtime, and the
    // window must cover the time after it.
    let killMs = 0;
    const m = await measureFailover(
      d,
      ip,
      owner,
      async (n) => {
        const k = Date.now();
        await d.fault('kill-node', n);
        killMs = Date.now() - k;
      },
      8000,
    );
    figures.failoverOutage = `${m.outageMs} ms (${owner} -> ${m.after}; kill-node took ${killMs} ms)`;
    expect(killMs).toBeLessThan(6000);
    expect(m.outageMs).toBeDefined();
    expect(m.outageMs as number).toBeLessThan(1500);
    const next = await ownerOf(a(), 'web', 'default', owner);
    expect(m.after).toBe(next);
    expect(await answeringMacs(d, ip)).toEqual([d.macOf(next)]);
    await d.fault('revive-node', owner);
    await productReady(180_000);
    await until(
      'one MAC after revive',
      async () => ((await answeringMacs(d, ip)).length === 1 ? true : undefined),
      15_000,
    );
    owner = await ownerOf(a(), 'web');
  });

  it('link down on the owner (cable pulled, every process alive): another node serves within 1.5 s', async () => {
    // kill-node with --runtime kills the node's cgroups in rounds before it takes the link
    // down, so the peers may take over while the old node still answers TCP: its outage can
    // read 0. Here nothing is killed and nothing is said: only the heartbeats stop.
    const m = await measureFailover(d, ip, owner, (n) => d.fault('link-down', n));
    figures.linkDownOutage = `${m.outageMs} ms (${owner} -> ${m.after})`;
    expect(m.outageMs).toBeDefined();
    expect(m.outageMs as number).toBeLessThan(1500);
    expect(m.after).not.toBe(owner);
    await d.fault('link-up', owner);
    await productReady(120_000);
    await until(
      'one MAC after link up',
      async () => ((await answeringMacs(d, ip)).length === 1 ? true : undefined),
      15_000,
    );
    owner = await ownerOf(a(), 'web');
    expect(await answeringMacs(d, ip)).toEqual([d.macOf(owner)]);
  });

  it('helm upgrade rolling every Pod: no Service\u2019s IP changes at any observed moment; the VIP answers throughout and after', async () => {
    const oldPods = new Set(
      (await a().core.listNamespacedPod({ namespace: NS })).items.map((p) => p.metadata?.uid),
    );
    const before = await ingressOf();
    expect(Object.keys(before).sort()).toEqual([...SERVICES].sort());
    const t = Date.now();
    let done = false;
    const upgrading = h()
      .start(
        [
          ...['upgrade', 'heraldlb', CHART_DIR, '-n', NS, '--reuse-values', '--wait', '--timeout', '5m'],
          ...['--set-string', 'controller.podAnnotations.heraldlb\\.io/e2e-roll=1'],
          ...['--set-string', 'speaker.podAnnotations.heraldlb\\.io/e2e-roll=1'],
        ],
        kubeconfig(),
      )
      .finally(() => {
        done = true;
      });
    // Every 200 ms: each Service's ingress as it is now.
    const changes: string[] = [];
    let polls = 0;
    const watching = (async () => {
      for (let i = 0; i < 3000 && !done; i++) {
        const now = await ingressOf().catch(() => undefined);
        if (now) {
          polls++;
          for (const s of SERVICES)
            if (now[s] !== before[s])
              changes.push(`${s}: ${before[s]} -> ${now[s]} at +${Date.now() - t} ms`);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    // The VIP probed from the client in 10 s windows for as long as the upgrade runs.
    const attempts: Attempt[] = [];
    for (let i = 0; i < 60 && !done; i++) attempts.push(...(await d.probe(urlOf(ip), 10_000)));
    const r = await upgrading;
    await watching;
    figures.upgradeWait = secs(Date.now() - t);
    expect(r.code, r.stderr).toBe(0);
    expect(polls).toBeGreaterThan(10);
    expect(changes).toEqual([]);
    expect(await ingressOf()).toEqual(before);
    // Every Pod was replaced and carries the new annotation.
    const pods = (await a().core.listNamespacedPod({ namespace: NS })).items.filter(
      (p) => p.status?.phase === 'Running',
    );
    expect(pods).toHaveLength(5);
    for (const p of pods) {
      expect(oldPods.has(p.metadata?.uid)).toBe(false);
      expect(p.metadata?.annotations?.['heraldlb.io/e2e-roll']).toBe('1');
    }
    await productReady(10_000);
    figures.upgradeProbe = probeSummary(attempts);
    expect(await answeringMacs(d, ip)).toHaveLength(1);
    const now = await ownerOf(a(), 'web');
    expect(await answeringMacs(d, ip)).toEqual([d.macOf(now)]);
    expect(await servedBy(d, ip)).toBe(now);
  });

  it('helm uninstall removes everything of ours and keeps the CRDs and the pool', async () => {
    const r = await h().start(['uninstall', 'heraldlb', '-n', NS, '--wait', '--timeout', '2m'], kubeconfig());
    expect(r.code, r.stderr).toBe(0);
    const core = a().core;
    const apps = kc().makeApiClient(AppsV1Api);
    const rbac = kc().makeApiClient(RbacAuthorizationV1Api);
    const policy = kc().makeApiClient(PolicyV1Api);
    const namespace = NS;
    const reads: [string, () => Promise<unknown>][] = [
      ['Deployment', () => apps.readNamespacedDeployment({ name: 'heraldlb-controller', namespace })],
      ['DaemonSet', () => apps.readNamespacedDaemonSet({ name: 'heraldlb-speaker', namespace })],
      ['Secret', () => core.readNamespacedSecret({ name: 'heraldlb-heartbeat', namespace })],
      ['PDB', () => policy.readNamespacedPodDisruptionBudget({ name: 'heraldlb-controller', namespace })],
    ];
    for (const c of ['controller', 'speaker']) {
      const name = `heraldlb-${c}`;
      reads.push([`ServiceAccount ${name}`, () => core.readNamespacedServiceAccount({ name, namespace })]);
      reads.push([`ClusterRole ${name}`, () => rbac.readClusterRole({ name })]);
      reads.push([`ClusterRoleBinding ${name}`, () => rbac.readClusterRoleBinding({ name })]);
    }
    for (const name of ['heraldlb-controller-leader-election', 'heraldlb-speaker-presence']) {
      reads.push([`Role ${name}`, () => rbac.readNamespacedRole({ name, namespace })]);
      reads.push([`RoleBinding ${name}`, () => rbac.readNamespacedRoleBinding({ name, namespace })]);
    }
    for (const [what, read] of reads) expect(await gone(read), `${what} gone`).toBe(true);
    // Nothing else labelled as the release's, anywhere.
    const labelSelector = 'app.kubernetes.io/instance=heraldlb';
    const left = [
      ...(await apps.listNamespacedDeployment({ namespace, labelSelector })).items,
      ...(await apps.listNamespacedDaemonSet({ namespace, labelSelector })).items,
      ...(await core.listNamespacedSecret({ namespace, labelSelector })).items,
      ...(await core.listNamespacedServiceAccount({ namespace, labelSelector })).items,
      ...(await rbac.listClusterRole({ labelSelector })).items,
      ...(await rbac.listClusterRoleBinding({ labelSelector })).items,
    ].map((o) => o.metadata?.name);
    expect(left).toEqual([]);
    await until(
      'every Pod of ours gone',
      async () => ((await core.listNamespacedPod({ namespace })).items.length === 0 ? true : undefined),
      120_000,
      500,
    );
    expect(await answeringMacs(d, ip, 2)).toEqual([]);
    // Kept: the CRDs (resource-policy keep), the pool and the advertisement in them.
    const ext = kc().makeApiClient(ApiextensionsV1Api);
    for (const plural of ['ipaddresspools', 'l2advertisements', 'l2announcements'])
      await ext.readCustomResourceDefinition({ name: `${plural}.heraldlb.io` });
    const G = { group: 'heraldlb.io', version: 'v1beta1' };
    await a().custom.getClusterCustomObject({ ...G, plural: 'ipaddresspools', name: 'e2e' });
    await a().custom.getClusterCustomObject({ ...G, plural: 'l2advertisements', name: 'e2e' });
    expect(
      (await a().core.readNamespacedService({ name: 'web', namespace: 'default' })).status?.loadBalancer
        ?.ingress?.[0]?.ip,
    ).toBe(ip);
  });

  it('lab down leaves no namespace, process, mount, cgroup or file behind', async () => {
    expect((await lab('down')).code).toBe(0);
    expect(await labLeftovers()).toEqual({ netns: [], procs: [], mounts: [], cgroups: [], files: [] });
  });
});

/** Attempts, failures and the longest run of failures (last success before to first after). */
function probeSummary(attempts: Attempt[]): string {
  const sorted = [...attempts].sort((x, y) => x.t - y.t);
  let worst = 0;
  let lastOk: number | undefined;
  let failing = false;
  for (const at of sorted) {
    if (!at.ok) failing = true;
    else {
      if (failing && lastOk !== undefined) worst = Math.max(worst, at.t - lastOk);
      failing = false;
      lastOk = at.t;
    }
  }
  const failed = sorted.filter((x) => !x.ok).length;
  return `${sorted.length} attempts, ${failed} failed, longest gap ${Math.round(worst)} ms`;
}
