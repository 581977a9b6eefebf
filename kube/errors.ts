// Errors of the I/O shell: every error carries a stable `code` and the `cause` it wraps, and
// API errors are classified once here so callers branch on a class, never on raw status codes.

/** What a caller should do about a failed API call. */
export type ApiErrorClass =
  | 'gone' // 404: the object is not there; treat as deleted
  | 'conflict' // 409: someone else wrote first; re-read and retry
  | 'invalid' // 422 (and 400): permanent until the input changes; surface as an Event
  | 'forbidden' // 401/403: RBAC or credentials; retrying will not help soon
  | 'retry' // 429, 5xx, timeouts, network errors: transient, retry with backoff
  | 'unknown';

export class KubeError extends Error {
  readonly code: string;
  override readonly cause: unknown;

  constructor(code: string, message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'KubeError';
    this.code = code;
    this.cause = cause;
  }
}

// Node network error codes that mean "the server was not reachable just now".
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** The HTTP status of an API error, from client-node's ApiException (`code`), a watch
 * error (`statusCode`) or a Status object in a body; undefined when there is none. */
export function httpStatusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; statusCode?: unknown; status?: unknown; cause?: unknown };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  if (typeof e.status === 'number') return e.status;
  if (e.cause !== undefined && e.cause !== err) return httpStatusOf(e.cause);
  return undefined;
}

function networkCodeOf(err: unknown, depth = 0): string | undefined {
  if (typeof err !== 'object' || err === null || depth > 4) return undefined;
  const e = err as { code?: unknown; name?: unknown; cause?: unknown; type?: unknown };
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return e.code;
  if (e.name === 'AbortError' || e.name === 'TimeoutError' || e.type === 'request-timeout') return 'TIMEOUT';
  if (e.name === 'FetchError' || e.type === 'system') return 'FETCH';
  return networkCodeOf(e.cause, depth + 1);
}

export function classifyApiError(err: unknown): ApiErrorClass {
  const status = httpStatusOf(err);
  if (status !== undefined) {
    if (status === 404) return 'gone';
    // 410 Expired: a watch/list resourceVersion is too old; relist and retry.
    if (status === 410) return 'retry';
    if (status === 409) return 'conflict';
    if (status === 422 || status === 400) return 'invalid';
    if (status === 401 || status === 403) return 'forbidden';
    if (status === 429 || status === 408 || status >= 500) return 'retry';
    return 'unknown';
  }
  if (networkCodeOf(err) !== undefined) return 'retry';
  if (err instanceof KubeError && TRANSIENT_CODES.has(err.code)) return 'retry';
  return 'unknown';
}

// Our own error codes (rest.ts) for "no complete answer in time": transient.
const TRANSIENT_CODES = new Set(['NETWORK', 'TIMEOUT', 'WATCH_IDLE']);

/**
 * Whether a failed write may still have been applied by the server: no answer (network error,
 * timeout) or a 5xx other than 503 (a server that failed mid-request may have committed).
 * An answered 4xx, a 429 or a 503 is a refusal: nothing changed. Fencing relies on this: a
 * leader that cannot rule out such a write must not hand its Lease over early.
 */
export function outcomeUnknown(err: unknown): boolean {
  const status = httpStatusOf(err);
  if (status !== undefined) return status >= 500 && status !== 503;
  return true;
}

/** True when retrying the same call later may succeed. */
export function isRetryable(err: unknown): boolean {
  const c = classifyApiError(err);
  return c === 'retry' || c === 'conflict';
}

/** A short, log-friendly description of an API error (status + Status.message when present). */
export function describeApiError(err: unknown): string {
  const status = httpStatusOf(err);
  const body = (err as { body?: unknown })?.body;
  let detail = '';
  if (
    typeof body === 'object' &&
    body !== null &&
    typeof (body as { message?: unknown }).message === 'string'
  ) {
    detail = (body as { message: string }).message;
  } else if (typeof body === 'string') {
    detail = messageFromJsonText(body) ?? body.slice(0, 300);
  } else if (err instanceof Error) {
    detail = err.message;
  } else {
    detail = String(err);
  }
  return status === undefined ? detail : `HTTP ${status}: ${detail}`;
}

function messageFromJsonText(text: string): string | undefined {
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    return typeof parsed?.message === 'string' ? parsed.message : undefined;
  } catch {
    return undefined; // not JSON: the caller falls back to the raw text
  }
}
