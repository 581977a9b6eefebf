/**
 * When a new owner sends gratuitous ARP / unsolicited NA for an IP: at once, then a few more
 * times, for hosts that missed the first (a busy switch, a sleeping Wi-Fi client). Pure.
 *
 * Exported API:
 *   DEFAULT_GARP_OFFSETS_MS = [0, 250, 1000, 2000, 4000]
 *   garpSchedule(startMs, offsetsMs?) -> number[]     absolute send times
 *   parseGarpOffsets(text) -> number[]                the option "0,250,1000"; throws GarpScheduleError
 *   class GarpScheduleError { code: 'InvalidGarpSchedule' }
 */

export const DEFAULT_GARP_OFFSETS_MS: readonly number[] = Object.freeze([0, 250, 1000, 2000, 4000]);

/** Most sends a schedule may hold, and the latest offset: repeats beyond a minute help nobody. */
export const MAX_GARP_SENDS = 20;
export const MAX_GARP_OFFSET_MS = 60_000;

export class GarpScheduleError extends Error {
  readonly code = 'InvalidGarpSchedule';

  constructor(message: string) {
    super(message);
    this.name = 'GarpScheduleError';
  }
}

export function garpSchedule(
  startMs: number,
  offsetsMs: readonly number[] = DEFAULT_GARP_OFFSETS_MS,
): number[] {
  return offsetsMs.map((o) => startMs + o);
}

/**
 * Parses a comma-separated list of offsets in milliseconds, such as "0,250,1000,2000,4000":
 * whole numbers, strictly increasing, from 0 to 60000, 1 to 20 of them. Whitespace around
 * entries is allowed. The message names the offending entry.
 */
export function parseGarpOffsets(text: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  if (text.trim() === '')
    throw new GarpScheduleError('empty: give at least one offset in ms, such as "0,250,1000"');
  if (parts.length > MAX_GARP_SENDS) {
    throw new GarpScheduleError(`${parts.length} offsets: at most ${MAX_GARP_SENDS}`);
  }
  const out: number[] = [];
  parts.forEach((p, i) => {
    if (!/^(0|[1-9][0-9]*)$/.test(p)) {
      throw new GarpScheduleError(`entry ${i + 1} "${p}": not a whole number of milliseconds`);
    }
    const n = Number(p);
    if (n > MAX_GARP_OFFSET_MS) {
      throw new GarpScheduleError(`entry ${i + 1} "${p}": more than ${MAX_GARP_OFFSET_MS} ms`);
    }
    const prev = out[out.length - 1];
    if (prev !== undefined && n <= prev) {
      throw new GarpScheduleError(`entry ${i + 1} "${p}": offsets must increase (after ${prev})`);
    }
    out.push(n);
  });
  return out;
}
