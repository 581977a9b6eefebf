/**
 * The speaker: wires informers, heartbeats, packet sockets and the pure core together.
 *
 * One level-triggered step, `replan()`, runs after anything changes (replan-scheduler.ts: on
 * the next loop turn for liveness and links, at most every 100 ms for cluster objects and probe
 * results): cluster objects -> model (translate.ts) -> live speakers (heartbeats, with the
 * presence Lease as backstop) -> hold-down -> plan (plan.ts) -> the IPs this node announces
 * (decider.ts, guard.ts) -> the difference is applied: lost IPs stop being answered at once,
 * gained ones are announced with gratuitous ARP/NA, and the status objects follow.
 *
 * When the API server is unreachable the caches keep their last view, heartbeats go on, and so
 * do the announcements that were right a moment ago; nothing here withdraws an IP because an
 * API call failed.
 */
import { type Clock, sleep, type TimerHandle } from '../kube/clock.js';
import type { Connection } from '../kube/connection.js';
import type { Logger } from '../kube/log.js';
import { AnnouncementStatus } from './announcement-status.js';
import { Announcer } from './announcer.js';
import { SpeakerCaches } from './caches.js';
import { announcedBy, answerIndex, type OwnedIp, transition } from './decider.js';
import { RankCache, rank } from './election.js';
import { canonicalIp, parseFrame } from './frame.js';
import { Guard } from './guard.js';
import { HoldDown } from './hold-down.js';
import { listInterfaces, usableInterfaces } from './interfaces.js';
import { openLink } from './link.js';
import { Links } from './links.js';
import { Membership } from './membership/membership.js';
import { ScrapeSampler, type SpeakerMetrics } from './metrics.js';
import { interfacesOn, type SpeakerModel } from './model.js';
import { InterfaceGroups } from './multicast.js';
import type { Options } from './options.js';
import { type Ownership, planOwnership } from './plan.js';
import { liveSpeakers, PresenceLease } from './presence.js';
import { Prober } from './prober.js';
import { ReplanScheduler } from './replan-scheduler.js';
import { respond } from './responder.js';
import { sameList } from './reuse.js';
import { type ServiceEvents, speakerServiceEvents } from './service-events.js';
import { parseSpeakerModel } from './translate.js';

const LINK_SCAN_MS = 1000;
const PROBE_WINDOW_MS = 300;
const REPROBE_MS = 30_000;

export class SpeakerApp {
  private readonly caches: SpeakerCaches;
  private readonly membership: Membership;
  private readonly links: Links;
  private readonly groups: InterfaceGroups;
  private readonly announcer: Announcer;
  private readonly guard: Guard;
  private readonly status: AnnouncementStatus;
  private readonly presence: PresenceLease;
  private readonly events: ServiceEvents;
  private readonly holdDown: HoldDown;
  private readonly replans: ReplanScheduler;
  private readonly prober: Prober;
  // ip -> what we announce for it now
  private owned = new Map<string, OwnedIp>();
  // ip -> RFC 3339 time we began announcing it
  private readonly since = new Map<string, string>();
  // IPs some speaker announced before (a failover, not a first announcement, when they move)
  private readonly announcedBefore = new Set<string>();
  private plan: ReadonlyMap<string, Ownership> = new Map();
  // the last replan's model: handed back to translate, which returns it when nothing changed
  private model?: SpeakerModel;
  // the model's IPs, and the problems last logged (logged again only when they change)
  private assigned: ReadonlySet<string> = new Set();
  private problemsLogged: readonly string[] = [];
  private lastLive: ReadonlySet<string> = new Set();
  private readonly ranks = new RankCache();
  private stopping = false;
  private readonly startedAt: number;
  private timers = new Set<TimerHandle>();
  private holdTimer?: TimerHandle;

