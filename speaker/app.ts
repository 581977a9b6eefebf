/**
 * The speaker: wires informers, heartbeats, packet sockets and the pure core together.
 *
 * One level-triggered step, `replan()`, runs after anything changes (debounced to one per event
 * loop turn): cluster objects -> model (translate.ts) -> live speakers (heartbeats, with the
 * presence Lease as backstop) -> hold-down -> plan (plan.ts) -> the IPs this node announces
 * (decider.ts, guard.ts) -> the difference is applied: lost IPs stop being answered at once,
 * gained ones are announced with gratuitous ARP/NA, and the status objects follow.
 *
 * When the API server is unreachable the caches keep their last view, heartbeats go on, and so
 * do the announcements that were right a moment ago; nothing here withdraws an IP because an
 * API call failed.
 */
import type { V1ObjectReference } from '@kubernetes/client-node';
import type { L2Announcement } from '../api/crd-types.js';
import { objectKey, splitKey } from '../api/object-key.js';
import type { Clock, TimerHandle } from '../kube/clock.js';
import type { Connection } from '../kube/connection.js';
import { EventRecorder, restEventApi } from '../kube/events.js';
import type { Logger } from '../kube/log.js';
import { Announcer } from './announcer.js';
import { SpeakerCaches } from './caches.js';
import { announcedBy, type OwnedIp, transition } from './decider.js';
import { RankCache, rank } from './election.js';
import { arpProbe, canonicalIp, nsProbe, parseFrame } from './frame.js';
import { Guard } from './guard.js';
import { HoldDown } from './hold-down.js';
import { listInterfaces, usableInterfaces } from './interfaces.js';
import { openLink } from './link.js';
import { Links } from './links.js';
import { Membership } from './membership/membership.js';
import type { SpeakerMetrics } from './metrics.js';
import { SolicitedNodeGroups } from './multicast.js';
import type { Options } from './options.js';
import { type Ownership, planOwnership } from './plan.js';
import { PresenceLease, presenceExpired } from './presence.js';
import { respond } from './responder.js';
import { readRoutes, routeInterface } from './routes.js';
import { desiredAnnouncements, NODE_LABEL, nodeLabelValue } from './status.js';
import { parseSpeakerModel } from './translate.js';
import { AnnouncementWriter, restAnnouncementApi } from './writer.js';

const LINK_SCAN_MS = 1000;
const PROBE_WINDOW_MS = 300;
const REPROBE_MS = 30_000;

