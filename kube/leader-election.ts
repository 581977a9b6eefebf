// Lease-based leader election on coordination.k8s.io/v1 Leases (behaviour modelled on
// client-go's leaderelection; our own code). Safety rests on three rules:
// - expiry is judged by the LOCAL clock: a lease counts as expired only when this process has
//   seen the same resourceVersion for leaseDuration, never by comparing remote timestamps;
// - a leader that cannot renew for renewDeadline (< leaseDuration) steps down before anyone
//   else may take over;
// - every write carries the resourceVersion it was based on, so a 409 means we lost a race.
import { type Clock, sleepUnlessAborted, systemClock } from './clock.js';
import { classifyApiError, describeApiError, KubeError } from './errors.js';
import { type Logger, silentLogger } from './log.js';

/** The part of a Lease the election reads and writes; times are epoch milliseconds. */
export interface LeaseRecord {
  holderIdentity: string; // '' = released
  leaseDurationSeconds: number;
  acquireTime: number;
  renewTime: number;
  leaseTransitions: number;
}

/** What this process last saw of the Lease, and when (local clock) it last changed. */
export interface Observation {
  record: LeaseRecord;
  resourceVersion: string;
  /** Local time at which this resourceVersion was first seen. */
  observedAt: number;
}

export type Decision =
  | { action: 'create'; record: LeaseRecord }
  | { action: 'acquire'; record: LeaseRecord } // take over an expired or released lease
  | { action: 'renew'; record: LeaseRecord }
  | { action: 'wait'; holder: string; expiresAt: number };

/** Pure: what `me` should do given the observed lease (undefined = no Lease object) at `now`. */
export function decide(
  observed: Observation | undefined,
  now: number,
  me: string,
  leaseDurationSeconds: number,
): Decision {
  const fresh = (transitions: number): LeaseRecord => ({
    holderIdentity: me,
    leaseDurationSeconds,
    acquireTime: now,
    renewTime: now,
    leaseTransitions: transitions,
  });
  if (observed === undefined) return { action: 'create', record: fresh(0) };
  const rec = observed.record;
  if (rec.holderIdentity === me) {
    return { action: 'renew', record: { ...rec, leaseDurationSeconds, renewTime: now } };
  }
  // Judge expiry by how long WE have seen this exact version, using the holder's duration.
  const expiresAt = observed.observedAt + Math.max(1, rec.leaseDurationSeconds) * 1000;
  if (rec.holderIdentity === '' || now >= expiresAt) {
    return { action: 'acquire', record: fresh(rec.leaseTransitions + 1) };
  }
  return { action: 'wait', holder: rec.holderIdentity, expiresAt };
}

/** Pure: the next observation after reading `current` at `now`. */
export function observe(
  prev: Observation | undefined,
  current: { record: LeaseRecord; resourceVersion: string } | undefined,
  now: number,
): Observation | undefined {
  if (current === undefined) return undefined;
  if (prev !== undefined && prev.resourceVersion === current.resourceVersion) return prev;
  return { ...current, observedAt: now };
}

/** The Lease I/O the elector needs; restLeaseClient() (lease-client.ts) is the real one. */
export interface LeaseClient {
  /** undefined when the Lease does not exist. */
  get(): Promise<{ record: LeaseRecord; resourceVersion: string } | undefined>;
  /** Returns the new resourceVersion; throws (409) when the Lease already exists. */
  create(record: LeaseRecord): Promise<string>;
  /** Returns the new resourceVersion; throws (409) when resourceVersion is stale. */
  update(record: LeaseRecord, resourceVersion: string): Promise<string>;
  describe(): string;
}

export interface LeaderElectorOptions {
  lock: LeaseClient;
  identity: string;
  leaseDurationMs?: number; // default 15s
  renewDeadlineMs?: number; // default 10s; must be < leaseDuration
  retryPeriodMs?: number; // default 2s
  /** Give the lease back on stop so another candidate takes over at once (default true). */
  releaseOnStop?: boolean;
  clock?: Clock;
  logger?: Logger;
  random?: () => number;
  /** Called when this process becomes leader; `signal` aborts when it stops leading. */
  onStartedLeading?: (signal: AbortSignal) => void | Promise<void>;
  onStoppedLeading?: () => void;
  /** Called whenever the observed leader changes (including to this process). */
  onNewLeader?: (identity: string) => void;
}

type Attempt = 'held' | 'other' | 'failed';

export class LeaderElector {
  private readonly o: Required<
    Omit<LeaderElectorOptions, 'onStartedLeading' | 'onStoppedLeading' | 'onNewLeader'>
  > &
    LeaderElectorOptions;
  private observed?: Observation;
  private reportedLeader = '';
  private leading = false;
  private abort?: AbortController;
  private loop?: Promise<void>;

  constructor(opts: LeaderElectorOptions) {
    this.o = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      releaseOnStop: true,
      clock: systemClock,
      logger: silentLogger(),
      random: Math.random,
      ...opts,
    };
    if (this.o.renewDeadlineMs >= this.o.leaseDurationMs || this.o.retryPeriodMs >= this.o.renewDeadlineMs) {
      throw new KubeError('BAD_TIMING', 'need retryPeriod < renewDeadline < leaseDuration');
    }
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** The last observed holder ('' when none). */
  leader(): string {
    return this.observed?.record.holderIdentity ?? '';
  }

