/**
 * The child of `npm run bench -- replan`: runs the speaker's replan pipeline (translate ->
 * plan -> announcedBy -> transition, as speaker/app.ts does) over 1,000 Services, many times,
 * and prints one `RESULT {json}` line. The parent starts it with --trace-gc-nvp and the
 * speaker's V8 flags and sums what each GC line says was allocated and promoted.
 *
 * Scenarios (argv[2]):
 *   quiet  — nothing changed (an L2Announcement written by some speaker comes back on its
 *            watch: the commonest replan while IPs move)
 *   churn  — one Service object replaced by an equal one with a new resourceVersion each time
 */
import type { V1Node, V1Service } from '@kubernetes/client-node';
import type { IPAddressPool, L2Advertisement } from '../api/crd-types.js';
import { ANNOTATIONS } from '../api/service-annotations.js';
import { announcedBy, type OwnedIp, transition } from '../speaker/decider.js';
import { RankCache } from '../speaker/election.js';
import type { SpeakerModel } from '../speaker/model.js';
import { type Ownership, planOwnership } from '../speaker/plan.js';
import { parseSpeakerModel, type SpeakerObjects } from '../speaker/translate.js';

const NODES = ['node1', 'node2', 'node3'];

function node(name: string, i: number): V1Node {
  return {
    metadata: { name, labels: { 'kubernetes.io/hostname': name }, resourceVersion: '1' },
    status: {
      conditions: [{ type: 'Ready', status: 'True' }],
      addresses: [{ type: 'InternalIP', address: `198.51.100.${i + 1}` }],
    },
  } as V1Node;
}

/** 200 IPv4 from 203.0.113.0/24 and 800 IPv6 from 2001:db8:1::1:0/112, as the lab's bulk bench. */
function service(i: number, rv: number): V1Service {
  const v4 = i < 200;
  return {
    metadata: {
      name: `bulk-${i}`,
      namespace: 'bench',
      uid: `00000000-0000-0000-0000-${String(i).padStart(12, '0')}`,
      resourceVersion: String(rv),
      annotations: { [ANNOTATIONS.allocatedFromPool]: v4 ? 'bulk-v4' : 'bulk-v6' },
    },
    spec: {
      type: 'LoadBalancer',
      externalTrafficPolicy: 'Cluster',
      ports: [{ port: 80, protocol: 'TCP' }],
    },
    status: {
      loadBalancer: {
        ingress: [{ ip: v4 ? `203.0.113.${i + 10}` : `2001:db8:1::1:${(i - 200 + 1).toString(16)}` }],
      },
    },
  } as V1Service;
}

const pools: IPAddressPool[] = [
  { metadata: { name: 'bulk-v4' }, spec: { addresses: ['203.0.113.0/24'] } },
  { metadata: { name: 'bulk-v6' }, spec: { addresses: ['2001:db8:1::1:0/112'] } },
] as IPAddressPool[];
const l2ads: L2Advertisement[] = [{ metadata: { name: 'all' }, spec: {} }] as L2Advertisement[];

function main(): void {
  const scenario = process.argv[2] ?? 'quiet';
  const replans = Number(process.argv[3] ?? 3000);
  if (scenario !== 'quiet' && scenario !== 'churn') throw new Error(`unknown scenario ${scenario}`);
  const services = Array.from({ length: 1000 }, (_, i) => service(i, 1));
  const nodes = NODES.map(node);
  const live = new Set(NODES);
  const held = new Set<string>();
  const ranks = new RankCache();
  let model: SpeakerModel | undefined;
  let plan: ReadonlyMap<string, Ownership> = new Map();
  let owned = new Map<string, OwnedIp>();
  const holds = { yielded: new Map(), conflicted: new Map() };
  const ms: number[] = [];
  let rv = 2;
  for (let n = 0; n < replans; n++) {
    if (scenario === 'churn') {
      const i = n % services.length;
      services[i] = service(i, rv++); // an informer replaces the object on every update
    }
    const t0 = performance.now();
    // The informers' list() hands out fresh arrays each time: so does this.
    const objs: SpeakerObjects = {
      nodes: [...nodes],
      services: [...services],
      pools: [...pools],
      l2ads: [...l2ads],
      endpointSlices: [],
    };
    model = parseSpeakerModel(objs, {}, model).model;
    ranks.retain(model.ips.map((i) => i.ip));
    plan = planOwnership(model, live, held, ranks.rank, plan);
    const wanted = announcedBy('node1', plan, holds);
    const t = transition(owned, wanted);
    if (t.gained.length + t.lost.length + t.changed.length > 0) owned = wanted;
    ms.push(performance.now() - t0);
  }
  process.stdout.write(
    `RESULT ${JSON.stringify({ scenario, replans, ms, owned: owned.size, node: process.version })}\n`,
  );
}

main();
