/**
 * Link-layer I/O for the speaker: one AF_PACKET socket per interface that sees only ARP
 * and NDP (NS/NA) frames and sends whole Ethernet frames, backed by the native addon in
 * native/ (why an addon of our own: docs/link-layer.md).
 *
 * Exported API:
 *   interface LinkSocket { ifname; ifindex; send(frame); sendBatch(frames) -> count;
 *                          stats() -> { received, dropped, sent, answered?, answeredNs?, shortSlice? };
 *                          setAnswers(table) -> boolean; deliverAnswered(yes) -> boolean; close() }
 *   openLink(ifname, onFrame(frame, answered), { addon?, answeredToJs? }) -> LinkSocket  // throws LinkError
 *   interface AnswerTable; packAnswers(table) -> the addon's Buffers
 *   loadLinkAddon(root?) -> LinkAddon; addonCandidates(root, arch) -> paths, in order
 *   class LinkError { code: 'ENODEV' | 'EPERM' | … | 'ERR_LINK_ADDON_MISSING' | … }
 *
 * Frames given to onFrame are fresh Buffers owned by JS: keep them as long as you like.
 * Our own outgoing frames are never delivered. Delivery happens in batches from a native
 * reader thread; when JS falls behind by more than 512 frames, later frames are dropped
 * and counted in stats().dropped (with the kernel's own receive-queue drops).
 *
 * Fast path: after setAnswers(table) the reader thread itself answers ARP requests and
 * Neighbor Solicitations for the table's IPs (native/src/answer.c, same bytes as
 * speaker/frame.ts); such frames still reach onFrame with answered = true, so the caller
 * counts them and sends no second reply; with { answeredToJs: false } they are only counted
 * (stats().answered / answeredNs) and never wake the event loop, which is what the speaker
 * does: at thousands of requests a second the copies cost the CPU the reader thread needs
 * on a two-core host (docs/link-layer.md). An addon built before the fast path has no
 * setAnswers: setAnswers() then returns false, every frame comes with answered = false,
 * and the caller's own replies are the only ones (the JS path, docs/link-layer.md).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ipv4ToBytes, ipv6ToBytes, macToBytes } from './wire-addresses.js';

export interface LinkStats {
  /** Frames taken from the socket and queued for JS. */
  received: number;
  /** Frames lost: JS too slow (queue full), longer than 1518 bytes, or the kernel's queue full. */
  dropped: number;
  /** Frames the kernel accepted from send/sendBatch. */
  sent: number;
  /** Of `sent`-like replies, those the reader thread sent itself (fast path); absent without it. */
  answered?: number;
  /** Of `answered`, the Neighbor Advertisements (the rest are ARP replies). */
  answeredNs?: number;
  /** The reader thread got its short scheduler slice (Linux >= 6.12 with EEVDF). */
  shortSlice?: boolean;
}

/** What the fast path answers on one interface. A full replace: IPs not listed get no reply. */
export interface AnswerTable {
  /** The MAC replies carry (the interface's). */
  mac: string;
  /** MACs never answered (every interface of this node), so we never answer ourselves. */
  ourMacs: readonly string[];
  /** IPv4 and IPv6 addresses, canonical text; at most 65,536. */
  ips: readonly string[];
}

export const ANSWERS_MAX = 65536;

/** The addon's argument form of a table: mac, ourMacs, v4, v6 as flat Buffers. */
export function packAnswers(t: AnswerTable): [Buffer, Buffer, Buffer, Buffer] {
  if (t.ips.length > ANSWERS_MAX)
    throw new LinkError('ERR_LINK_ANSWERS_SIZE', `at most ${ANSWERS_MAX} IPs to answer, got ${t.ips.length}`);
  const v4 = t.ips.filter((ip) => !ip.includes(':'));
  const v6 = t.ips.filter((ip) => ip.includes(':'));
  return [
    macToBytes(t.mac),
    Buffer.concat(t.ourMacs.map(macToBytes)),
    Buffer.concat(v4.map(ipv4ToBytes)),
    Buffer.concat(v6.map(ipv6ToBytes)),
  ];
}

export interface LinkSocket {
  readonly ifname: string;
  readonly ifindex: number;
  /** Sends one whole Ethernet frame (14..1518 bytes, no FCS); throws LinkError (EAGAIN/ENOBUFS when the device queue is full). */
  send(frame: Buffer): void;
  /** Sends frames with sendmmsg; returns how many leading frames the kernel took (fewer when its queue filled). */
  sendBatch(frames: readonly Buffer[]): number;
  /** Counters since open; after close(), their final values. */
  stats(): LinkStats;
  /** Replaces the fast path's table; returns false when the addon has no fast path. Once it
   * returns, no reply for an IP missing from `table` leaves. Throws LinkError. */
  setAnswers(table: AnswerTable): boolean;
  /** Whether frames the fast path answered still reach onFrame (at open: yes, unless
   * { answeredToJs: false }); returns false when the addon cannot stop them. */
  deliverAnswered(yes: boolean): boolean;
  /** Stops delivery (no onFrame call after it returns), joins the reader thread, frees it all. Idempotent. */
  close(): void;
}

