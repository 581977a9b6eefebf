// What of a Service the controller keeps in its informer cache: the fields parseService,
// the status diff and Events read, and nothing else. The cache holds every Service in the
// cluster (ClusterIP ones too, to notice one leaving LoadBalancer), so at 10,000 Services each
// dropped field is 10,000 strings or arrays; clusterIPs, sessionAffinity, other tools'
// annotations and the like are most of an object. A projection test proves parseService
// sees no difference.
import type { V1Service, V1ServicePort } from '@kubernetes/client-node';
import { ANNOTATIONS } from './service.js';

const METADATA = [
  'name',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'labels',
] as const;

const SPEC = [
  'type',
  'loadBalancerClass',
  'loadBalancerIP',
  'ipFamilies',
  'ipFamilyPolicy',
  'externalTrafficPolicy',
  'selector',
] as const;

// The annotations the controller reads: its own and MetalLB's spellings.
const READ = new Set<string>(Object.values(ANNOTATIONS).flat());

/** Copies the listed keys that are present (an absent key stays absent, not `undefined`). */
function pick<T extends object, K extends keyof T>(from: T, keys: readonly K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const k of keys) if (from[k] !== undefined) out[k] = from[k];
  return out;
}

function ourAnnotations(all: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!all) return undefined;
  const kept = Object.entries(all).filter(([k]) => READ.has(k));
  return kept.length > 0 ? Object.fromEntries(kept) : undefined;
}

function port(p: V1ServicePort): V1ServicePort {
  return p.protocol === undefined ? { port: p.port } : { port: p.port, protocol: p.protocol };
}

/** The cached form of a Service (a new object; `svc` is not changed). */
export function serviceProjection(svc: V1Service): V1Service {
  const out: V1Service = {};
  if (svc.metadata) {
    out.metadata = pick(svc.metadata, METADATA);
    const ann = ourAnnotations(svc.metadata.annotations);
    if (ann) out.metadata.annotations = ann;
  }
  if (svc.spec) {
    out.spec = pick(svc.spec, SPEC);
    if (svc.spec.ports) out.spec.ports = svc.spec.ports.map(port);
  }
  if (svc.status?.loadBalancer) out.status = { loadBalancer: svc.status.loadBalancer };
  return out;
}
