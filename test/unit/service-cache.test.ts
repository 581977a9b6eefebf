import type { V1Service } from '@kubernetes/client-node';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseService } from '../../controller/service.js';
import { serviceProjection } from '../../controller/service-cache.js';
import { deepFreeze, type SvcOpts, svc } from './allocator-fixtures.js';

/** A Service as the API server returns it: fields the controller never reads added on top. */
function asServed(s: V1Service): V1Service {
  const meta = s.metadata ?? {};
  return {
    ...s,
    metadata: {
      ...meta,
      uid: '7251cca0-881a-4998-b5ab-35126749ddd3',
      resourceVersion: '20259',
      generation: 3,
      managedFields: [{ manager: 'kubectl', operation: 'Apply', fieldsType: 'FieldsV1', fieldsV1: {} }],
      annotations: {
        ...meta.annotations,
        'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(s),
        'argocd.argoproj.io/tracking-id': 'app:/Service:default/web',
      },
    },
    spec: {
      ...s.spec,
      clusterIP: '198.51.100.7',
      clusterIPs: ['198.51.100.7'],
      sessionAffinity: 'None',
      internalTrafficPolicy: 'Cluster',
      allocateLoadBalancerNodePorts: false,
      ports: (s.spec?.ports ?? []).map((p, i) => ({
        ...p,
        name: `p${i}`,
        targetPort: 8080,
        nodePort: 30000 + i,
      })),
    },
    status: { ...s.status, conditions: [] },
  };
}

const cases: [string, SvcOpts & { deleting?: boolean }][] = [
  ['plain IPv4', {}],
  [
    'dual-stack with requested IPs and a pool',
    { policy: 'RequireDualStack', ips: '203.0.113.5,2001:db8::5', pool: 'lan' },
  ],
  ['metallb spellings', { mlbIPs: '203.0.113.9', mlbPool: 'lan', mlbShare: 'k' }],
  ['spec.loadBalancerIP', { lbIP: '203.0.113.7' }],
  ['sharing, Local policy, UDP', { share: 'k', local: { app: 'dns' }, ports: ['udp/53', 53] }],
  ['assigned, with the pool annotation', { status: ['203.0.113.5'], fromPool: 'lan' }],
  ['labels for serviceSelectors', { labels: { tier: 'web' }, ns: 'media' }],
  ['a class', { cls: 'heraldlb.io/lb' }],
  ['left LoadBalancer, still has ingress', { type: 'ClusterIP', status: ['203.0.113.5'], fromPool: 'lan' }],
  ['being deleted', { deleting: true, status: ['203.0.113.5'] }],
];

describe('serviceProjection', () => {
  it.each(cases)('%s: parseService sees no difference', (_, o) => {
    const s = asServed(svc('web', o));
    if (o.deleting && s.metadata) s.metadata.deletionTimestamp = new Date();
    deepFreeze(s);
    const p = serviceProjection(s);
    for (const cls of [undefined, 'heraldlb.io/lb']) {
      const opts = cls === undefined ? {} : { loadBalancerClass: cls };
      expect(parseService(p, opts)).toEqual(parseService(s, opts));
    }
    // What the status diff, Events and the informer read is kept as is.
    expect(p.status).toEqual({ loadBalancer: s.status?.loadBalancer });
    expect(p.metadata?.uid).toBe(s.metadata?.uid);
    expect(p.metadata?.resourceVersion).toBe(s.metadata?.resourceVersion);
  });

  it('drops what the controller never reads', () => {
    const p = serviceProjection(deepFreeze(asServed(svc('web', { share: 'k' }))));
    expect(p.metadata).not.toHaveProperty('managedFields');
    expect(Object.keys(p.metadata?.annotations ?? {})).toEqual(['heraldlb.io/allow-shared-ip']);
    expect(Object.keys(p.spec ?? {}).sort()).toEqual(
      ['externalTrafficPolicy', 'ipFamilies', 'ipFamilyPolicy', 'ports', 'selector', 'type'].sort(),
    );
    expect(p.spec?.ports).toEqual([{ port: 80, protocol: 'TCP' }]);
    expect(p.status).not.toHaveProperty('conditions');
  });

  it('keeps a Service with no spec, metadata or status as empty as it came', () => {
    expect(serviceProjection({})).toEqual({});
  });

  it('property: for any annotation set, parseService of the projection equals parseService', () => {
    const value = fc.constantFrom('', 'lan', 'k', '203.0.113.5', '2001:db8::5,203.0.113.6', 'junk');
    const key = fc.constantFrom(
      'heraldlb.io/loadBalancerIPs',
      'metallb.io/loadBalancerIPs',
      'heraldlb.io/address-pool',
      'metallb.io/address-pool',
      'heraldlb.io/allow-shared-ip',
      'metallb.io/allow-shared-ip',
      'heraldlb.io/ip-allocated-from-pool',
      'example.com/other',
      'heraldlb.io/unknown',
    );
    fc.assert(
      fc.property(
        fc.dictionary(key, value),
        fc.constantFrom<SvcOpts['policy']>('SingleStack', 'PreferDualStack', 'RequireDualStack'),
        (ann, policy) => {
          const s = asServed(svc('web', { policy, families: ['IPv6', 'IPv4'] }));
          s.metadata = { ...s.metadata, annotations: { ...s.metadata?.annotations, ...ann } };
          expect(parseService(serviceProjection(s), {})).toEqual(parseService(s, {}));
        },
      ),
      { numRuns: 300 },
    );
  });
});
