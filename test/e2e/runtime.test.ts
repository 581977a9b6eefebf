// `lab up --runtime`: the lab as a cluster that runs workloads. Real kube-controller-manager,
// kube-scheduler, and per node namespace containerd + kubelet running Pods with runc from
// an OCI image imported from an OCI layout.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, DiscoveryV1Api, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curlFromClient, inNs, lab, labAvailable, labDir, labKubeConfig, labUp } from '../support/lab.js';
import { labLeftovers } from '../support/lab-leftovers.js';
import { missing, refuseOrWarn } from '../support/prerequisites.js';
import { buildTestImage } from '../support/test-image.js';

const NS = 'runtime-e2e';
const IMAGE = 'heraldlb.local/lab-test:1';
const PORT = 8080;
const runtimeOk = refuseOrWarn(
  'runtime e2e',
  missing({ commands: ['umoci', 'skopeo', 'runc', 'gcc', 'nsenter', 'busybox'] }),
);

async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (let i = 0; i < 2000; i++) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms (${String(last ?? '')})`);
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${what}: gave up`);
}

const core = () => labKubeConfig().makeApiClient(CoreV1Api);
const ready = (p: V1Pod) => p.status?.conditions?.find((c) => c.type === 'Ready')?.status;
const pods = async () => (await core().listNamespacedPod({ namespace: NS, labelSelector: 'app=web' })).items;
const nodeReady = async (name: string) =>
  (await core().readNode({ name })).status?.conditions?.find((c) => c.type === 'Ready')?.status;

