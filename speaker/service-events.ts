/**
 * The Events a speaker puts on Services, where `kubectl describe svc` shows them: which node
 * announces an IP and on which interfaces, and a foreign host answering for one. Services are
 * named 'ns/name'; the uid comes from the cache so an Event attaches to the Service as it is
 * now, not to a deleted one of the same name.
 */
import type { V1ObjectReference } from '@kubernetes/client-node';
import { splitKey } from '../api/object-key.js';
import type { Clock } from '../kube/clock.js';
import type { Connection } from '../kube/connection.js';
import { EventRecorder, restEventApi } from '../kube/events.js';
import type { Logger } from '../kube/log.js';

/** ServiceEvents writing through the API server as component heraldlb-speaker, instance `node`. */
export function speakerServiceEvents(
  conn: Connection,
  node: string,
  deps: { clock: Clock; log: Logger; onDrop: () => void; uidOf: (svcKey: string) => string | undefined },
): ServiceEvents {
  const recorder = new EventRecorder({
    sink: restEventApi(conn),
    component: 'heraldlb-speaker',
    instance: node,
    clock: deps.clock,
    logger: deps.log.child({ component: 'events' }),
    onDrop: deps.onDrop,
  });
  return new ServiceEvents(recorder, node, deps.uidOf);
}

export class ServiceEvents {
  constructor(
    private readonly recorder: EventRecorder,
    private readonly node: string,
    private readonly uidOf: (svcKey: string) => string | undefined,
  ) {}

  announcing(services: readonly string[], ip: string, ifnames: readonly string[]): void {
    const where = ifnames.join(',') || 'no interface';
    for (const svc of services)
      this.record(svc, 'Normal', 'Announcing', `${ip} announced by node ${this.node} on ${where}`);
  }

  conflict(services: readonly string[], ip: string, mac: string): void {
    for (const svc of services)
      this.record(
        svc,
        'Warning',
        'IPConflict',
        `${ip} is answered on the LAN by ${mac}, which is not a heraldlb speaker; node ${this.node} does not announce it until that stops`,
      );
  }

  /** Resolves when every Event recorded so far was written (or failed). */
  flush(): Promise<void> {
    return this.recorder.flush();
  }

  private record(svcKey: string, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const { namespace, name } = splitKey(svcKey);
    const ref: V1ObjectReference = {
      apiVersion: 'v1',
      kind: 'Service',
      namespace,
      name,
      uid: this.uidOf(svcKey),
    };
    this.recorder.record(ref, type, reason, message);
  }
}
