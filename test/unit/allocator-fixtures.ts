// Builders shared by the allocator unit tests: compact IPAddressPool and V1Service literals.
import type { V1Service } from '@kubernetes/client-node';
import type { IPAddressPool, LabelSelector } from '../../api/crd-types.js';
import { parseService, type ServiceModel } from '../../controller/service.js';

export interface PoolOpts {
  auto?: boolean;
  buggy?: boolean;
  priority?: number;
  namespaces?: string[];
  nsSel?: LabelSelector[];
  svcSel?: LabelSelector[];
  /** seconds after 2024-01-01 */
  created?: number;
}

export function pool(name: string, addresses: string[], o: PoolOpts = {}): IPAddressPool {
  const sa =
    o.priority !== undefined || o.namespaces || o.nsSel || o.svcSel
      ? {
          ...(o.priority !== undefined ? { priority: o.priority } : {}),
          ...(o.namespaces ? { namespaces: o.namespaces } : {}),
          ...(o.nsSel ? { namespaceSelectors: o.nsSel } : {}),
          ...(o.svcSel ? { serviceSelectors: o.svcSel } : {}),
        }
      : undefined;
  return {
    apiVersion: 'heraldlb.io/v1beta1',
    kind: 'IPAddressPool',
    metadata: {
      name,
      creationTimestamp: new Date(Date.UTC(2024, 0, 1) + (o.created ?? 0) * 1000).toISOString(),
    },
    spec: {
      addresses,
      ...(o.auto !== undefined ? { autoAssign: o.auto } : {}),
      ...(o.buggy !== undefined ? { avoidBuggyIPs: o.buggy } : {}),
      ...(sa ? { serviceAllocation: sa } : {}),
    },
  };
}

export interface SvcOpts {
  ns?: string;
  /** heraldlb.io/loadBalancerIPs */
  ips?: string;
  /** metallb.io/loadBalancerIPs */
  mlbIPs?: string;
  lbIP?: string;
  pool?: string;
  mlbPool?: string;
  share?: string;
  mlbShare?: string;
  /** 'tcp/80' style, or a bare number for TCP */
  ports?: (number | string)[];
  /** externalTrafficPolicy Local with this selector */
  local?: Record<string, string>;
  selector?: Record<string, string>;
  families?: ('IPv4' | 'IPv6')[];
  policy?: 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';
  status?: string[];
  fromPool?: string;
  /** heraldlb.io/sharing-admitted, as a previous controller wrote it */
  admitted?: string;
  labels?: Record<string, string>;
  created?: number;
  cls?: string;
  type?: string;
}

export function svc(name: string, o: SvcOpts = {}): V1Service {
  const annotations: Record<string, string> = {};
  if (o.ips !== undefined) annotations['heraldlb.io/loadBalancerIPs'] = o.ips;
  if (o.mlbIPs !== undefined) annotations['metallb.io/loadBalancerIPs'] = o.mlbIPs;
  if (o.pool !== undefined) annotations['heraldlb.io/address-pool'] = o.pool;
  if (o.mlbPool !== undefined) annotations['metallb.io/address-pool'] = o.mlbPool;
  if (o.share !== undefined) annotations['heraldlb.io/allow-shared-ip'] = o.share;
  if (o.mlbShare !== undefined) annotations['metallb.io/allow-shared-ip'] = o.mlbShare;
  if (o.fromPool !== undefined) annotations['heraldlb.io/ip-allocated-from-pool'] = o.fromPool;
  if (o.admitted !== undefined) annotations['heraldlb.io/sharing-admitted'] = o.admitted;
  const ports = (o.ports ?? [80]).map((p) => {
    const [proto, num] = typeof p === 'number' ? ['TCP', p] : (p.split('/') as [string, string]);
    return { port: Number(num), protocol: proto.toUpperCase() };
  });
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name,
      namespace: o.ns ?? 'default',
      annotations,
      labels: o.labels ?? {},
      creationTimestamp: new Date(Date.UTC(2024, 0, 1) + (o.created ?? 0) * 1000),
    },
    spec: {
      type: o.type ?? 'LoadBalancer',
      ports,
      selector: o.local ?? o.selector ?? { app: name },
      externalTrafficPolicy: o.local ? 'Local' : 'Cluster',
      ipFamilies: o.families ?? ['IPv4'],
      ipFamilyPolicy: o.policy ?? 'SingleStack',
      ...(o.lbIP ? { loadBalancerIP: o.lbIP } : {}),
      ...(o.cls ? { loadBalancerClass: o.cls } : {}),
    },
    status: { loadBalancer: { ingress: (o.status ?? []).map((ip) => ({ ip })) } },
  };
}

/** parseService that must not ignore the Service. */
export function model(s: V1Service, loadBalancerClass?: string): ServiceModel {
  const m = parseService(s, loadBalancerClass === undefined ? {} : { loadBalancerClass });
  if ('ignored' in m) throw new Error(`service ignored: ${m.ignored}`);
  return m;
}

export function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
