// Speaker scenarios over any ClusterDriver: the lab runs them on every CI run (and the speaker
// benchmark uses them), kind for users with Docker. Each returns what it measured; the test
// files assert on it.
import { CoreV1Api, CustomObjectsApi, DiscoveryV1Api, type V1Service } from '@kubernetes/client-node';
import type { ClusterDriver } from './cluster-driver.js';
import { outageMs } from './probe.js';

const G = { group: 'heraldlb.io', version: 'v1beta1' };

export interface Api {
  core: CoreV1Api;
  custom: CustomObjectsApi;
  discovery: DiscoveryV1Api;
}

export function api(d: ClusterDriver): Api {
  const kc = d.kube();
  return {
    core: kc.makeApiClient(CoreV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    discovery: kc.makeApiClient(DiscoveryV1Api),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `check` returns a value (not undefined); bounded by time and count. */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 10_000; i++) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) break;
    await sleep(everyMs);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

async function replaceCluster(
  a: Api,
  plural: string,
  body: { kind: string; metadata: { name: string }; spec: object },
): Promise<void> {
  try {
    await a.custom.deleteClusterCustomObject({ ...G, plural, name: body.metadata.name });
  } catch {
    // absent
  }
  await until(
    `${plural}/${body.metadata.name} created`,
    async () => {
      await a.custom.createClusterCustomObject({
        ...G,
        plural,
        body: { apiVersion: 'heraldlb.io/v1beta1', ...body },
      });
      return true;
    },
    10_000,
    200,
  );
}

export async function pool(a: Api, name: string, addresses: string[]): Promise<void> {
  await replaceCluster(a, 'ipaddresspools', {
    kind: 'IPAddressPool',
    metadata: { name },
    spec: { addresses },
  });
}

export async function advertise(a: Api, name: string, spec: object): Promise<void> {
  await replaceCluster(a, 'l2advertisements', { kind: 'L2Advertisement', metadata: { name }, spec });
}

export async function service(
  a: Api,
  name: string,
  opts: { pool: string; ip?: string; local?: boolean; ns?: string; selector?: Record<string, string> },
): Promise<void> {
  const namespace = opts.ns ?? 'default';
  try {
    await a.core.deleteNamespacedService({ name, namespace });
    await until(
      'old service gone',
      async () => {
        try {
          await a.core.readNamespacedService({ name, namespace });
          return undefined;
        } catch {
          return true;
        }
      },
      10_000,
    );
  } catch {
    // absent
  }
  const annotations: Record<string, string> = { 'heraldlb.io/address-pool': opts.pool };
  if (opts.ip) annotations['heraldlb.io/loadBalancerIPs'] = opts.ip;
  const body: V1Service = {
    metadata: { name, namespace, annotations },
    spec: {
      type: 'LoadBalancer',
      ports: [{ port: 80, protocol: 'TCP' }],
      ...(opts.selector ? { selector: opts.selector } : {}),
      ...(opts.local ? { externalTrafficPolicy: 'Local' } : {}),
      ...(opts.ip?.includes(':') ? { ipFamilies: ['IPv6'] } : {}),
    },
  };
  await a.core.createNamespacedService({ namespace, body });
}

export async function deleteService(a: Api, name: string, ns = 'default'): Promise<void> {
  await a.core.deleteNamespacedService({ name, namespace: ns }).catch(() => undefined);
}

export async function ipOf(a: Api, name: string, ns = 'default', timeoutMs = 15_000): Promise<string> {
  return until(
    `IP of ${ns}/${name}`,
    async () =>
      (await a.core.readNamespacedService({ name, namespace: ns })).status?.loadBalancer?.ingress?.[0]?.ip,
    timeoutMs,
  );
}

interface Announcement {
  metadata: { name: string };
  status?: { node?: string; ips?: string[]; mac?: string; service?: string };
}

/** Nodes whose L2Announcement for the Service exists (normally exactly one). */
export async function announcers(a: Api, name: string, ns = 'default'): Promise<string[]> {
  const list = (await a.custom.listNamespacedCustomObject({
    ...G,
    namespace: ns,
    plural: 'l2announcements',
  })) as {
    items: Announcement[];
  };
  return list.items
    .filter((i) => i.status?.service === name && i.status.node)
    .map((i) => i.status?.node as string)
    .sort();
}

export async function ownerOf(
  a: Api,
  name: string,
  ns = 'default',
  not?: string,
  timeoutMs = 15_000,
): Promise<string> {
  return until(
    `the announcing node of ${ns}/${name}${not ? ` (not ${not})` : ''}`,
    async () => {
      const n = await announcers(a, name, ns);
      return n.length === 1 && n[0] !== not ? n[0] : undefined;
    },
    timeoutMs,
  );
}

/** MACs answering a broadcast ARP (or NDP) for `ip` from the client: exactly one when all is well. */
export async function answeringMacs(d: ClusterDriver, ip: string, count = 3): Promise<string[]> {
  if (ip.includes(':')) {
    const macs = new Set<string>();
    for (let i = 0; i < count; i++) {
      const r = await d.client('ndisc6', '-m', '-r', '1', '-w', '400', ip, 'eth0');
      for (const m of r.stdout.matchAll(/Target link-layer address: ([0-9A-Fa-f:]{17})/g))
        macs.add((m[1] as string).toLowerCase());
    }
    return [...macs].sort();
  }
  const r = await d.client('arping', '-b', '-c', String(count), '-w', String(count + 1), '-I', 'eth0', ip);
  const macs = new Set<string>();
  for (const m of r.stdout.matchAll(/reply from \S+ \[([0-9A-Fa-f:]{17})\]/g))
    macs.add((m[1] as string).toLowerCase());
  return [...macs].sort();
}

export function urlOf(ip: string): string {
  return ip.includes(':') ? `http://[${ip}]/` : `http://${ip}/`;
}

/** One curl from the client: the answering node's name, or '' on failure. */
export async function servedBy(d: ClusterDriver, ip: string): Promise<string> {
  const r = await d.client('curl', '-s', '-g', '-m', '2', urlOf(ip));
  return r.code === 0 ? r.stdout.trim() : '';
}

/**
 * Causes `fault` on the IP's announcing node while the client probes it; returns the
 * client-observed outage (ms), the old and the new serving node.
 */
export async function measureFailover(
  d: ClusterDriver,
  ip: string,
  owner: string,
  fault: (node: string) => Promise<void>,
  windowMs = 4000,
): Promise<{ outageMs: number | undefined; before: string | undefined; after: string | undefined }> {
  const probing = d.probe(urlOf(ip), windowMs);
  await sleep(800);
  const at = Date.now();
  await fault(owner);
  const attempts = await probing;
  const ok = attempts.filter((x) => x.ok);
  return {
    outageMs: outageMs(attempts, at),
    before: ok.filter((x) => x.t <= at).at(-1)?.node,
    after: ok.at(-1)?.node,
  };
}

/** An EndpointSlice for a selector-less Service with one ready endpoint on `node`. */
export async function endpointOn(
  a: Api,
  svc: string,
  node: string,
  address: string,
  ns = 'default',
): Promise<void> {
  const name = `${svc}-manual`;
  await a.discovery.deleteNamespacedEndpointSlice({ name, namespace: ns }).catch(() => undefined);
  await a.discovery.createNamespacedEndpointSlice({
    namespace: ns,
    body: {
      metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': svc } },
      addressType: address.includes(':') ? 'IPv6' : 'IPv4',
      endpoints: [{ addresses: [address], nodeName: node, conditions: { ready: true } }],
      ports: [{ port: 80, protocol: 'TCP' }],
    },
  });
}