/** The addon's functions (native/src/link.c); only this file calls them. */
export interface LinkAddon {
  /** `answered[i]` is 1 when the reader thread already replied to `frames[i]`; absent on old builds. */
  open(
    ifname: string,
    onFrames: (frames: Buffer[], answered?: Uint8Array) => void,
  ): { handle: object; ifindex: number };
  send(handle: object, frame: Uint8Array): void;
  sendBatch(handle: object, frames: readonly Uint8Array[]): number;
  stats(handle: object): LinkStats;
  close(handle: object): void;
  /** The fast path; absent in addons built before it. */
  setAnswers?(handle: object, mac: Buffer, ourMacs: Buffer, v4: Buffer, v6: Buffer): void;
  /** glibc's malloc_trim(0), process-wide; absent in older addons (speaker/malloc-trim.ts). */
  trimMemory?(): boolean;
  /** Whether answered frames still reach onFrames (default true); absent in older addons. */
  deliverAnswered?(handle: object, yes: boolean): void;
  /** Test-only: the reply the reader thread would send for `frame`, or null. */
  craftReply?(frame: Buffer, mac: Buffer, ourMacs: Buffer, v4: Buffer, v6: Buffer): Buffer | null;
}

export class LinkError extends Error {
  readonly code: string;
  constructor(code: string, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'LinkError';
    this.code = code;
  }
}

export const ADDON_FILE = 'heraldlb_link.node';
const FRAME_MIN = 14;
const FRAME_MAX = 1518;

/** Where the addon may be, most preferred first: a committed prebuild, then a local build. */
export function addonCandidates(root: string, arch: string = process.arch): string[] {
  return [
    join(root, 'native', 'prebuilds', `linux-${arch}`, ADDON_FILE),
    join(root, 'native', 'build', 'Release', ADDON_FILE),
  ];
}

/** The package root: the nearest directory above this file with a package.json
 * (speaker/ when run from source, dist/speaker/ when compiled). */
export function packageRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new LinkError('ERR_LINK_ADDON_MISSING', `no package.json within four levels above ${from}`);
}

export function loadLinkAddon(root: string = packageRoot()): LinkAddon {
  const require = createRequire(join(root, 'package.json'));
  const candidates = addonCandidates(root);
  const failures: string[] = [];
  for (const path of candidates) {
    if (!existsSync(path)) continue;
    try {
      return require(path) as LinkAddon;
    } catch (err) {
      // A prebuild for another libc or a corrupt file: say so, try the next one.
      failures.push(`${path}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const why = failures.length > 0 ? `none loaded (${failures.join('; ')})` : 'none exists';
  throw new LinkError(
    'ERR_LINK_ADDON_MISSING',
    `the AF_PACKET addon is not built: looked for ${candidates.join(' and ')}, ${why}; run \`npm run build:native\``,
  );
}

/** Errno name (ENODEV) for the number the addon reports. */
export function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(constants.errno)) if (value === errno) return name;
  return `ERRNO_${errno}`;
}

function fromNative(err: unknown, what: string): unknown {
  const e = err as { errno?: unknown; message?: unknown };
  if (typeof e?.errno !== 'number') return err; // a TypeError from argument checks
  return new LinkError(errnoName(e.errno), `${what}: ${String(e.message)}`, err);
}

function checkFrame(frame: Uint8Array, ifname: string): void {
  if (!(frame instanceof Uint8Array) || frame.length < FRAME_MIN || frame.length > FRAME_MAX)
    throw new LinkError(
      'ERR_LINK_FRAME_SIZE',
      `frame for ${ifname} must be a Buffer of ${FRAME_MIN}..${FRAME_MAX} bytes, got ${frame?.length}`,
    );
}

export function openLink(
  ifname: string,
  onFrame: (frame: Buffer, answered: boolean) => void,
  options: { addon?: LinkAddon; answeredToJs?: boolean } = {},
): LinkSocket {
  const addon = options.addon ?? loadLinkAddon();
  let closed = false;
  let final: LinkStats | undefined; // the counters as close() left them
  // Every frame of a batch reaches onFrame even if one call throws; the first error is
  // rethrown afterwards (an uncaught exception: a bug in the handler must be seen).
  const onFrames = (frames: Buffer[], answered?: Uint8Array): void => {
    let failure: { err: unknown } | undefined;
    for (const [i, frame] of frames.entries()) {
      if (closed) return;
      try {
        onFrame(frame, answered?.[i] === 1);
      } catch (err) {
        failure ??= { err };
      }
    }
    if (failure) throw failure.err;
  };
  let opened: { handle: object; ifindex: number };
  try {
    opened = addon.open(ifname, onFrames);
  } catch (err) {
    throw fromNative(err, `cannot open an AF_PACKET socket on interface ${ifname}`);
  }
  const { handle, ifindex } = opened;
  const live = (op: string): void => {
    if (closed) throw new LinkError('ERR_LINK_CLOSED', `${op} on ${ifname}: the link socket is closed`);
  };
  const link: LinkSocket = {
    ifname,
    ifindex,
    send(frame) {
      live('send');
      checkFrame(frame, ifname);
      try {
        addon.send(handle, frame);
      } catch (err) {
        throw fromNative(err, `send on ${ifname}`);
      }
    },
    sendBatch(frames) {
      live('sendBatch');
      for (const f of frames) checkFrame(f, ifname);
      try {
        return addon.sendBatch(handle, frames);
      } catch (err) {
        throw fromNative(err, `sendBatch on ${ifname}`);
      }
    },
    stats() {
      return final ?? addon.stats(handle);
    },
    setAnswers(table) {
      live('setAnswers');
      if (!addon.setAnswers) return false;
      const packed = packAnswers(table);
      try {
        addon.setAnswers(handle, ...packed);
      } catch (err) {
        throw fromNative(err, `setAnswers on ${ifname}`);
      }
      return true;
    },
    deliverAnswered(yes) {
      live('deliverAnswered');
      if (!addon.deliverAnswered) return false;
      addon.deliverAnswered(handle, yes);
      return true;
    },
    close() {
      if (closed) return;
      closed = true;
      final = addon.stats(handle);
      addon.close(handle);
    },
  };
  // Set before any table exists, so no answered frame is delivered against the caller's wish.
  if (options.answeredToJs === false) link.deliverAnswered(false);
  return link;
}