  start(signal: AbortSignal): void {
    if (this.loop !== undefined) throw new KubeError('ALREADY_STARTED', 'leader elector started twice');
    this.abort = new AbortController();
    const onOuter = () => this.abort?.abort(signal.reason);
    if (signal.aborted) onOuter();
    else signal.addEventListener('abort', onOuter, { once: true });
    this.loop = this.run(this.abort.signal).finally(() => signal.removeEventListener('abort', onOuter));
  }

  /** Stops campaigning; if leading, steps down and (by default) releases the lease. */
  async stop(): Promise<void> {
    this.abort?.abort(new KubeError('STOPPED', 'leader elector stopped'));
    await this.loop;
  }

  private async run(signal: AbortSignal): Promise<void> {
    const secs = Math.ceil(this.o.leaseDurationMs / 1000);
    while (!signal.aborted) {
      if ((await this.attempt(secs)) !== 'held') {
        const jittered = this.o.retryPeriodMs * (1 + 0.2 * this.o.random());
        await sleepUnlessAborted(this.o.clock, jittered, signal);
        continue;
      }
      await this.lead(secs, signal);
    }
  }

  // Holds leadership, renewing every retryPeriod, until renewal fails past the deadline,
  // another holder shows up, or `signal` aborts (then the lease is released).
  private async lead(secs: number, signal: AbortSignal): Promise<void> {
    const { clock, logger } = this.o;
    const leadership = new AbortController();
    this.leading = true;
    logger.info({ lease: this.o.lock.describe(), identity: this.o.identity }, 'became leader');
    this.callStarted(leadership.signal);
    let lastRenew = clock.now();
    while (await sleepUnlessAborted(clock, this.o.retryPeriodMs, signal)) {
      const deadline = lastRenew + this.o.renewDeadlineMs;
      const result = await this.attemptBefore(secs, deadline);
      if (result === 'held') {
        lastRenew = clock.now();
        continue;
      }
      if (result === 'other' || clock.now() >= deadline) {
        logger.warn({ lease: this.o.lock.describe(), result }, 'lost leadership');
        break;
      }
    }
    this.leading = false;
    leadership.abort(new KubeError('LOST_LEADERSHIP', 'stopped leading'));
    if (signal.aborted && this.o.releaseOnStop) await this.release();
    try {
      this.o.onStoppedLeading?.();
    } catch (err) {
      logger.error({ err }, 'onStoppedLeading threw');
    }
  }

  private callStarted(signal: AbortSignal): void {
    try {
      Promise.resolve(this.o.onStartedLeading?.(signal)).catch((err) =>
        this.o.logger.error({ err }, 'onStartedLeading failed'),
      );
    } catch (err) {
      this.o.logger.error({ err }, 'onStartedLeading threw');
    }
  }

  // One attempt that counts as failed if it has not finished by `deadline` (a hung request
  // must not keep a leader leading past its renew deadline).
  private async attemptBefore(secs: number, deadline: number): Promise<Attempt> {
    const { clock } = this.o;
    let timer: unknown;
    const timeout = new Promise<Attempt>((resolve) => {
      timer = clock.setTimeout(() => resolve('failed'), Math.max(0, deadline - clock.now()));
    });
    try {
      return await Promise.race([this.attempt(secs), timeout]);
    } finally {
      clock.clearTimeout(timer as object);
    }
  }

  // Reads the lease and, if `decide` says so, writes it. Never throws.
  private async attempt(secs: number): Promise<Attempt> {
    const { clock, lock, identity, logger } = this.o;
    try {
      this.observed = observe(this.observed, await lock.get(), clock.now());
      this.reportLeader();
      const d = decide(this.observed, clock.now(), identity, secs);
      if (d.action === 'wait') return 'other';
      const rv =
        d.action === 'create'
          ? await lock.create(d.record)
          : await lock.update(d.record, this.observed?.resourceVersion ?? '');
      this.observed = { record: d.record, resourceVersion: rv, observedAt: clock.now() };
      if (d.action !== 'renew') logger.info({ lease: lock.describe(), action: d.action }, 'lease taken');
      this.reportLeader();
      return 'held';
    } catch (err) {
      const cls = classifyApiError(err);
      // 409: someone else wrote between our read and write; the next read shows who.
      logger[cls === 'conflict' ? 'debug' : 'warn'](
        { lease: lock.describe(), err: describeApiError(err), class: cls },
        'lease attempt failed',
      );
      return 'failed';
    }
  }

  private reportLeader(): void {
    const holder = this.observed?.record.holderIdentity ?? '';
    if (holder === '' || holder === this.reportedLeader) return;
    this.reportedLeader = holder;
    try {
      this.o.onNewLeader?.(holder);
    } catch (err) {
      this.o.logger.error({ err }, 'onNewLeader threw');
    }
  }

  // Gives the lease back (holder '') so the next candidate need not wait for expiry.
  private async release(): Promise<void> {
    const { clock, lock, identity, logger } = this.o;
    const obs = this.observed;
    if (obs === undefined || obs.record.holderIdentity !== identity) return;
    const now = clock.now();
    const record: LeaseRecord = {
      ...obs.record,
      holderIdentity: '',
      leaseDurationSeconds: 1,
      renewTime: now,
    };
    try {
      const rv = await lock.update(record, obs.resourceVersion);
      this.observed = { record, resourceVersion: rv, observedAt: now };
      logger.info({ lease: lock.describe() }, 'lease released');
    } catch (err) {
      logger.warn(
        { lease: lock.describe(), err: describeApiError(err) },
        'lease release failed; it will expire',
      );
    }
  }
}
