/**
 * The speaker's L2Announcement records, wired: what this node should have (from what it
 * announces now, status.ts) against what exists of its own (the informer), kept in step by the
 * AnnouncementWriter. A record for users, never the announcement itself: nothing here can
 * change what is answered on the wire.
 */
import type { L2Announcement } from '../api/crd-types.js';
import { objectKey } from '../api/object-key.js';
import { type Clock, sleep } from '../kube/clock.js';
import type { Connection } from '../kube/connection.js';
import type { Logger } from '../kube/log.js';
import type { SpeakerCaches } from './caches.js';
import type { OwnedIp } from './decider.js';
import { readRoutes, routeInterface } from './routes.js';
import { desiredAnnouncements, managedAnnouncements } from './status.js';
import { AnnouncementWriter, restAnnouncementApi } from './writer.js';

export interface AnnouncementStatusDeps {
  conn: Connection;
  node: string;
  caches: SpeakerCaches;
  clock: Clock;
  log: Logger;
  /** What this node announces now. */
  owned: () => ReadonlyMap<string, OwnedIp>;
  /** Stopping: nothing is desired any more, so every record of ours goes. */
  stopping: () => boolean;
  /** ip -> RFC 3339 time this node began announcing it */
  since: ReadonlyMap<string, string>;
  macs: () => ReadonlyMap<string, string>;
  interfaces: () => readonly string[];
  /** The speakers live at the last plan: a dead one's records for our Services are ours to remove. */
  live: () => ReadonlySet<string>;
  onFailure: () => void;
}

export class AnnouncementStatus {
  private readonly writer: AnnouncementWriter;

  constructor(private readonly d: AnnouncementStatusDeps) {
    this.writer = new AnnouncementWriter({
      api: restAnnouncementApi(d.conn),
      desired: () => this.desired(),
      stored: () => this.stored(),
      clock: d.clock,
      log: d.log,
      onFailure: d.onFailure,
    });
  }

  /** Something announced changed: one more pass (passes never overlap). */
  kick(): void {
    this.writer.kick();
  }

  /** A graceful stop's last pass, bounded: removes our records (nothing is desired), then no more. */
  async finish(boundMs: number): Promise<void> {
    await Promise.race([this.writer.passNow().catch(() => undefined), sleep(this.d.clock, boundMs)]);
    this.writer.stop();
  }

  private desired(): Map<string, L2Announcement> {
    if (this.d.stopping()) return new Map();
    const services = new Map<string, { uid: string }>();
    for (const s of this.d.caches.services.list())
      if (s.metadata?.uid) services.set(objectKey(s), { uid: s.metadata.uid });
    const routes = readRoutes();
    return desiredAnnouncements(this.d.node, this.d.owned(), {
      since: this.d.since,
      macs: this.d.macs(),
      allInterfaces: this.d.interfaces(),
      services,
      routeInterface: (ip, candidates) => routeInterface(routes, ip, candidates),
    });
  }

  private stored(): Map<string, L2Announcement> {
    const announced = new Set([...this.d.owned().values()].flatMap((o) => o.services));
    return managedAnnouncements(this.d.node, this.d.caches.announcements.list(), this.d.live(), announced);
  }
}
