/**
 * Each speaker's presence Lease (coordination.k8s.io, `heraldlb-speaker-<node>`): the slow,
 * authoritative liveness backstop behind the heartbeats, and where a speaker publishes the MACs
 * it answers with, so its peers can tell another speaker answering (split brain) from a foreign
 * host (a conflict). Renewal failures are logged and counted, never acted on: losing the API
 * server must not change what is announced.
 */
import type { V1Lease } from '@kubernetes/client-node';
import type { Clock, TimerHandle } from '../kube/clock.js';
import type { Connection } from '../kube/connection.js';
import { classifyApiError, describeApiError } from '../kube/errors.js';
import { microTime } from '../kube/lease-client.js';
import type { Logger } from '../kube/log.js';
import { sendJson } from '../kube/rest.js';

export const PRESENCE_PREFIX = 'heraldlb-speaker-';
export const COMPONENT_LABEL = 'heraldlb.io/component';
export const MACS_ANNOTATION = 'heraldlb.io/macs';

export const presenceLeaseName = (node: string): string => `${PRESENCE_PREFIX}${node}`.slice(0, 253);

export interface PeerPresence {
  node: string;
  /** Wall-clock ms of the last renewal, as written by the peer. */
  renewedAt: number;
  durationMs: number;
  macs: string[];
}

/** What a presence Lease says; undefined for Leases that are not speakers'. */
export function readPresence(lease: V1Lease): PeerPresence | undefined {
  const node = lease.spec?.holderIdentity;
  if (!node || lease.metadata?.labels?.[COMPONENT_LABEL] !== 'speaker') return undefined;
  const t = lease.spec?.renewTime as unknown;
  const renewedAt = t instanceof Date ? t.getTime() : typeof t === 'string' ? Date.parse(t) : 0;
  const macs = (lease.metadata?.annotations?.[MACS_ANNOTATION] ?? '')
    .split(',')
    .map((m) => m.trim().toLowerCase())
    .filter((m) => /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(m));
  return {
    node,
    renewedAt: Number.isFinite(renewedAt) ? renewedAt : 0,
    durationMs: (lease.spec?.leaseDurationSeconds ?? 0) * 1000,
    macs,
  };
}

/** Expired by the wall clock, with the Lease's own duration. */
export const presenceExpired = (p: PeerPresence, nowWall: number): boolean =>
  p.renewedAt + p.durationMs < nowWall;

/**
 * Speakers alive: those the heartbeats hear, and this node, minus any peer whose presence Lease
 * expired while its Node is not Ready — packets that claim otherwise lose to both records.
 */
export function liveSpeakers(
  self: string,
  heard: Iterable<string>,
  presences: Iterable<PeerPresence>,
  nodeReady: (node: string) => boolean,
  nowWall: number,
): Set<string> {
  const out = new Set(heard);
  out.add(self);
  for (const p of presences) {
    if (p.node === self || !out.has(p.node)) continue;
    if (presenceExpired(p, nowWall) && !nodeReady(p.node)) out.delete(p.node);
  }
  return out;
}

export interface PresenceDeps {
  conn: Connection;
  namespace: string;
  node: string;
  durationMs: number;
  macs: () => string[];
  clock: Clock;
  log: Logger;
  onFailure?: (err: unknown) => void;
}

export class PresenceLease {
  private timer?: TimerHandle;
  private stopped = false;

  constructor(private readonly d: PresenceDeps) {}

  start(): void {
    void this.renew();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) this.d.clock.clearTimeout(this.timer);
  }

  private body() {
    const d = this.d;
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: presenceLeaseName(d.node),
        namespace: d.namespace,
        labels: { [COMPONENT_LABEL]: 'speaker' },
        annotations: { [MACS_ANNOTATION]: d.macs().join(',') },
      },
      spec: {
        holderIdentity: d.node,
        leaseDurationSeconds: Math.ceil(d.durationMs / 1000),
        renewTime: microTime(d.clock.wall()),
      },
    };
  }

  private async renew(): Promise<void> {
    if (this.stopped) return;
    const d = this.d;
    const path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(d.namespace)}/leases`;
    const one = `${path}/${encodeURIComponent(presenceLeaseName(d.node))}`;
    try {
      try {
        await sendJson(d.conn, 'PATCH', one, this.body(), { timeoutMs: Math.min(10_000, d.durationMs / 3) });
      } catch (err) {
        if (classifyApiError(err) !== 'gone') throw err;
        await sendJson(d.conn, 'POST', path, this.body(), { timeoutMs: Math.min(10_000, d.durationMs / 3) });
      }
    } catch (err) {
      d.onFailure?.(err);
      d.log.warn({ err: describeApiError(err) }, 'presence Lease renewal failed (announcing goes on)');
    }
    if (!this.stopped) this.timer = d.clock.setTimeout(() => void this.renew(), d.durationMs / 3);
  }
}
