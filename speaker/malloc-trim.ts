/**
 * Returns the memory glibc's allocator keeps after frees to the kernel, on a timer.
 *
 * Why: a speaker's resident memory is mostly not V8's heap (23 MiB of 64 at 1,000 IPs) but
 * native allocations Node makes and frees around API calls (TLS records, HTTP bodies,
 * Buffers). glibc gives back only the top of each heap, so after a burst -- a takeover
 * writing hundreds of status objects and Events -- the freed middle stays resident and
 * counts against the pod's memory limit. malloc_trim(0) releases it (measured: 64.0 ->
 * 47.2 MiB on a speaker holding 1/3 of 1,000 IPs). It costs a walk of the free lists
 * (well under a millisecond here), so every 2 s is cheap and needs no trigger: level-
 * triggered, like everything else in the speaker. 2 s, not 10: while 1,000 Services arrive
 * the freed middle grew by ~14 MiB between two trims 10 s apart (sampled every second), and
 * that swing, not the steady state, is what reaches a 64 MiB limit.
 *
 *   startMallocTrim({ clock, trim?, everyMs? }) -> stop()
 */
import type { Clock, TimerHandle } from '../kube/clock.js';
import { loadLinkAddon } from './link.js';

export const TRIM_EVERY_MS = 2_000;

/** The addon's trimMemory, or undefined (an older addon, another C library still returns false). */
export function addonTrim(): (() => boolean) | undefined {
  try {
    const addon = loadLinkAddon();
    return addon.trimMemory ? () => addon.trimMemory?.() ?? false : undefined;
  } catch {
    return undefined; // no addon: the speaker fails on its first socket anyway, and says why
  }
}

export function startMallocTrim(o: {
  clock: Clock;
  trim?: (() => boolean) | undefined;
  everyMs?: number;
}): () => void {
  const trim = o.trim;
  if (!trim) return () => {};
  let timer: TimerHandle | undefined;
  const tick = (): void => {
    trim();
    timer = o.clock.setTimeout(tick, o.everyMs ?? TRIM_EVERY_MS);
  };
  timer = o.clock.setTimeout(tick, o.everyMs ?? TRIM_EVERY_MS);
  return () => {
    if (timer !== undefined) o.clock.clearTimeout(timer);
    timer = undefined;
  };
}
