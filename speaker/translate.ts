/**
 * API objects -> SpeakerModel: the speaker's one translation layer (ARCHITECTURE §4.2). Pure:
 * the same objects in any order give the same model and the same problems.
 *
 * Exported API:
 *   interface SpeakerObjects { nodes, services, pools, l2ads, endpointSlices }
 *   parseSpeakerModel(objs, opts?: { loadBalancerClass?: string }, prev?) -> { model, problems }
 *   EXCLUDE_LABEL, SERVICE_NAME_LABEL
 *
 * Interpretations:
 * - An IP is heraldlb's when a Service heraldlb handles (type LoadBalancer, the class rule of
 *   --load-balancer-class, as the controller applies it) lists it in status.loadBalancer.ingress
 *   and carries the controller's pool annotation. Without the annotation the IP is skipped: the
 *   controller writes both in one patch, so that is another writer's IP.
 * - Each IP's pool is what the annotation names for it (one name covers every IP, two go by
 *   position), else the pool whose addresses contain it. A pool that no longer exists still
 *   counts for L2Advertisements naming it or selecting every pool (the Service keeps its IP, so
 *   it stays reachable); label selectors cannot match it. Both are reported as problems.
 * - An L2Advertisement selects a pool named in ipAddressPools or matching an
 *   ipAddressPoolSelector; with neither (or both empty), every pool. No nodeSelectors = all nodes.
 * - externalTrafficPolicy Local: a node qualifies when it has a ready endpoint (conditions.ready
 *   not false, nodeName set) in an EndpointSlice labelled kubernetes.io/service-name=<name> in
 *   the Service's namespace. A shared IP needs such an endpoint of every Local Service on it.
 */
import type { V1EndpointSlice, V1Node, V1Service } from '@kubernetes/client-node';
import { type Address, type Interval, parsePoolEntry } from '../api/addresses.js';
import type { IPAddressPool, L2Advertisement, LabelSelector } from '../api/crd-types.js';
import { serviceKey } from '../api/object-key.js';
import { matchesAny, selectorProblem } from '../api/selectors.js';
import { ANNOTATIONS, annotatedPool, ignoredReason } from '../api/service-annotations.js';
import type { AdvertisementRef, IpAnnouncement, NodeFacts, SpeakerModel } from './model.js';
import { reuseModel, sameItems } from './reuse.js';
import { canonicalIp, parseIpText } from './wire-addresses.js';

export const EXCLUDE_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers';
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export interface SpeakerObjects {
  nodes: readonly V1Node[];
  services: readonly V1Service[];
  pools: readonly IPAddressPool[];
  l2ads: readonly L2Advertisement[];
  endpointSlices: readonly V1EndpointSlice[];
}

interface PoolFacts {
  labels: Record<string, string>;
  intervals: Interval[];
}

/** What the Services say about one IP before the pool's advertisements are applied. */
interface IpClaim {
  ip: string;
  addr: Address;
  services: string[];
  pools: string[]; // per service, same order
  local: (ReadonlySet<string> | undefined)[]; // per service: endpoint nodes when Local
}

const byName = <T extends { metadata?: { name?: string } }>(a: T, b: T) =>
  (a.metadata?.name ?? '') < (b.metadata?.name ?? '')
    ? -1
    : (a.metadata?.name ?? '') > (b.metadata?.name ?? '')
      ? 1
      : 0;

const freeze = <T>(xs: T[]): T[] => Object.freeze(xs) as T[];

function conditionTrue(node: V1Node, type: string): boolean {
  return (node.status?.conditions ?? []).some((c) => c.type === type && c.status === 'True');
}

function nodeFacts(nodes: readonly V1Node[]): Map<string, NodeFacts> {
  const out = new Map<string, NodeFacts>();
  for (const n of [...nodes].sort(byName)) {
    const name = n.metadata?.name;
    if (!name) continue;
    const labels = { ...(n.metadata?.labels ?? {}) };
    const internalIPs = (n.status?.addresses ?? [])
      .filter((a) => a.type === 'InternalIP')
      .map((a) => canonicalIp(a.address))
      .filter((a): a is string => a !== undefined);
    out.set(name, {
      name,
      ready: conditionTrue(n, 'Ready'),
      networkUnavailable: conditionTrue(n, 'NetworkUnavailable'),
      excluded: Object.hasOwn(labels, EXCLUDE_LABEL),
      labels,
      internalIPs,
    });
  }
  return out;
}