describe.runIf(labAvailable() && runtimeOk)('lab --runtime', () => {
  let imageDir = '';
  const flagDir = () => join(labDir(), 'probe');

  beforeAll(async () => {
    await lab('down');
    const t0 = Date.now();
    const up = await labUp('--nodes', '2', '--runtime');
    process.stderr.write(`runtime e2e: lab up --runtime in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    expect(up.stdout).toMatch(/runtime: kube-controller-manager/);
    const img = await buildTestImage();
    imageDir = img.layout;
    const loaded = await lab('load-image', img.ref, '--name', IMAGE);
    expect(loaded.code, loaded.stderr).toBe(0);
  }, 3_600_000);

  afterAll(async () => {
    if (imageDir) await rm(imageDir, { recursive: true, force: true });
  });

  it('nodes are registered and kept Ready by their own kubelet', async () => {
    for (const name of ['node1', 'node2']) {
      const n = await core().readNode({ name });
      expect(n.status?.nodeInfo?.kubeletVersion).toMatch(/^v1\.\d+\.\d+/);
      expect(n.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\//);
      expect(n.metadata?.labels?.['heraldlb.io/lab-node']).toBe('true');
      expect(n.status?.addresses).toContainEqual({
        type: 'InternalIP',
        address: `192.0.2.1${name.slice(4)}`,
      });
      expect(await nodeReady(name)).toBe('True');
    }
  });

  it('runs a hostNetwork DaemonSet Pod in each node namespace; Ready follows its readiness probe', async () => {
    await core().createNamespace({ body: { metadata: { name: NS } } });
    await mkdir(flagDir(), { recursive: true });
    const script = [
      'mkdir -p /www',
      'echo $NODE_NAME > /www/index.html',
      'cat /var/run/secrets/kubernetes.io/serviceaccount/token > /www/token',
      'env > /www/env',
      `exec httpd -f -p ${PORT} -h /www`,
    ].join(' && ');
    await labKubeConfig()
      .makeApiClient(AppsV1Api)
      .createNamespacedDaemonSet({
        namespace: NS,
        body: {
          metadata: { name: 'web' },
          spec: {
            selector: { matchLabels: { app: 'web' } },
            template: {
              metadata: { labels: { app: 'web' } },
              spec: {
                hostNetwork: true,
                terminationGracePeriodSeconds: 1,
                containers: [
                  {
                    name: 'web',
                    image: IMAGE,
                    imagePullPolicy: 'Never',
                    command: ['/bin/sh', '-c', script],
                    env: [{ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
                    ports: [{ containerPort: PORT, name: 'http' }],
                    volumeMounts: [{ name: 'flag', mountPath: '/www/flag' }],
                    readinessProbe: { httpGet: { path: '/flag/ready', port: PORT }, periodSeconds: 1 },
                  },
                ],
                volumes: [{ name: 'flag', hostPath: { path: flagDir(), type: 'Directory' } }],
              },
            },
          },
        },
      });
    const running = await eventually(
      'a running web Pod on each node',
      async () => {
        const ps = await pods();
        const on = ps.filter((p) => p.status?.phase === 'Running').map((p) => p.spec?.nodeName);
        return on.sort().join(',') === 'node1,node2' ? ps : undefined;
      },
      180_000,
    );
    // Serving, but the probe's file is absent: not Ready.
    for (const p of running) expect(ready(p)).toBe('False');
    for (const [node, ip] of [
      ['node1', '192.0.2.11'],
      ['node2', '192.0.2.12'],
    ]) {
      expect((await curlFromClient(`http://${ip}:${PORT}/`)).stdout.trim()).toBe(node);
    }
    await writeFile(join(flagDir(), 'ready'), 'ok\n');
    await eventually(
      'both Pods Ready',
      async () => (await pods()).every((p) => ready(p) === 'True') || undefined,
      60_000,
    );
    await rm(join(flagDir(), 'ready'));
    await eventually(
      'both Pods not Ready again',
      async () => (await pods()).every((p) => ready(p) === 'False') || undefined,
      60_000,
    );
    await writeFile(join(flagDir(), 'ready'), 'ok\n');
    await eventually(
      'both Pods Ready',
      async () => (await pods()).every((p) => ready(p) === 'True') || undefined,
      60_000,
    );
  });

  it('mounts a real ServiceAccount token and the in-cluster environment, which reaches the API', async () => {
    const env = (await curlFromClient(`http://192.0.2.11:${PORT}/env`)).stdout;
    expect(env).toMatch(/^KUBERNETES_SERVICE_HOST=198\.51\.100\.1$/m);
    expect(env).toMatch(/^KUBERNETES_SERVICE_PORT=443$/m);
    const token = (await curlFromClient(`http://192.0.2.11:${PORT}/token`)).stdout.trim();
    expect(token.split('.')).toHaveLength(3);
    // From the node namespace, as the Pod would: the in-cluster address, the Pod's token.
    const ca = join(labDir(), 'cp', 'certs', 'ca.crt');
    const review = await inNs(
      'node1',
      'curl',
      '-s',
      '--cacert',
      ca,
      '-H',
      `Authorization: Bearer ${token}`,
      '-H',
      'Content-Type: application/json',
      '-X',
      'POST',
      '-d',
      '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}',
      'https://198.51.100.1:443/apis/authentication.k8s.io/v1/selfsubjectreviews',
    );
    const who = JSON.parse(review.stdout) as {
      status: { userInfo: { username: string; extra?: Record<string, string[]> } };
    };
    expect(who.status.userInfo.username).toBe(`system:serviceaccount:${NS}:default`);
    // A bound token (TokenRequest): it names the Pod it was issued for.
    expect(who.status.userInfo.extra?.['authentication.kubernetes.io/pod-name']?.[0]).toMatch(/^web-/);
  });

  it('kube-controller-manager makes the EndpointSlices of a Service from the Ready Pods', async () => {
    await core().createNamespacedService({
      namespace: NS,
      body: {
        metadata: { name: 'web' },
        spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: PORT }] },
      },
    });
    const discovery = labKubeConfig().makeApiClient(DiscoveryV1Api);
    const addrs = await eventually(
      'an EndpointSlice with both nodes Ready',
      async () => {
        const slices = await discovery.listNamespacedEndpointSlice({
          namespace: NS,
          labelSelector: 'kubernetes.io/service-name=web',
        });
        const eps = slices.items.flatMap((s) => s.endpoints ?? []).filter((e) => e.conditions?.ready);
        const a = eps.flatMap((e) => e.addresses).sort();
        return a.length === 2 ? a : undefined;
      },
      60_000,
    );
    expect(addrs).toEqual(['192.0.2.11', '192.0.2.12']);
  });

  it('node-notready / node-ready go through the kubelet; kill-node and revive-node too', async () => {
    expect((await lab('node-notready', 'node2')).code).toBe(0);
    expect(await nodeReady('node2')).toBe('False');
    expect((await lab('node-ready', 'node2')).code).toBe(0);
    expect(await nodeReady('node2')).toBe('True');
    expect((await lab('kill-node', 'node2')).code).toBe(0);
    await eventually(
      'node2 Unknown after the grace period',
      async () => (await nodeReady('node2')) === 'Unknown' || undefined,
      60_000,
    );
    expect((await curlFromClient(`http://192.0.2.12:${PORT}/`, 1)).code).not.toBe(0);
    const revived = await lab('revive-node', 'node2');
    expect(revived.code, revived.stderr).toBe(0);
    expect(await nodeReady('node2')).toBe('True');
    await eventually(
      'the web Pod serving on node2 again',
      async () => (await curlFromClient(`http://192.0.2.12:${PORT}/`)).stdout.trim() === 'node2' || undefined,
      120_000,
    );
  });

  it('deleting the namespace removes everything in it (namespace controller, garbage collector)', async () => {
    await core().deleteNamespace({ name: NS });
    await eventually(
      'the namespace gone',
      async () => {
        try {
          await core().readNamespace({ name: NS });
          return undefined;
        } catch (err) {
          return (err as { code?: number }).code === 404 || undefined;
        }
      },
      120_000,
    );
    // The kubelets stopped the containers: nothing serves on the nodes' port any more.
    await eventually(
      'the web servers gone',
      async () => (await curlFromClient(`http://192.0.2.11:${PORT}/`, 1)).code !== 0 || undefined,
      30_000,
    );
  });

  it('down leaves no namespace, process, mount, cgroup or file behind', async () => {
    expect((await lab('down')).code).toBe(0);
    expect(await labLeftovers()).toEqual({ netns: [], procs: [], mounts: [], cgroups: [], files: [] });
  });
});
