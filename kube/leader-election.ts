// Lease-based leader election on coordination.k8s.io/v1 Leases (behaviour modelled on
// client-go's leaderelection; our own code). Safety rests on three rules:
// - expiry is judged by the LOCAL clock: a lease counts as expired only when this process has
//   seen the same resourceVersion for leaseDuration, never by comparing remote timestamps;
// - a leader that cannot renew for renewDeadline (< leaseDuration) steps down before anyone
//   else may take over;
// - every write carries the resourceVersion it was based on, so a 409 means we lost a race;
// - one term at a time: a term is over only when the code acting for it has fully stopped,
//   and only then is the Lease released or campaigned for again (kube/term.ts: the fence);
// - durations use the monotonic clock; the Lease's own timestamps are wall time (RFC 3339),
//   for people, as client-go writes them.
import { type Clock, sleepUnlessAborted, systemClock } from './clock.js';
import { classifyApiError, describeApiError, KubeError } from './errors.js';
import { type Logger, silentLogger } from './log.js';
import { LeadershipTerm } from './term.js';

/** The part of a Lease the election reads and writes; times are wall-clock epoch milliseconds. */
export interface LeaseRecord {
  holderIdentity: string; // '' = released
  leaseDurationSeconds: number;
  acquireTime: number;
  renewTime: number;
  leaseTransitions: number;
  /** The highest resourceVersion the holder's terms wrote ('' = none): see kube/term.ts. */
  writtenThrough: string;
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

/**
 * Pure: what `me` should do given the observed lease (undefined = no Lease object) at `now`
 * (monotonic, compared with `observedAt`); `wall` is what the record's timestamps say.
 */
export function decide(
  observed: Observation | undefined,
  now: number,
  me: string,
  leaseDurationSeconds: number,
  wall = now,
): Decision {
  const fresh = (transitions: number): LeaseRecord => ({
    holderIdentity: me,
    leaseDurationSeconds,
    acquireTime: wall,
    renewTime: wall,
    leaseTransitions: transitions,
    // Carried over until our own writes pass it: a successor must wait for the older ones too.
    writtenThrough: observed?.record.writtenThrough ?? '',
  });
  if (observed === undefined) return { action: 'create', record: fresh(0) };
  const rec = observed.record;
  if (rec.holderIdentity === me) {
    return { action: 'renew', record: { ...rec, leaseDurationSeconds, renewTime: wall } };
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
  /**
   * A term's writes must end this long before anyone else could take the Lease over (default
   * 2 s): room for the successor's cache to see them. See kube/term.ts.
   */
  writeMarginMs?: number;
  clock?: Clock;
  logger?: Logger;
  random?: () => number;
  /**
   * Called when this process becomes leader. `term.signal` aborts when it stops leading; the
   * promise must settle once everything done for the term has stopped: only then is the
   * Lease released or campaigned for again. A promise that settles while the term is still
   * held (the work failed or returned) gives leadership up.
   */
  onStartedLeading?: (term: LeadershipTerm) => void | Promise<void>;
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
      writeMarginMs:
        opts.writeMarginMs ??
        Math.min(2_000, ((opts.leaseDurationMs ?? 15_000) - (opts.renewDeadlineMs ?? 10_000)) / 2),
    };
    if (this.o.renewDeadlineMs >= this.o.leaseDurationMs || this.o.retryPeriodMs >= this.o.renewDeadlineMs) {
      throw new KubeError('BAD_TIMING', 'need retryPeriod < renewDeadline < leaseDuration');
    }
    if (this.o.writeMarginMs >= this.o.leaseDurationMs - this.o.renewDeadlineMs) {
      // Writes would be fenced while the renew loop still counts us as leader.
      throw new KubeError('BAD_TIMING', 'need writeMargin < leaseDuration - renewDeadline');
    }
  }

  /** True while a term is held (from acquiring until the term's work has stopped). */
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

  /** Stops campaigning; if leading, ends the term, waits for it, then releases the lease. */
  async stop(): Promise<void> {
    this.abort?.abort(new KubeError('STOPPED', 'leader elector stopped'));
    await this.loop;
  }

  private async run(signal: AbortSignal): Promise<void> {
    const secs = Math.ceil(this.o.leaseDurationMs / 1000);
    while (!signal.aborted) {
      const started = this.o.clock.now();
      if ((await this.attempt(secs)) !== 'held') {
        const jittered = this.o.retryPeriodMs * (1 + 0.2 * this.o.random());
        await sleepUnlessAborted(this.o.clock, jittered, signal);
        continue;
      }
      // Our record carried the previous holder's writtenThrough over (decide): wait for it.
      await this.lead(secs, signal, started, this.observed?.record.writtenThrough ?? '');
    }
  }