function poolFacts(pools: readonly IPAddressPool[]): Map<string, PoolFacts> {
  const out = new Map<string, PoolFacts>();
  for (const p of [...pools].sort(byName)) {
    const name = p.metadata?.name;
    if (!name) continue;
    const intervals: Interval[] = [];
    for (const e of p.spec?.addresses ?? []) {
      const r = parsePoolEntry(e);
      if (r.ok) intervals.push(r.interval);
    }
    out.set(name, { labels: { ...(p.metadata.labels ?? {}) }, intervals });
  }
  return out;
}

/** 'ns/service' -> nodes with a ready endpoint of it. */
function endpointNodes(slices: readonly V1EndpointSlice[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const s of slices) {
    const svc = s.metadata?.labels?.[SERVICE_NAME_LABEL];
    const ns = s.metadata?.namespace;
    if (!svc || !ns) continue;
    const key = serviceKey(ns, svc);
    const nodes = out.get(key) ?? new Set<string>();
    out.set(key, nodes);
    for (const ep of s.endpoints ?? []) {
      if (ep.nodeName && ep.conditions?.ready !== false) nodes.add(ep.nodeName);
    }
  }
  return out;
}

function checkSelectors(what: string, sels: readonly LabelSelector[], problems: string[]): void {
  sels.forEach((s, i) => {
    const p = selectorProblem(s);
    if (p) problems.push(`${what}[${i}]: ${p}; it matches nothing`);
  });
}

interface Ad {
  ref: AdvertisementRef;
  poolNames: readonly string[];
  poolSelectors: readonly LabelSelector[];
}

function advertisements(
  ads: readonly L2Advertisement[],
  nodes: Map<string, NodeFacts>,
  problems: string[],
): Ad[] {
  const out: Ad[] = [];
  for (const ad of [...ads].sort(byName)) {
    const name = ad.metadata?.name;
    if (!name) continue;
    const spec = ad.spec ?? {};
    const nodeSels = spec.nodeSelectors ?? [];
    checkSelectors(`L2Advertisement ${name}: nodeSelectors`, nodeSels, problems);
    checkSelectors(
      `L2Advertisement ${name}: ipAddressPoolSelectors`,
      spec.ipAddressPoolSelectors ?? [],
      problems,
    );
    const matching = [...nodes.values()].filter(
      (n) => nodeSels.length === 0 || matchesAny(nodeSels, n.labels),
    );
    const ifaces = spec.interfaces?.length ? freeze([...new Set(spec.interfaces)].sort()) : undefined;
    out.push({
      ref: Object.freeze({ name, nodes: freeze(matching.map((n) => n.name)), interfaces: ifaces }),
      poolNames: spec.ipAddressPools ?? [],
      poolSelectors: spec.ipAddressPoolSelectors ?? [],
    });
  }
  return out;
}

function selectsPool(ad: Ad, pool: string, facts: PoolFacts | undefined): boolean {
  if (ad.poolNames.length === 0 && ad.poolSelectors.length === 0) return true;
  if (ad.poolNames.includes(pool)) return true;
  return facts !== undefined && matchesAny(ad.poolSelectors, facts.labels);
}

type PoolAnnouncement = Pick<IpAnnouncement, 'selectedNodes' | 'interfaces' | 'ads'>;

function poolAnnouncement(pool: string, ads: readonly Ad[], facts: PoolFacts | undefined): PoolAnnouncement {
  const refs = ads.filter((a) => selectsPool(a, pool, facts)).map((a) => a.ref);
  if (refs.length === 0) return { selectedNodes: 'none', interfaces: undefined, ads: freeze([]) };
  const nodes = new Set(refs.flatMap((r) => r.nodes));
  const all = refs.some((r) => r.interfaces === undefined);
  const ifaces = all ? undefined : freeze([...new Set(refs.flatMap((r) => r.interfaces ?? []))].sort());
  return { selectedNodes: freeze([...nodes].sort()), interfaces: ifaces, ads: freeze(refs) };
}

