/**
 * Makes this node's L2Announcement objects match what it announces. Level-triggered: every pass
 * compares the whole desired set with the cached objects (an informer on our own label) and
 * writes only differences; a failed pass is retried with backoff and never touches what is
 * announced on the wire — the status is a record for users, not the announcement itself.
 */
import { GROUP, L2ANNOUNCEMENT_PLURAL, type L2Announcement, VERSION } from '../api/crd-types.js';
import { splitKey } from '../api/object-key.js';
import { backoffDelay } from '../kube/backoff.js';
import type { Clock, TimerHandle } from '../kube/clock.js';
import type { Connection } from '../kube/connection.js';
import { classifyApiError, describeApiError } from '../kube/errors.js';
import type { Logger } from '../kube/log.js';
import { deleteJson, sendJson } from '../kube/rest.js';
import { sameStatus } from './status.js';

export const FIELD_MANAGER = 'heraldlb-speaker';

/** The writes the writer needs; restAnnouncementApi() is the real one. */
export interface AnnouncementApi {
  create(obj: L2Announcement): Promise<L2Announcement>;
  patchStatus(namespace: string, name: string, status: L2Announcement['status']): Promise<L2Announcement>;
  remove(namespace: string, name: string): Promise<void>;
}

export function restAnnouncementApi(conn: Connection): AnnouncementApi {
  const path = (ns: string, name?: string) =>
    `/apis/${GROUP}/${VERSION}/namespaces/${encodeURIComponent(ns)}/${L2ANNOUNCEMENT_PLURAL}${name ? `/${encodeURIComponent(name)}` : ''}`;
  const q = { fieldManager: FIELD_MANAGER };
  return {
    create: (obj) =>
      sendJson(
        conn,
        'POST',
        path(obj.metadata.namespace ?? ''),
        { ...obj, status: undefined },
        { query: q, timeoutMs: 10_000 },
      ),
    patchStatus: (ns, name, status) =>
      sendJson(conn, 'PATCH', `${path(ns, name)}/status`, { status }, { query: q, timeoutMs: 10_000 }),
    remove: async (ns, name) => {
      try {
        await deleteJson(conn, path(ns, name), { timeoutMs: 10_000 });
      } catch (err) {
        if (classifyApiError(err) !== 'gone') throw err;
      }
    },
  };
}

export interface WriterDeps {
  api: AnnouncementApi;
  /** What we should have: 'ns/name' -> body. */
  desired: () => ReadonlyMap<string, L2Announcement>;
  /** What the API server has of ours: 'ns/name' -> object (from the informer). */
  stored: () => ReadonlyMap<string, L2Announcement>;
  clock: Clock;
  log: Logger;
  onFailure?: (err: unknown) => void;
}

export class AnnouncementWriter {
  private running = false;
  private dirty = false;
  private stopped = false;
  private retry?: TimerHandle;
  private failures = 0;

  constructor(private readonly d: WriterDeps) {}

  /** Asks for a pass; passes never overlap, a request during one runs another after it. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.dirty = true;
      return;
    }
    this.running = true;
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) this.d.clock.clearTimeout(this.retry);
  }

  /** One pass now, for a graceful stop: removes everything of ours when nothing is desired. */
  async passNow(): Promise<void> {
    this.final = true;
    await this.pass();
  }
  private final = false;

  private async loop(): Promise<void> {
    // Bounded: each round is one pass; a kick during the pass asks for exactly one more.
    for (let round = 0; round < 1000 && !this.stopped; round++) {
      this.dirty = false;
      try {
        await this.pass();
        this.failures = 0;
      } catch (err) {
        this.d.onFailure?.(err);
        this.d.log.warn({ err: describeApiError(err) }, 'announcement status write failed; retrying');
        const wait = backoffDelay(++this.failures, { initialMs: 500, maxMs: 30_000 });
        this.retry = this.d.clock.setTimeout(() => {
          this.retry = undefined;
          this.kick();
        }, wait);
        break;
      }
      if (!this.dirty) break;
    }
    this.running = false;
  }

  private async pass(): Promise<void> {
    const desired = this.d.desired();
    const stored = this.d.stored();
    for (const [key, want] of desired) {
      if (this.stopped) return;
      const have = stored.get(key);
      const { namespace, name } = splitKey(key);
      if (!have) {
        try {
          await this.d.api.create(want);
        } catch (err) {
          if (classifyApiError(err) !== 'conflict') throw err; // 409 AlreadyExists: the cache lags
        }
        await this.d.api.patchStatus(namespace, name, want.status);
        this.d.log.info({ announcement: key }, 'announcement status created');
      } else if (!sameStatus(have, want)) {
        await this.d.api.patchStatus(namespace, name, want.status);
      }
    }
    for (const key of stored.keys()) {
      if (desired.has(key)) continue;
      if (this.stopped && !this.final) return;
      const { namespace, name } = splitKey(key);
      await this.d.api.remove(namespace, name);
      this.d.log.info({ announcement: key }, 'announcement status removed');
    }
  }
}