  constructor(
    private readonly o: Options,
    conn: Connection,
    private readonly clock: Clock,
    private readonly metrics: SpeakerMetrics,
    private readonly log: Logger,
  ) {
    this.startedAt = clock.now();
    this.replans = new ReplanScheduler({
      clock,
      run: () => this.replan(),
      onError: (err) => log.error({ err }, 'replan failed; keeping what is announced'),
    });
    this.caches = new SpeakerCaches(conn, o.namespace, clock, log);
    this.prober = new Prober({
      send: (ifname, frames) => this.links.send(ifname, frames),
      // A self-probe lost is sent again in 2 s; a conflict probe lost looks like silence.
      onShort: (ifname, sent, wanted) =>
        log.warn({ interface: ifname, sent, wanted }, 'probe frames not sent: the interface queue is full'),
    });
    this.holdDown = new HoldDown(o.holdDownMs, { self: o.nodeName, selfExtraMs: 1000 });
    this.membership = new Membership({
      node: o.nodeName,
      keyFile: o.keyFile,
      port: o.heartbeatPort,
      intervalMs: o.heartbeatIntervalMs,
      deadAfterMs: o.deadAfterMs,
      log, // it names its own component
    });
    this.links = new Links({
      list: () => usableInterfaces(listInterfaces()),
      // Answered frames are counted natively (collect()), not copied into JS.
      open: (ifname, onFrame) => openLink(ifname, onFrame, { answeredToJs: false }),
      onFrame: (ifname, mac, frame, answered) => this.onFrame(ifname, mac, frame, answered),
      onLinkUp: (ifname) => this.announcer?.burst([...this.owned.keys()], ifname),
      log: log.child({ component: 'links' }),
    });
    this.announcer = new Announcer({
      clock,
      offsetsMs: o.garpOffsetsMs,
      current: (ip) => this.owned.get(ip),
      interfacesOf: (ow) => this.interfacesOf(ow),
      macOf: (ifname) => this.links.macs().get(ifname),
      send: (ifname, frames) => this.links.send(ifname, frames),
      onSent: (family, n) => metrics.garps.inc({ family: `IPv${family}` }, n),
    });
    this.guard = new Guard({
      self: o.nodeName,
      clock,
      rank,
      probeWindowMs: PROBE_WINDOW_MS,
      reprobeMs: REPROBE_MS,
      selfProbeMs: o.selfProbeIntervalMs,
      probe: (ip) => this.probe(ip),
      speakerOf: (mac) => this.caches.speakerOf(mac),
      owned: () => this.owned.keys(),
      // A probe's end is one per first-announced IP: 1,000 replans while Services arrive, if each
      // ran at once. Only yielding to a better-ranked speaker cannot wait.
      onChange: (urgent) => (urgent ? this.replans.now() : this.replans.soon()),
      onConflict: (ip, mac) => this.onConflict(ip, mac),
      onSplitBrain: (ip, peer, weYield) => {
        metrics.splitBrain.inc();
        log.warn({ ip, peer, weYield }, 'another speaker answers for an IP we announce');
        if (!weYield) this.announcer.burst([ip]);
      },
    });
    this.events = speakerServiceEvents(conn, o.nodeName, {
      clock,
      log,
      onDrop: () => metrics.apiWriteFailures.inc({ what: 'event' }),
      uidOf: (svc) => this.caches.services.get(svc)?.metadata?.uid,
    });
    this.status = new AnnouncementStatus({
      conn,
      node: o.nodeName,
      caches: this.caches,
      clock,
      log: log.child({ component: 'status' }),
      owned: () => this.owned,
      stopping: () => this.stopping,
      since: this.since,
      macs: () => this.links.macs(),
      interfaces: () => this.links.names(),
      live: () => this.lastLive,
      onFailure: () => metrics.apiWriteFailures.inc({ what: 'status' }),
    });
    this.presence = new PresenceLease({
      conn,
      namespace: o.namespace,
      node: o.nodeName,
      durationMs: o.presenceLeaseDurationMs,
      macs: () => [...new Set(this.links.macs().values())],
      clock,
      log: log.child({ component: 'presence' }),
      onFailure: () => metrics.apiWriteFailures.inc({ what: 'lease' }),
    });
    this.groups = new InterfaceGroups((ip, ifname, err) =>
      log.warn({ ip, interface: ifname, err }, 'cannot join the solicited-node group'),
    );
    const sampler = new ScrapeSampler(metrics);
    metrics.registry.onCollect(() =>
      sampler.sample({
        owned: this.owned,
        membership: this.membership.stats(),
        conflicted: this.guard.holds().conflicted.size,
        fastPath: this.links.fastPathCounts(),
      }),
    );
  }

  /** Informers synced and heartbeats running: the speaker can do its job. */
  ready(): boolean | string {
    return this.caches.ready();
  }

  async run(signal: AbortSignal): Promise<void> {
    // Sockets first: frames that arrive before a socket exists are lost.
    this.links.refresh();
    await this.membership.start();
    this.membership.onChange(() => this.replans.now());
    const all = this.caches.all();
    const caches = new AbortController();
    for (const i of all) {
      i.onChange(() => this.replans.soon());
      i.start(caches.signal);
    }
    this.presence.start();
    this.guard.start();
    const scan = () => {
      if (this.links.refresh()) this.replans.now();
      this.metrics.framesDropped.inc(undefined, Math.max(0, this.links.dropped() - this.droppedSeen));
      this.droppedSeen = Math.max(this.droppedSeen, this.links.dropped());
      if (!this.stopping) this.timer(scan, LINK_SCAN_MS);
    };
    this.timer(scan, LINK_SCAN_MS);
    // Until peers had time to be heard, we would think we are alone and claim everything.
    this.timer(() => this.replans.now(), this.quietMs() + 1);
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
    caches.abort();
    await this.stop(all);
  }

