/**
 * The speaker's view of the cluster: one informer per kind it reads, each kept only as it needs
 * (trimmed), with short watches. When the API server is unreachable these keep their last
 * view, which is what the speaker goes on announcing from.
 */
import type { KubernetesObject, V1EndpointSlice, V1Lease, V1Node, V1Service } from '@kubernetes/client-node';
import {
  GROUP,
  IPADDRESSPOOL_PLURAL,
  type IPAddressPool,
  L2ADVERTISEMENT_PLURAL,
  type L2Advertisement,
  L2ANNOUNCEMENT_PLURAL,
  type L2Announcement,
  VERSION,
} from '../api/crd-types.js';
import type { Clock } from '../kube/clock.js';
import type { Connection } from '../kube/connection.js';
import { Informer, restListerWatcher } from '../kube/informer.js';
import type { Logger } from '../kube/log.js';
import { trimObject } from '../kube/trim.js';
import { COMPONENT_LABEL, type PeerPresence, readPresence } from './presence.js';

export type Obj<T> = T & KubernetesObject;

export class SpeakerCaches {
  readonly nodes: Informer<Obj<V1Node>>;
  readonly services: Informer<Obj<V1Service>>;
  readonly pools: Informer<Obj<IPAddressPool>>;
  readonly ads: Informer<Obj<L2Advertisement>>;
  readonly slices: Informer<Obj<V1EndpointSlice>>;
  /** The speakers' presence Leases (label heraldlb.io/component=speaker). */
  readonly leases: Informer<Obj<V1Lease>>;
  /** Every node's L2Announcement records, all namespaces. */
  readonly announcements: Informer<Obj<L2Announcement>>;

  constructor(conn: Connection, namespace: string, clock: Clock, log: Logger) {
    const o = { namespace };
    const inf = <T extends KubernetesObject>(name: string, path: string, labelSelector?: string) =>
      new Informer<T>({
        name,
        // Short watches (20-30 s, then 5 s grace): after a partition heals, a half-open watch
        // is noticed within ~35 s instead of ~2 min, so the view catches up soon after.
        listerWatcher: restListerWatcher<T>(conn, {
          path,
          labelSelector,
          watchTimeoutSeconds: 20 + Math.floor(Math.random() * 11),
          watchGraceSeconds: 5,
        }),
        clock,
        logger: log.child({ component: 'informer', resource: name }),
        transform: trimObject as (x: T) => T,
      });
    const crd = (plural: string) => `/apis/${GROUP}/${VERSION}/${plural}`;
    this.nodes = inf<Obj<V1Node>>('nodes', '/api/v1/nodes');
    this.services = inf<Obj<V1Service>>('services', '/api/v1/services');
    this.pools = inf<Obj<IPAddressPool>>('ipaddresspools', crd(IPADDRESSPOOL_PLURAL));
    this.ads = inf<Obj<L2Advertisement>>('l2advertisements', crd(L2ADVERTISEMENT_PLURAL));
    this.slices = inf<Obj<V1EndpointSlice>>('endpointslices', '/apis/discovery.k8s.io/v1/endpointslices');
    this.leases = inf<Obj<V1Lease>>(
      'leases',
      `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(o.namespace)}/leases`,
      `${COMPONENT_LABEL}=speaker`,
    );
    this.announcements = inf<Obj<L2Announcement>>('l2announcements', crd(L2ANNOUNCEMENT_PLURAL));
  }

  all(): Informer<KubernetesObject>[] {
    return [
      this.nodes,
      this.services,
      this.pools,
      this.ads,
      this.slices,
      this.leases,
      this.announcements,
    ] as Informer<KubernetesObject>[];
  }

  /** True once every cache is synced; otherwise how many wait. */
  ready(): boolean | string {
    const waiting = this.all().filter((i) => !i.hasSynced()).length;
    return waiting === 0 ? true : `${waiting} caches not synced`;
  }

  presences(): Map<string, PeerPresence> {
    const out = new Map<string, PeerPresence>(); // node -> its presence
    for (const l of this.leases.list()) {
      const p = readPresence(l);
      if (p) out.set(p.node, p);
    }
    return out;
  }

  speakerOf(mac: string): string | undefined {
    for (const p of this.presences().values()) if (p.macs.includes(mac)) return p.node;
    return undefined;
  }
}