function containingPool(a: Address, pools: Map<string, PoolFacts>): string | undefined {
  for (const [name, p] of pools) {
    if (p.intervals.some((iv) => iv.family === a.family && iv.start <= a.value && a.value <= iv.end))
      return name;
  }
  return undefined;
}

interface Ctx {
  cls: string | undefined;
  pools: Map<string, PoolFacts>;
  endpoints: Map<string, Set<string>>;
  problems: string[];
}

/** What one Service object says, apart from the cluster around it: kept per object (below). */
interface ServiceIps {
  key: string;
  local: boolean; // externalTrafficPolicy Local
  annotation: string;
  ips: { addr: Address; ip: string; named: string | undefined }[]; // ingress order
  problems: string[];
}

// Service object -> its reading, for the class it was read under. An informer replaces the
// object on every update, so an unchanged Service is read once, not on every replan.
const readings = new WeakMap<V1Service, { cls: string | undefined; ips: ServiceIps | undefined }>();

function readService(svc: V1Service, cls: string | undefined): ServiceIps | undefined {
  const cached = readings.get(svc);
  if (cached && cached.cls === cls) return cached.ips;
  const ips = readServiceNow(svc, cls);
  readings.set(svc, { cls, ips });
  return ips;
}

function readServiceNow(svc: V1Service, cls: string | undefined): ServiceIps | undefined {
  if (ignoredReason(svc, cls) !== undefined) return undefined;
  const annotation = svc.metadata?.annotations?.[ANNOTATIONS.allocatedFromPool];
  if (annotation === undefined) return undefined;
  const key = serviceKey(svc.metadata!.namespace!, svc.metadata!.name!);
  const named = annotation
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const ingress = (svc.status?.loadBalancer?.ingress ?? []).filter((i) => i.ip);
  const out: ServiceIps = {
    key,
    local: svc.spec?.externalTrafficPolicy === 'Local',
    annotation,
    ips: [],
    problems: [],
  };
  ingress.forEach((ing, i) => {
    const parsed = parseIpText(ing.ip!); // canonicalIp, keeping the parsed form for sorting
    if (!parsed) out.problems.push(`Service ${key}: ingress "${ing.ip}" is not an IP address; not announced`);
    else out.ips.push({ ...parsed, named: annotatedPool(named, i, ingress.length) });
  });
  return out;
}

/** The IPs of one Service, into `claims` (ip -> claim). */
function claimServiceIPs(r: ServiceIps, ctx: Ctx, claims: Map<string, IpClaim>): void {
  for (const p of r.problems) ctx.problems.push(p);
  const local = r.local ? (ctx.endpoints.get(r.key) ?? EMPTY) : undefined;
  for (const { addr, ip, named } of r.ips) {
    const pool = named ?? containingPool(addr, ctx.pools);
    if (!pool) {
      ctx.problems.push(
        `Service ${r.key}: cannot tell the pool of ${ip} from "${r.annotation}"; not announced`,
      );
      continue;
    }
    const c = claims.get(ip);
    // Array literals, not [] then push: V8 gives a pushed-to empty array room for 17.
    if (!c) claims.set(ip, { ip, addr, services: [r.key], pools: [pool], local: [local] });
    else if (!c.services.includes(r.key)) {
      c.services.push(r.key);
      c.pools.push(pool);
      c.local.push(local);
    }
  }
}

const EMPTY: ReadonlySet<string> = new Set();

function intersect(sets: readonly ReadonlySet<string>[]): string[] {
  const [first, ...rest] = sets;
  return [...(first ?? [])].filter((n) => rest.every((s) => s.has(n))).sort();
}

/** IPv4 first, then numeric order. */
function ipOrder(x: IpClaim, y: IpClaim): number {
  if (x.addr.family !== y.addr.family) return x.addr.family === 'IPv4' ? -1 : 1;
  return x.addr.value < y.addr.value ? -1 : x.addr.value > y.addr.value ? 1 : 0;
}

