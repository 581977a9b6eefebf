import { AuthorizationV1Api } from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { applyObjects, renderedSpeakerRbac, SPEAKER_SERVICE_ACCOUNT } from '../../lab/chart-rbac.js';
import { TestObjects } from '../support/controller.js';
import { adminKubeConfig, controlPlaneAvailable } from '../support/kube.js';

// The speaker's RBAC in the chart, as the API server's authorizer sees it: each thing the
// speaker does is allowed, and the nearest things it must not do are not. (A run of the real
// speaker under this ServiceAccount, as controller-rbac.test.ts does for the controller, is
// the speaker's own test to add.)
type Check = [
  verb: string,
  resource: string,
  group: string,
  where: 'own' | 'other' | 'cluster',
  sub?: string,
];

const ALLOWED: Check[] = [
  ...(['get', 'list', 'watch'] as const).flatMap((v): Check[] => [
    [v, 'nodes', '', 'cluster'],
    [v, 'services', '', 'other'],
    [v, 'endpointslices', 'discovery.k8s.io', 'other'],
    [v, 'ipaddresspools', 'heraldlb.io', 'cluster'],
    [v, 'l2advertisements', 'heraldlb.io', 'cluster'],
  ]),
  ...(['create', 'get', 'list', 'watch', 'update', 'patch', 'delete'] as const).map(
    (v): Check => [v, 'l2announcements', 'heraldlb.io', 'other'],
  ),
  ['patch', 'l2announcements', 'heraldlb.io', 'other', 'status'],
  ['update', 'l2announcements', 'heraldlb.io', 'other', 'status'],
  ['create', 'events', '', 'other'],
  ['patch', 'events', '', 'other'],
  ['create', 'events', 'events.k8s.io', 'other'],
  ['patch', 'events', 'events.k8s.io', 'other'],
  ...(['get', 'list', 'watch', 'create', 'update', 'patch'] as const).map(
    (v): Check => [v, 'leases', 'coordination.k8s.io', 'own'],
  ),
];

const DENIED: Check[] = [
  ['get', 'leases', 'coordination.k8s.io', 'other'],
  ['list', 'leases', 'coordination.k8s.io', 'cluster'],
  ['delete', 'leases', 'coordination.k8s.io', 'own'],
  ['get', 'secrets', '', 'own'],
  ['list', 'secrets', '', 'other'],
  ['patch', 'nodes', '', 'cluster'],
  ['patch', 'services', '', 'other'],
  ['patch', 'services', '', 'other', 'status'],
  ['create', 'ipaddresspools', 'heraldlb.io', 'cluster'],
  ['patch', 'ipaddresspools', 'heraldlb.io', 'cluster', 'status'],
  ['update', 'l2advertisements', 'heraldlb.io', 'cluster'],
  ['list', 'pods', '', 'other'],
  ['delete', 'events', '', 'other'],
];

describe.runIf(controlPlaneAvailable())('speaker RBAC (chart)', () => {
  const admin = adminKubeConfig();
  const objects = new TestObjects(admin);
  let ns = '';
  let other = '';

  beforeAll(async () => {
    ns = await objects.namespace('hlb-speaker-rbac');
    other = await objects.namespace('hlb-speaker-rbac-other');
    await applyObjects(admin, renderedSpeakerRbac(ns));
  });

  const allowed = async ([verb, resource, group, where, subresource]: Check) => {
    const namespace = where === 'own' ? ns : where === 'other' ? other : undefined;
    const r = await admin.makeApiClient(AuthorizationV1Api).createSubjectAccessReview({
      body: {
        spec: {
          user: `system:serviceaccount:${ns}:${SPEAKER_SERVICE_ACCOUNT}`,
          groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
          resourceAttributes: { verb, resource, group, namespace, subresource },
        },
      },
    });
    return r.status?.allowed === true;
  };

  it.each(ALLOWED)('may %s %s (group "%s", %s namespace, %s)', async (...check) => {
    expect(await allowed(check)).toBe(true);
  });

  it.each(DENIED)('may not %s %s (group "%s", %s namespace, %s)', async (...check) => {
    expect(await allowed(check)).toBe(false);
  });
});
