/** The speaker's Prometheus series. Names are part of the chart's alerts: change both together. */
import { Registry } from '../kube/metrics.js';
import { registerProcessMetrics } from '../kube/process-metrics.js';
import type { OwnedIp } from './decider.js';
import type { FastPathCounts } from './links.js';
import type { MembershipStats } from './membership/membership.js';

export function speakerMetrics() {
  const registry = new Registry();
  registerProcessMetrics(registry);
  return {
    registry,
    ownedIps: registry.gauge({
      name: 'heraldlb_speaker_owned_ips',
      help: 'IPs this node announces now, per family.',
      labelNames: ['family'],
    }),
    arpRequests: registry.counter({
      name: 'heraldlb_speaker_arp_requests_total',
      help: 'ARP requests received for any address, on every watched interface.',
    }),
    nsReceived: registry.counter({
      name: 'heraldlb_speaker_ns_received_total',
      help: 'IPv6 Neighbor Solicitations received for any address.',
    }),
    replies: registry.counter({
      name: 'heraldlb_speaker_replies_total',
      help: 'ARP replies and Neighbor Advertisements sent for owned IPs, per family.',
      labelNames: ['family'],
    }),
    garps: registry.counter({
      name: 'heraldlb_speaker_gratuitous_sent_total',
      help: 'Gratuitous ARP and unsolicited NA frames sent on takeovers and link changes, per family.',
      labelNames: ['family'],
    }),
    takeovers: registry.counter({
      name: 'heraldlb_speaker_failovers_total',
      help: 'IPs this node began announcing (takeovers), by cause: new (first owner) or failover.',
      labelNames: ['cause'],
    }),
    releases: registry.counter({
      name: 'heraldlb_speaker_releases_total',
      help: 'IPs this node stopped announcing.',
    }),
    conflicts: registry.counter({
      name: 'heraldlb_speaker_ip_conflicts_total',
      help: 'Foreign hosts (not speakers) found answering for a pool IP before it was announced.',
    }),
    splitBrain: registry.counter({
      name: 'heraldlb_speaker_split_brain_total',
      help: 'Another speaker found answering for an IP this node announced; the lower-ranked one yielded.',
    }),
    conflicted: registry.gauge({
      name: 'heraldlb_speaker_conflicted_ips',
      help: 'IPs held back because a foreign host answers for them.',
    }),
    peersAlive: registry.gauge({
      name: 'heraldlb_speaker_peers_alive',
      help: 'Speakers this node hears (itself included).',
    }),
    heartbeatRtt: registry.histogram({
      name: 'heraldlb_speaker_heartbeat_rtt_seconds',
      help: 'Round-trip time of heartbeats to peers.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5],
    }),
    authFailures: registry.counter({
      name: 'heraldlb_speaker_heartbeat_auth_failures_total',
      help: 'Heartbeats dropped: bad signature, unknown key, replayed or malformed.',
      labelNames: ['why'],
    }),
    framesDropped: registry.counter({
      name: 'heraldlb_speaker_frames_dropped_total',
      help: 'Frames the link reader dropped because the program was not keeping up.',
    }),
    apiWriteFailures: registry.counter({
      name: 'heraldlb_speaker_api_write_failures_total',
      help: 'Failed writes of announcement status, Events or the presence Lease (announcing goes on).',
      labelNames: ['what'],
    }),
  };
}

export type SpeakerMetrics = ReturnType<typeof speakerMetrics>;

/** What the speaker's parts report at a scrape; running totals unless said otherwise. */
export interface ScrapeSources {
  owned: ReadonlyMap<string, OwnedIp>;
  /** From the heartbeat worker: totals, and RTT samples since the previous call. */
  membership: MembershipStats;
  conflicted: number;
  /** Frames the native fast path answered without copying them to JS. */
  fastPath: FastPathCounts;
}

/**
 * Turns the sources' totals into series at each scrape. Counters only grow, so each total is
 * added as the delta since the previous scrape; a source whose total went down (restarted
 * worker) adds nothing rather than a negative step.
 */
export class ScrapeSampler {
  private auth = { auth: 0, replay: 0, malformed: 0 };
  private fast: FastPathCounts = { arp: 0, ns: 0 };

  constructor(private readonly m: SpeakerMetrics) {}

  sample(src: ScrapeSources): void {
    const m = this.m;
    let v4 = 0;
    for (const ow of src.owned.values()) if (ow.family === 4) v4++;
    m.ownedIps.set({ family: 'IPv4' }, v4);
    m.ownedIps.set({ family: 'IPv6' }, src.owned.size - v4);
    const s = src.membership;
    m.peersAlive.set(undefined, s.peersAlive);
    for (const rtt of s.rttMs) m.heartbeatRtt.observe(undefined, rtt / 1000);
    const a = this.auth;
    m.authFailures.inc({ why: 'auth' }, Math.max(0, s.authFailures - a.auth));
    m.authFailures.inc({ why: 'replay' }, Math.max(0, s.replays - a.replay));
    m.authFailures.inc({ why: 'malformed' }, Math.max(0, s.malformed - a.malformed));
    this.auth = { auth: s.authFailures, replay: s.replays, malformed: s.malformed };
    m.conflicted.set(undefined, src.conflicted);
    // The fast path's answers never reached the JS responder: its requests and replies alike.
    const arp = Math.max(0, src.fastPath.arp - this.fast.arp);
    const ns = Math.max(0, src.fastPath.ns - this.fast.ns);
    m.arpRequests.inc(undefined, arp);
    m.nsReceived.inc(undefined, ns);
    m.replies.inc({ family: 'IPv4' }, arp);
    m.replies.inc({ family: 'IPv6' }, ns);
    this.fast = src.fastPath;
  }
}
