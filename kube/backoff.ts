// The one exponential backoff of the I/O shell: the informer's relist and the work queue's
// per-key retries use it, so "how long after the n-th failure" has one answer.

export interface BackoffPolicy {
  /** Delay after the first failure (ms). */
  readonly initialMs: number;
  /** Cap (ms). */
  readonly maxMs: number;
}

/** Delay after `failures` consecutive failures (1 = the first): initial * 2^(failures-1), capped. */
export function backoffDelay(failures: number, p: BackoffPolicy): number {
  if (failures <= 0) return 0;
  // 2^62 already exceeds any cap; bounding the exponent keeps the arithmetic finite.
  return Math.min(p.maxMs, p.initialMs * 2 ** Math.min(failures - 1, 62));
}