function announcement(c: IpClaim, ctx: Ctx, perPool: (pool: string) => PoolAnnouncement) {
  const ip = c.ip;
  const pool = c.pools[0]!;
  if (c.pools.some((p) => p !== pool)) {
    ctx.problems.push(`IP ${ip}: its Services name different pools (${c.pools.join(', ')}); using ${pool}`);
  }
  if (!ctx.pools.has(pool)) ctx.problems.push(`IP ${ip}: pool ${pool} does not exist`);
  const locals = c.local.filter((s): s is ReadonlySet<string> => s !== undefined);
  const ann: IpAnnouncement = {
    ip,
    family: ip.includes(':') ? 6 : 4,
    services: c.services,
    pool,
    ...perPool(pool),
  };
  if (locals.length > 0) ann.localNodes = intersect(locals);
  return ann;
}

/** What a model was built from, to tell when the next replan's objects are the same ones. */
interface Built {
  objs: SpeakerObjects;
  cls: string | undefined;
  problems: string[];
}
const builtFrom = new WeakMap<SpeakerModel, Built>();

function sameObjects(a: SpeakerObjects, b: SpeakerObjects): boolean {
  return (
    sameItems(a.services, b.services) &&
    sameItems(a.nodes, b.nodes) &&
    sameItems(a.endpointSlices, b.endpointSlices) &&
    sameItems(a.pools, b.pools) &&
    sameItems(a.l2ads, b.l2ads)
  );
}

/**
 * `prev`: the model this returned last time, if any. The result is always equal to a fresh
 * translation; `prev` only lets it be the same object where nothing changed (reuse.ts): `prev`
 * itself when the objects are the very ones it was built from (an informer replaces an object
 * on every update, so identity is a sound test) or when the new model equals it. Objects and
 * the arrays holding them are read as immutable: one edited in place is not seen as changed.
 */
export function parseSpeakerModel(
  objs: SpeakerObjects,
  opts: { readonly loadBalancerClass?: string } = {},
  prev?: SpeakerModel,
): { model: SpeakerModel; problems: string[] } {
  const cls = opts.loadBalancerClass || undefined;
  const last = prev && builtFrom.get(prev);
  if (prev && last && last.cls === cls && sameObjects(last.objs, objs))
    return { model: prev, problems: [...last.problems] };
  const fresh = translate(objs, cls);
  const model = reuseModel(prev, fresh.model);
  builtFrom.set(model, { objs, cls, problems: fresh.problems });
  return { model, problems: [...fresh.problems] };
}

function translate(
  objs: SpeakerObjects,
  cls: string | undefined,
): { model: SpeakerModel; problems: string[] } {
  const problems: string[] = [];
  const nodes = nodeFacts(objs.nodes);
  const pools = poolFacts(objs.pools);
  const ads = advertisements(objs.l2ads, nodes, problems);
  const ctx: Ctx = {
    cls,
    pools,
    endpoints: endpointNodes(objs.endpointSlices),
    problems,
  };
  const claims = new Map<string, IpClaim>();
  // 'ns/name' order, by the key each reading made once (built inside the comparator, the keys
  // were 20,000 strings per replan at 1,000 Services).
  const read: ServiceIps[] = [];
  for (const svc of objs.services) {
    const r = readService(svc, cls);
    if (r) read.push(r);
  }
  read.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const r of read) claimServiceIPs(r, ctx, claims);
  const memo = new Map<string, PoolAnnouncement>();
  const perPool = (pool: string) => {
    const p = memo.get(pool) ?? poolAnnouncement(pool, ads, pools.get(pool));
    memo.set(pool, p);
    return p;
  };
  // No spread of the Map's entries: each entry would be a fresh [key, value] pair.
  const sorted: IpClaim[] = [];
  for (const c of claims.values()) sorted.push(c);
  const ips = sorted.sort(ipOrder).map((c) => announcement(c, ctx, perPool));
  const unannounced = ips.filter((a) => a.selectedNodes === 'none').map((a) => a.ip);
  return { model: { nodes, ips, unannounced }, problems: [...new Set(problems)].sort() };
}