export class SpeakerApp {
  private readonly caches: SpeakerCaches;
  private readonly membership: Membership;
  private readonly links: Links;
  private readonly groups = new Map<string, SolicitedNodeGroups>(); // ifname -> its joined groups
  private readonly announcer: Announcer;
  private readonly guard: Guard;
  private readonly writer: AnnouncementWriter;
  private readonly presence: PresenceLease;
  private readonly recorder: EventRecorder;
  private readonly holdDown: HoldDown;
  // ip -> what we announce for it now
  private owned = new Map<string, OwnedIp>();
  // ip -> RFC 3339 time we began announcing it
  private readonly since = new Map<string, string>();
  // IPs some speaker announced before (a failover, not a first announcement, when they move)
  private readonly announcedBefore = new Set<string>();
  private plan = new Map<string, Ownership>();
  private lastLive: ReadonlySet<string> = new Set();
  private readonly ranks = new RankCache();
  private pending = false;
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
    this.caches = new SpeakerCaches(conn, o.namespace, clock, log);
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
      onChange: () => this.schedule(),
      onConflict: (ip, mac) => this.onConflict(ip, mac),
      onSplitBrain: (ip, peer, weYield) => {
        metrics.splitBrain.inc();
        log.warn({ ip, peer, weYield }, 'another speaker answers for an IP we announce');
        if (!weYield) this.announcer.burst([ip]);
      },
    });
    this.recorder = new EventRecorder({
      sink: restEventApi(conn),
      component: 'heraldlb-speaker',
      instance: o.nodeName,
      clock,
      logger: log.child({ component: 'events' }),
      onDrop: () => metrics.apiWriteFailures.inc({ what: 'event' }),
    });
    this.writer = new AnnouncementWriter({
      api: restAnnouncementApi(conn),
      desired: () => this.desiredStatus(),
      stored: () => this.storedStatus(),
      clock,
      log: log.child({ component: 'status' }),
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
    metrics.registry.onCollect(() => this.collect());
  }

  /** Informers synced and heartbeats running: the speaker can do its job. */
  ready(): boolean | string {
    return this.caches.ready();
  }

  async run(signal: AbortSignal): Promise<void> {
    // Sockets first: frames that arrive before a socket exists are lost.
    this.links.refresh();
    await this.membership.start();
    this.membership.onChange(() => this.schedule());
    const all = this.caches.all();
    const caches = new AbortController();
    for (const i of all) {
      i.onChange(() => this.schedule());
      i.start(caches.signal);
    }
    this.presence.start();
    this.guard.start();
    const scan = () => {
      if (this.links.refresh()) this.schedule();
      this.metrics.framesDropped.inc(undefined, Math.max(0, this.links.dropped() - this.droppedSeen));
      this.droppedSeen = Math.max(this.droppedSeen, this.links.dropped());
      if (!this.stopping) this.timer(scan, LINK_SCAN_MS);
    };
    this.timer(scan, LINK_SCAN_MS);
    // Until peers had time to be heard, we would think we are alone and claim everything.
    this.timer(() => this.schedule(), this.quietMs() + 1);
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
    caches.abort();
    await this.stop(all);
  }

  private droppedSeen = 0;

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
    await Promise.race([this.writer.passNow().catch(() => undefined), sleepMs(this.clock, 2000)]);
    this.writer.stop();
    await Promise.race([this.recorder.flush(), sleepMs(this.clock, 1000)]);
    await Promise.all(informers.map((i) => i.stop()));
    this.links.close();
    for (const g of this.groups.values()) g.close();
  }

  private schedule(): void {
    if (this.pending || this.stopping) return;
    this.pending = true;
    // setImmediate: after the reads already queued (a burst of watch events is one replan).
    setImmediate(() => {
      this.pending = false;
      try {
        this.replan();
      } catch (err) {
        this.log.error({ err }, 'replan failed; keeping what is announced');
      }
    });
  }

  /** Speakers alive: heard by heartbeats, unless their Lease expired and their Node is NotReady. */
  private live(): Set<string> {
    const out = new Set(this.membership.alive());
    out.add(this.o.nodeName);
    const now = this.clock.wall();
    for (const p of this.caches.presences().values()) {
      if (p.node === this.o.nodeName || !out.has(p.node)) continue;
      const node = this.caches.nodes.get(p.node);
      const ready = node?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
      if (presenceExpired(p, now) && !ready) out.delete(p.node);
    }
    return out;
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
    );
    for (const p of problems) this.log.debug({ problem: p }, 'model problem');
    this.membership.setPeers(
      [...model.nodes.values()]
        .filter((n) => n.name !== this.o.nodeName)
        .flatMap((n) => n.internalIPs.map((address) => ({ node: n.name, address }))),
    );
    const now = this.clock.now();
    const live = this.live();
    this.lastLive = live;
    this.holdDown.observe(live, now);
    const held = this.holdDown.inHoldDown(now);
    this.armHoldTimer(now);
    this.ranks.retain(model.ips.map((i) => i.ip));
    // Only assigned IPs are remembered: one released and later given to another Service is a
    // first announcement again (conflict-probed), and the set stays bounded by the pools.
    const assigned = new Set(model.ips.map((i) => i.ip));
    for (const ip of this.announcedBefore) if (!assigned.has(ip)) this.announcedBefore.delete(ip);
    const plan = planOwnership(model, live, held, this.ranks.rank);
    for (const a of this.caches.announcements.list())
      for (const ip of a.status?.ips ?? []) this.announcedBefore.add(canonicalIp(ip) ?? ip);
    for (const [ip, e] of this.plan)
      if (e.owner !== undefined && e.owner !== this.o.nodeName) this.announcedBefore.add(ip);
    this.plan = plan;
    const quiet = now - this.startedAt < this.quietMs();
    const wanted = quiet
      ? new Map<string, OwnedIp>()
      : announcedBy(this.o.nodeName, plan, this.guard.holds());
    this.guard.retain(new Set(wanted.keys()));
    const next = new Map<string, OwnedIp>();
    for (const [ip, ow] of wanted) {
      if (
        this.owned.has(ip) ||
        this.guard.mayAnnounce(ip, this.o.conflictProbe && !this.announcedBefore.has(ip))
      )
        next.set(ip, ow);
    }
    this.apply(next);
  }

  private armHoldTimer(now: number): void {
    const at = this.holdDown.nextChange(now);
    if (this.holdTimer) this.clock.clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    if (at !== undefined)
      this.holdTimer = this.clock.setTimeout(() => this.schedule(), Math.max(1, at - now));
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
      this.leaveGroups(ip);
      this.metrics.releases.inc();
      this.log.info({ ip }, 'stopped announcing');
    }
    for (const ow of t.gained) {
      this.since.set(ow.ip, wall);
      this.joinGroups(ow);
      const failover = this.announcedBefore.has(ow.ip);
      this.metrics.takeovers.inc({ cause: failover ? 'failover' : 'new' });
      this.announcedBefore.add(ow.ip);
      this.log.info(
        { ip: ow.ip, service: ow.services.join(','), interfaces: this.interfacesOf(ow) },
        'announcing',
      );
      for (const svc of ow.services)
        this.event(
          svc,
          'Normal',
          'Announcing',
          `${ow.ip} announced by node ${this.o.nodeName} on ${this.interfacesOf(ow).join(',') || 'no interface'}`,
        );
    }
    for (const ow of t.changed) this.joinGroups(ow);
    this.announcer.takeover(t.gained.map((o) => o.ip));
    this.writer.kick();
  }

  private interfacesOf(ow: OwnedIp): string[] {
    const all = this.links.names();
    return ow.interfaces ? ow.interfaces.filter((i) => this.links.has(i)) : all;
  }

  private joinGroups(ow: OwnedIp): void {
    if (ow.family !== 6) return;
    for (const ifname of this.interfacesOf(ow)) {
      let g = this.groups.get(ifname);
      if (!g) {
        g = new SolicitedNodeGroups(ifname);
        this.groups.set(ifname, g);
      }
      try {
        g.join(ow.ip);
      } catch (err) {
        this.log.warn({ ip: ow.ip, interface: ifname, err }, 'cannot join the solicited-node group');
      }
    }
  }

  private leaveGroups(ip: string): void {
    if (!ip.includes(':')) return;
    for (const g of this.groups.values()) {
      try {
        g.leave(ip);
      } catch {
        // not joined there
      }
    }
  }

  /** `answered`: the native fast path sent the reply already (same bytes as ours); such
   * frames are counted from the sockets' own counters in collect(), whether or not they
   * reach JS, and need nothing else. */
  private onFrame(ifname: string, mac: string, frame: Buffer, answered: boolean): void {
    if (answered) return;
    const r = parseFrame(frame);
    if (!r.ok) return;
    const msg = r.msg;
    if (msg.kind === 'arp-request') this.metrics.arpRequests.inc();
    else if (msg.kind === 'ns') this.metrics.nsReceived.inc();
    const ourMacs = new Set(this.links.macs().values());
    const v = respond(msg, ifname, mac, this.ownedIndex(), ourMacs, (ip) => this.guard.watching(ip));
    if (v.kind === 'reply') {
      this.links.send(ifname, [v.frame]);
      this.metrics.replies.inc({ family: `IPv${v.family}` });
    } else if (v.kind === 'foreign') {
      this.guard.foreign(v.ip, v.mac, this.owned.has(v.ip));
    }
  }

  // ip -> interfaces it is answered on (undefined = all watched)
  private index?: { of: Map<string, OwnedIp>; map: Map<string, ReadonlySet<string> | undefined> };
  private ownedIndex(): ReadonlyMap<string, ReadonlySet<string> | undefined> {
    if (this.index?.of !== this.owned) {
      const map = new Map<string, ReadonlySet<string> | undefined>();
      for (const [ip, ow] of this.owned) map.set(ip, ow.interfaces ? new Set(ow.interfaces) : undefined);
      this.index = { of: this.owned, map };
    }
    return this.index.map;
  }

  private probe(ip: string): void {
    const family = ip.includes(':') ? 6 : 4;
    const ow = this.owned.get(ip);
    const ifaces = ow ? this.interfacesOf(ow) : this.plannedInterfaces(ip);
    for (const ifname of ifaces) {
      const mac = this.links.macs().get(ifname);
      if (!mac) continue;
      this.links.send(ifname, [family === 4 ? arpProbe(ip, mac) : nsProbe(ip, mac)]);
    }
  }

  private plannedInterfaces(ip: string): string[] {
    const e = this.plan.get(ip);
    if (!e) return [];
    const ow = announcedBy(this.o.nodeName, new Map([[ip, e]]), {
      yielded: new Map(),
      conflicted: new Map(),
    }).get(ip);
    return ow ? this.interfacesOf(ow) : [];
  }

  private onConflict(ip: string, mac: string): void {
    this.metrics.conflicts.inc();
    this.log.warn({ ip, mac }, 'a host that is not a speaker answers for a pool IP');
    const e = this.plan.get(ip);
    for (const svc of e?.ann.services ?? [])
      this.event(
        svc,
        'Warning',
        'IPConflict',
        `${ip} is answered on the LAN by ${mac}, which is not a heraldlb speaker; node ${this.o.nodeName} does not announce it until that stops`,
      );
  }

  private event(svcKey: string, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const svc = this.caches.services.get(svcKey);
    const { namespace, name } = splitKey(svcKey);
    const ref: V1ObjectReference = {
      apiVersion: 'v1',
      kind: 'Service',
      namespace,
      name,
      uid: svc?.metadata?.uid,
    };
    this.recorder.record(ref, type, reason, message);
  }

  private desiredStatus(): Map<string, L2Announcement> {
    if (this.stopping) return new Map();
    const services = new Map<string, { uid: string }>();
    for (const s of this.caches.services.list())
      if (s.metadata?.uid) services.set(objectKey(s), { uid: s.metadata.uid });
    const routes = readRoutes();
    return desiredAnnouncements(this.o.nodeName, this.owned, {
      since: this.since,
      macs: this.links.macs(),
      allInterfaces: this.links.names(),
      services,
      routeInterface: (ip, candidates) => routeInterface(routes, ip, candidates),
    });
  }

  /**
   * Our objects, plus the records of dead speakers for Services we now announce: a node that
   * died cannot remove its own, and a user must not see two nodes answering for one IP.
   */
  private storedStatus(): Map<string, L2Announcement> {
    const mine = nodeLabelValue(this.o.nodeName);
    const ours = new Set([...this.owned.values()].flatMap((o) => o.services));
    const out = new Map<string, L2Announcement>();
    for (const a of this.caches.announcements.list()) {
      const node = a.status?.node;
      const svc = `${a.metadata.namespace}/${a.status?.service}`;
      const stale =
        node !== undefined && node !== this.o.nodeName && !this.lastLive.has(node) && ours.has(svc);
      if (a.metadata.labels?.[NODE_LABEL] === mine || stale) out.set(objectKey(a), a);
    }
    return out;
  }

  private collect(): void {
    let v4 = 0;
    for (const ow of this.owned.values()) if (ow.family === 4) v4++;
    this.metrics.ownedIps.set({ family: 'IPv4' }, v4);
    this.metrics.ownedIps.set({ family: 'IPv6' }, this.owned.size - v4);
    const s = this.membership.stats();
    this.metrics.peersAlive.set(undefined, s.peersAlive);
    for (const rtt of s.rttMs) this.metrics.heartbeatRtt.observe(undefined, rtt / 1000);
    const seen = this.authSeen;
    this.metrics.authFailures.inc({ why: 'auth' }, Math.max(0, s.authFailures - seen.auth));
    this.metrics.authFailures.inc({ why: 'replay' }, Math.max(0, s.replays - seen.replay));
    this.metrics.authFailures.inc({ why: 'malformed' }, Math.max(0, s.malformed - seen.malformed));
    this.authSeen = { auth: s.authFailures, replay: s.replays, malformed: s.malformed };
    this.metrics.conflicted.set(undefined, this.guard.holds().conflicted.size);
    // The fast path's answers never reached onFrame: count them here, as deltas.
    const fp = this.links.fastPathCounts();
    const arp = Math.max(0, fp.arp - this.fastSeen.arp);
    const ns = Math.max(0, fp.ns - this.fastSeen.ns);
    this.metrics.arpRequests.inc(undefined, arp);
    this.metrics.nsReceived.inc(undefined, ns);
    this.metrics.replies.inc({ family: 'IPv4' }, arp);
    this.metrics.replies.inc({ family: 'IPv6' }, ns);
    this.fastSeen = fp;
  }
  private authSeen = { auth: 0, replay: 0, malformed: 0 };
  private fastSeen = { arp: 0, ns: 0 };
}

function sleepMs(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}
