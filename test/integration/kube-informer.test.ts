import { CoreV1Api, type KubeConfig, type V1ConfigMap, type V1Namespace } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeConfigConnection } from '../../kube/connection.js';
import { EventRecorder, restEventApi } from '../../kube/events.js';
import { Informer, restListerWatcher } from '../../kube/informer.js';
import { trimObject } from '../../kube/trim.js';
import { adminKubeConfig, controlPlaneAvailable, uniqueName } from '../support/kube.js';

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(!controlPlaneAvailable())('informer and events against a real API server', () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  const ns = uniqueName('kube-inf');

  beforeAll(async () => {
    kc = adminKubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: ns, labels: { test: 'kube-informer' } } } });
  });
  afterAll(async () => {
    await core?.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  it('namespaced: lists, then follows adds, updates and deletes by key', async () => {
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'pre' }, data: { a: '1' } },
    });
    const inf = new Informer<V1ConfigMap>({
      name: 'configmaps',
      listerWatcher: restListerWatcher(kubeConfigConnection(kc), {
        path: `/api/v1/namespaces/${ns}/configmaps`,
      }),
    });
    const keys: string[] = [];
    inf.onChange((k) => keys.push(k));
    const ctl = new AbortController();
    inf.start(ctl.signal);
    expect(await inf.waitForSync()).toBe(true);
    expect(inf.get(`${ns}/pre`)?.data).toEqual({ a: '1' });
    expect(keys).toContain(`${ns}/pre`);

    await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'new' }, data: { b: '2' } },
    });
    await until(() => inf.get(`${ns}/new`) !== undefined);
    await core.replaceNamespacedConfigMap({
      name: 'new',
      namespace: ns,
      body: { metadata: { name: 'new' }, data: { b: '3' } },
    });
    await until(() => inf.get(`${ns}/new`)?.data?.b === '3');
    await core.deleteNamespacedConfigMap({ name: 'pre', namespace: ns });
    await until(() => inf.get(`${ns}/pre`) === undefined);
    expect(keys.filter((k) => k === `${ns}/new`).length).toBeGreaterThanOrEqual(2);
    // Objects are the API's JSON: timestamps are strings, as on the wire.
    expect(typeof inf.get(`${ns}/new`)?.metadata?.creationTimestamp).toBe('string');
    ctl.abort();
    await inf.stop();
  });

  it('lists in pages (continue tokens) and trims every object it stores', async () => {
    for (const name of ['p1', 'p2', 'p3', 'p4', 'p5'])
      await core.createNamespacedConfigMap({
        namespace: ns,
        body: { metadata: { name }, data: { n: name } },
      });
    const lw = restListerWatcher<V1ConfigMap>(kubeConfigConnection(kc), {
      path: `/api/v1/namespaces/${ns}/configmaps`,
      pageSize: 2,
    });
    let seen = 0;
    const listed = await lw.list(new AbortController().signal, (o) => {
      seen++;
      return trimObject(o);
    });
    const names = listed.items.map((o) => o.metadata?.name);
    expect(names).toEqual(expect.arrayContaining(['p1', 'p2', 'p3', 'p4', 'p5']));
    expect(new Set(names).size).toBe(names.length);
    expect(seen).toBe(names.length);
    expect(listed.items.every((o) => o.metadata?.managedFields === undefined)).toBe(true);
    expect(listed.resourceVersion).not.toBe('');
    for (const name of ['p1', 'p2', 'p3', 'p4', 'p5'])
      await core.deleteNamespacedConfigMap({ name, namespace: ns });
  });

  it('cluster-scoped with a label selector, keys are bare names', async () => {
    const inf = new Informer<V1Namespace>({
      name: 'namespaces',
      listerWatcher: restListerWatcher(kubeConfigConnection(kc), {
        path: '/api/v1/namespaces',
        labelSelector: 'test=kube-informer',
      }),
    });
    inf.start(new AbortController().signal);
    expect(await inf.waitForSync()).toBe(true);
    expect(inf.keys()).toEqual([ns]);
    await inf.stop();
  });

  it('resumes after the server ends the watch (short server-side timeout)', async () => {
    const inf = new Informer<V1ConfigMap>({
      name: 'configmaps',
      listerWatcher: restListerWatcher(kubeConfigConnection(kc), {
        path: `/api/v1/namespaces/${ns}/configmaps`,
        watchTimeoutSeconds: 1,
      }),
    });
    inf.start(new AbortController().signal);
    await inf.waitForSync();
    await new Promise((r) => setTimeout(r, 2500)); // at least two watch rounds
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'late' } } });
    await until(() => inf.get(`${ns}/late`) !== undefined);
    await inf.stop();
  });

  it('retries with backoff while the server is unreachable, and stops cleanly', async () => {
    const bad = adminKubeConfig();
    const cluster = bad.getCurrentCluster()!;
    bad.clusters = bad.clusters.map((c) =>
      c.name === cluster.name ? { ...c, server: 'https://127.0.0.1:1' } : c,
    );
    const inf = new Informer<V1ConfigMap>({
      name: 'unreachable',
      listerWatcher: restListerWatcher(kubeConfigConnection(bad), { path: '/api/v1/configmaps' }),
      backoffInitialMs: 50,
      backoffMaxMs: 200,
    });
    inf.start(new AbortController().signal);
    const synced = inf.waitForSync();
    await new Promise((r) => setTimeout(r, 500));
    expect(inf.hasSynced()).toBe(false);
    await inf.stop();
    expect(await synced).toBe(false);
  });

  it('Event recorder writes core/v1 Events and aggregates repeats', async () => {
    const cm = await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'evented' } },
    });
    const rec = new EventRecorder({
      sink: restEventApi(kubeConfigConnection(kc)),
      component: 'heraldlb-test',
      instance: 'it',
    });
    const ref = {
      kind: 'ConfigMap',
      apiVersion: 'v1',
      namespace: ns,
      name: 'evented',
      uid: cm.metadata?.uid,
    };
    rec.record(ref, 'Warning', 'PoolExhausted', 'no free address');
    rec.record(ref, 'Warning', 'PoolExhausted', 'no free address');
    rec.record(ref, 'Warning', 'PoolExhausted', 'no free address');
    rec.record(ref, 'Normal', 'IPAllocated', 'assigned 203.0.113.7');
    await rec.flush();
    const list = await core.listNamespacedEvent({ namespace: ns });
    const mine = list.items.filter((e) => e.involvedObject.name === 'evented');
    expect(mine).toHaveLength(2);
    const warn = mine.find((e) => e.reason === 'PoolExhausted')!;
    expect(warn.type).toBe('Warning');
    expect(warn.count).toBe(3);
    expect(warn.reportingComponent).toBe('heraldlb-test');
    expect(warn.involvedObject.uid).toBe(cm.metadata?.uid);
  });
});