  private droppedSeen = 0;
  // the node facts the heartbeat worker's peer list was last built from
  private peersOf?: SpeakerModel['nodes'];

  private quietMs(): number {
    return this.o.deadAfterMs + 2 * this.o.heartbeatIntervalMs;
  }

  private timer(fn: () => void, ms: number): void {
    const t = this.clock.setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  /** Graceful stop: peers are told first (they take over at once), then we fall silent. */
  private async stop(informers: { stop(): Promise<void> }[]): Promise<void> {
    this.stopping = true;
    this.replans.stop();
    this.log.info({ owned: this.owned.size }, 'leaving: telling peers, then going silent');
    // The fast path falls silent first; JS answers until the peers are told (no gap).
    this.links.answer(new Map());
    await this.membership.stop();
    this.owned = new Map();
    this.announcer.stop();
    this.guard.stop();
    this.presence.stop();
    for (const t of this.timers) this.clock.clearTimeout(t);
    // Best effort, bounded: our status objects say nothing true any more.
    await this.status.finish(2000);
    await Promise.race([this.events.flush(), sleep(this.clock, 1000)]);
    await Promise.all(informers.map((i) => i.stop()));
    this.links.close();
    this.groups.close();
  }

  private live(): Set<string> {
    const ready = (node: string) =>
      this.caches.nodes.get(node)?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    const presences = this.caches.presences().values();
    return liveSpeakers(this.o.nodeName, this.membership.alive(), presences, ready, this.clock.wall());
  }

  private replan(): void {
    if (this.stopping) return;
    const { model, problems } = parseSpeakerModel(
      {
        nodes: this.caches.nodes.list(),
        services: this.caches.services.list(),
        pools: this.caches.pools.list(),
        l2ads: this.caches.ads.list(),
        endpointSlices: this.caches.slices.list(),
      },
      { loadBalancerClass: this.o.loadBalancerClass },
      this.model,
    );
    const modelChanged = model !== this.model;
    this.model = model;
    if (!sameList(problems, this.problemsLogged)) {
      this.problemsLogged = problems;
      for (const p of problems) this.log.debug({ problem: p }, 'model problem');
    }
    // reuse.ts hands back the same node facts while they are equal: peers are sent on a change.
    if (model.nodes !== this.peersOf) {
      this.peersOf = model.nodes;
      this.membership.setPeers(
        [...model.nodes.values()]
          .filter((n) => n.name !== this.o.nodeName)
          .flatMap((n) => n.internalIPs.map((address) => ({ node: n.name, address }))),
      );
    }
    if (modelChanged) {
      this.ranks.retain(model.ips.map((i) => i.ip));
      // Only assigned IPs are remembered: one released and later given to another Service is a
      // first announcement again (conflict-probed), and the set stays bounded by the pools.
      this.assigned = new Set(model.ips.map((i) => i.ip));
      for (const ip of this.announcedBefore) if (!this.assigned.has(ip)) this.announcedBefore.delete(ip);
    }
    const now = this.clock.now();
    const live = this.live();
    this.lastLive = live;
    this.holdDown.observe(live, now);
    const held = this.holdDown.inHoldDown(now);
    this.armHoldTimer(now);
    const plan = planOwnership(model, live, held, this.ranks.rank, this.plan);
    // A status object may still name an IP that was released (until its writer removes it):
    // only assigned IPs count, or a released IP given to a new Service would skip its probe.
    for (const a of this.caches.announcements.list())
      for (const text of a.status?.ips ?? []) {
        const ip = canonicalIp(text) ?? text;
        if (this.assigned.has(ip)) this.announcedBefore.add(ip);
      }
    // Each plan once (a plan handed back unchanged was counted when it was new); its IPs that
    // another node owns are none of ours in it, so counting them now decides nothing below.
    if (plan !== this.plan)
      plan.forEach((e, ip) => {
        if (e.owner !== undefined && e.owner !== this.o.nodeName) this.announcedBefore.add(ip);
      });
    this.plan = plan;
    const quiet = now - this.startedAt < this.quietMs();
    const wanted = quiet
      ? new Map<string, OwnedIp>()
      : announcedBy(this.o.nodeName, plan, this.guard.holds());
    this.guard.retain(new Set(wanted.keys()));
    const next = new Map<string, OwnedIp>();
    wanted.forEach((ow, ip) => {
      if (
        this.owned.has(ip) ||
        this.guard.mayAnnounce(ip, this.o.conflictProbe && !this.announcedBefore.has(ip))
      )
        next.set(ip, ow);
    });
    this.apply(next);
  }

  private armHoldTimer(now: number): void {
    const at = this.holdDown.nextChange(now);
    if (this.holdTimer) this.clock.clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    if (at !== undefined)
      this.holdTimer = this.clock.setTimeout(() => this.replans.now(), Math.max(1, at - now));
  }

  private apply(next: Map<string, OwnedIp>): void {
    const t = transition(this.owned, next);
    if (t.gained.length === 0 && t.lost.length === 0 && t.changed.length === 0) return;
    // Lost IPs fall silent first: two nodes must never answer at once by our doing.
    this.owned = next;
    if (!this.stopping) this.links.answer(this.ownedIndex());
    const wall = new Date(this.clock.wall()).toISOString();
    for (const ip of t.lost) {
      this.since.delete(ip);
      this.groups.leave(ip);
      this.metrics.releases.inc();
      this.log.info({ ip }, 'stopped announcing');
    }
    for (const ow of t.gained) {
      this.since.set(ow.ip, wall);
      this.groups.join(ow.ip, this.interfacesOf(ow));
      const failover = this.announcedBefore.has(ow.ip);
      this.metrics.takeovers.inc({ cause: failover ? 'failover' : 'new' });
      this.announcedBefore.add(ow.ip);
      const ifnames = this.interfacesOf(ow);
      this.log.info({ ip: ow.ip, service: ow.services.join(','), interfaces: ifnames }, 'announcing');
      this.events.announcing(ow.services, ow.ip, ifnames);
    }
    for (const ow of t.changed) this.groups.join(ow.ip, this.interfacesOf(ow));
    this.announcer.takeover(t.gained.map((o) => o.ip));
    this.status.kick();
  }

  private interfacesOf(ow: { interfaces: readonly string[] | undefined }): readonly string[] {
    const all = this.links.names();
    return ow.interfaces ? ow.interfaces.filter((i) => this.links.has(i)) : all;
  }

  /** `answered`: the native fast path sent the reply already (same bytes as ours); such
   * frames are counted from the sockets' own counters at each scrape (ScrapeSampler),
   * whether or not they reach JS, and need nothing else. */
  private onFrame(ifname: string, mac: string, frame: Buffer, answered: boolean): void {
    if (answered) return;
    const r = parseFrame(frame);
    if (!r.ok) return;
    const msg = r.msg;
    if (msg.kind === 'arp-request') this.metrics.arpRequests.inc();
    else if (msg.kind === 'ns') this.metrics.nsReceived.inc();
    const v = respond(msg, ifname, mac, this.ownedIndex(), this.links.ourMacs(), (ip) =>
      this.guard.watching(ip),
    );
    if (v.kind === 'reply') {
      this.links.send(ifname, [v.frame]);
      this.metrics.replies.inc({ family: `IPv${v.family}` });
    } else if (v.kind === 'foreign') {
      this.guard.foreign(v.ip, v.mac, this.owned.has(v.ip));
    }
  }

  // ip -> interfaces it is answered on, rebuilt only when `owned` is replaced
  private index?: { of: Map<string, OwnedIp>; map: ReturnType<typeof answerIndex> };
  private ownedIndex(): ReturnType<typeof answerIndex> {
    if (this.index?.of !== this.owned) this.index = { of: this.owned, map: answerIndex(this.owned) };
    return this.index.map;
  }

  private probe(ip: string): void {
    const macs = this.links.macs();
    const on: [string, string][] = [];
    for (const ifname of this.interfacesOf(this.owned.get(ip) ?? this.planned(ip))) {
      const mac = macs.get(ifname);
      if (mac) on.push([ifname, mac]);
    }
    this.prober.probe(ip, on);
  }

  /** Where we would announce an IP the plan gives us (before the guard lets us). */
  private planned(ip: string): { interfaces: readonly string[] | undefined } {
    const e = this.plan.get(ip);
    if (e?.owner !== this.o.nodeName) return { interfaces: [] };
    return { interfaces: interfacesOn(e.ann, this.o.nodeName) };
  }

  private onConflict(ip: string, mac: string): void {
    this.metrics.conflicts.inc();
    this.log.warn({ ip, mac }, 'a host that is not a speaker answers for a pool IP');
    this.events.conflict(this.plan.get(ip)?.ann.services ?? [], ip, mac);
  }
}
