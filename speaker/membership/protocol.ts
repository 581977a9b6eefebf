// The messages between the Membership class (main thread) and its worker. Plain data only:
// they cross a MessagePort by structured clone.
import type { MembershipChange } from './detector.js';

export interface PeerAddress {
  node: string;
  /** IPv4 or IPv6 address of the peer's node (an InternalIP), no zone, no port. */
  address: string;
}

export interface WorkerConfig {
  node: string;
  keyFile: string;
  port: number;
  bindAddress: string | undefined;
  intervalMs: number;
  deadAfterMs: number;
  /** How often counters and RTT samples go to the main thread. */
  statsEveryMs: number;
  /** How often the key file is checked for a change (a Secret update or rotation). */
  keyCheckEveryMs: number;
}

export interface Counters {
  sent: number;
  sendErrors: number;
  received: number;
  accepted: number;
  authFailures: number;
  replays: number;
  duplicates: number;
  unproven: number;
  malformed: number;
  unknownSender: number;
  /** Total lateness of our own loop forgiven to peers' deadlines (the stall guard), ms. */
  stallForgivenMs: number;
  /** Largest lateness of our own loop seen, ms. */
  maxLateMs: number;
}

export type ToWorker = { type: 'setPeers'; peers: PeerAddress[] } | { type: 'stop' };

export type FromWorker =
  | { type: 'ready'; addresses: string[] }
  | { type: 'error'; code: string; message: string }
  | { type: 'change'; changes: MembershipChange[]; alive: string[] }
  | { type: 'stats'; counters: Counters; rttMs: number[]; peersAlive: number }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; msg: string; fields: Record<string, unknown> }
  | { type: 'stopped' };

export function zeroCounters(): Counters {
  return {
    sent: 0,
    sendErrors: 0,
    received: 0,
    accepted: 0,
    authFailures: 0,
    replays: 0,
    duplicates: 0,
    unproven: 0,
    malformed: 0,
    unknownSender: 0,
    stallForgivenMs: 0,
    maxLateMs: 0,
  };
}
