// Compact API objects for the speaker's unit tests: Nodes, Services, pools, L2Advertisements,
// EndpointSlices, and a model built from them.
import type { V1EndpointSlice, V1Node, V1Service } from '@kubernetes/client-node';
import type { IPAddressPool, L2Advertisement, L2AdvertisementSpec } from '../../api/crd-types.js';
import type { SpeakerModel } from '../../speaker/model.js';
import { parseSpeakerModel, type SpeakerObjects } from '../../speaker/translate.js';

export interface NodeOpts {
  ready?: boolean;
  networkUnavailable?: boolean;
  labels?: Record<string, string>;
  ips?: string[];
}

export function node(name: string, o: NodeOpts = {}): V1Node {
  return {
    metadata: { name, labels: o.labels ?? {} },
    status: {
      conditions: [
        { type: 'Ready', status: o.ready === false ? 'False' : 'True' },
        ...(o.networkUnavailable ? [{ type: 'NetworkUnavailable', status: 'True' }] : []),
      ],
      addresses: (o.ips ?? []).map((address) => ({ type: 'InternalIP', address })),
    },
  };
}

export interface SvcOpts {
  pool?: string | undefined;
  local?: boolean;
  cls?: string;
  type?: string;
}

export function svc(key: string, ips: string[], o: SvcOpts = {}): V1Service {
  const [namespace, name] = key.split('/') as [string, string];
  const pool = 'pool' in o ? o.pool : 'lan';
  return {
    metadata: {
      namespace,
      name,
      annotations: pool === undefined ? {} : { 'heraldlb.io/ip-allocated-from-pool': pool },
    },
    spec: {
      type: o.type ?? 'LoadBalancer',
      ...(o.cls ? { loadBalancerClass: o.cls } : {}),
      externalTrafficPolicy: o.local ? 'Local' : 'Cluster',
    },
    status: { loadBalancer: { ingress: ips.map((ip) => ({ ip, ipMode: 'VIP' })) } },
  };
}

export function pool(name: string, addresses: string[], labels: Record<string, string> = {}): IPAddressPool {
  return { metadata: { name, labels }, spec: { addresses } };
}

export function l2ad(name: string, spec: L2AdvertisementSpec = {}): L2Advertisement {
  return { metadata: { name }, spec };
}

export function slice(
  key: string,
  endpoints: [node: string, ready?: boolean][],
  suffix = 'a',
): V1EndpointSlice {
  const [namespace, name] = key.split('/') as [string, string];
  return {
    addressType: 'IPv4',
    metadata: { namespace, name: `${name}-${suffix}`, labels: { 'kubernetes.io/service-name': name } },
    endpoints: endpoints.map(([nodeName, ready], i) => ({
      addresses: [`10.0.0.${i + 1}`],
      nodeName,
      conditions: ready === undefined ? {} : { ready },
    })),
  };
}

export const objects = (o: Partial<SpeakerObjects>): SpeakerObjects => ({
  nodes: [],
  services: [],
  pools: [pool('lan', ['192.0.2.0/24', '2001:db8::/64'])],
  l2ads: [l2ad('all')],
  endpointSlices: [],
  ...o,
});

export function model(o: Partial<SpeakerObjects>, loadBalancerClass?: string): SpeakerModel {
  const r = parseSpeakerModel(objects(o), loadBalancerClass === undefined ? {} : { loadBalancerClass });
  return r.model;
}

export function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