  // Holds leadership, renewing every retryPeriod, until renewal fails past the deadline,
  // another holder shows up, the term's work ends by itself, or `signal` aborts. Then the term
  // is ended and awaited, and the lease released when that is safe (kube/term.ts).
  private async lead(secs: number, signal: AbortSignal, acquiredAt: number, previous: string): Promise<void> {
    const { clock, logger, leaseDurationMs, writeMarginMs } = this.o;
    const term = new LeadershipTerm(clock, acquiredAt + leaseDurationMs - writeMarginMs, previous);
    const wake = new AbortController(); // ends the renew sleep when the term's work ends by itself
    let workEnded = false;
    this.leading = true;
    logger.info({ lease: this.o.lock.describe(), identity: this.o.identity }, 'became leader');
    const work = this.startTerm(term).finally(() => {
      workEnded = true;
      wake.abort();
    });
    const sleepSignal = AbortSignal.any([signal, wake.signal]);
    let lastRenew = clock.now();
    while (await sleepUnlessAborted(clock, this.o.retryPeriodMs, sleepSignal)) {
      const deadline = lastRenew + this.o.renewDeadlineMs;
      const attemptStart = clock.now();
      const result = await this.attemptBefore(secs, deadline, term.writtenThrough());
      if (result === 'held') {
        lastRenew = clock.now();
        term.extend(attemptStart + leaseDurationMs - writeMarginMs);
        continue;
      }
      if (result === 'other' || clock.now() >= deadline) {
        logger.warn({ lease: this.o.lock.describe(), result }, 'lost leadership');
        break;
      }
    }
    const gaveUp = workEnded && !signal.aborted;
    if (gaveUp)
      logger.error({ lease: this.o.lock.describe() }, 'leader work ended on its own: giving leadership up');
    term.end(new KubeError('LOST_LEADERSHIP', 'stopped leading'));
    await this.untilStopped(work);
    this.leading = false;
    if ((signal.aborted && this.o.releaseOnStop) || gaveUp) {
      if (term.clean()) await this.release(term.writtenThrough());
      else
        logger.warn(
          { lease: this.o.lock.describe() },
          'not releasing the lease: a write of this term has an unknown outcome; it will expire',
        );
    }
    try {
      this.o.onStoppedLeading?.();
    } catch (err) {
      logger.error({ err }, 'onStoppedLeading threw');
    }
    // Leave the Lease to a standby for a moment rather than taking it straight back.
    if (gaveUp) await sleepUnlessAborted(clock, this.o.leaseDurationMs, signal);
  }

  // Runs onStartedLeading; the promise settles when the term's work has stopped (never rejects).
  private async startTerm(term: LeadershipTerm): Promise<void> {
    const work = this.o.onStartedLeading;
    // No work to run: the term is simply held until it ends.
    if (!work) return new Promise((r) => term.signal.addEventListener('abort', () => r(), { once: true }));
    try {
      await work(term);
    } catch (err) {
      this.o.logger.error({ err }, 'leader work failed');
    }
  }

  // Waits for a term's work to stop, saying so now and then: nothing may act for the next term
  // (or a successor be handed the Lease) while this one still runs.
  private async untilStopped(work: Promise<void>): Promise<void> {
    let stopped = false;
    void work.then(() => {
      stopped = true;
    });
    for (let i = 1; !stopped; i++) {
      let timer: unknown;
      const tick = new Promise<void>((r) => {
        timer = this.o.clock.setTimeout(r, 5_000);
      });
      await Promise.race([work, tick]);
      this.o.clock.clearTimeout(timer as object);
      if (!stopped) this.o.logger.warn({ waitedMs: i * 5_000 }, 'waiting for the ended term to stop');
    }
  }

  // One attempt that counts as failed if it has not finished by `deadline` (a hung request
  // must not keep a leader leading past its renew deadline).
  private async attemptBefore(secs: number, deadline: number, writtenThrough: string): Promise<Attempt> {
    const { clock } = this.o;
    let timer: unknown;
    const timeout = new Promise<Attempt>((resolve) => {
      timer = clock.setTimeout(() => resolve('failed'), Math.max(0, deadline - clock.now()));
    });
    try {
      return await Promise.race([this.attempt(secs, writtenThrough), timeout]);
    } finally {
      clock.clearTimeout(timer as object);
    }
  }

  // Reads the lease and, if `decide` says so, writes it (a renewal with `writtenThrough` when
  // given). Never throws.
  private async attempt(secs: number, writtenThrough?: string): Promise<Attempt> {
    const { clock, lock, identity, logger } = this.o;
    try {
      this.observed = observe(this.observed, await lock.get(), clock.now());
      this.reportLeader();
      const d = decide(this.observed, clock.now(), identity, secs, clock.wall());
      if (d.action === 'wait') return 'other';
      if (writtenThrough) d.record.writtenThrough = writtenThrough;
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

  // Gives the lease back (holder '') so the next candidate need not wait for expiry; it names
  // the last write of the term, which the next holder's cache must see first.
  private async release(writtenThrough: string): Promise<void> {
    const { clock, lock, identity, logger } = this.o;
    const obs = this.observed;
    if (obs === undefined || obs.record.holderIdentity !== identity) return;
    const record: LeaseRecord = {
      ...obs.record,
      holderIdentity: '',
      leaseDurationSeconds: 1,
      renewTime: clock.wall(),
      writtenThrough: writtenThrough || obs.record.writtenThrough,
    };
    try {
      const rv = await lock.update(record, obs.resourceVersion);
      this.observed = { record, resourceVersion: rv, observedAt: clock.now() };
      logger.info({ lease: lock.describe() }, 'lease released');
    } catch (err) {
      logger.warn(
        { lease: lock.describe(), err: describeApiError(err) },
        'lease release failed; it will expire',
      );
    }
  }
}
