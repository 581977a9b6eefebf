// Raw JSON requests and watches over node:http(s), authenticated by a Connection. The
// programs use these instead of client-node's generated APIs and Watch: Watch cannot be
// cancelled before its request resolves and has no request timeout; typed lists and raw
// watch events differ in shape (Dates vs strings), while here everything is the API's JSON;
// and client-node's import alone costs more memory than the controller's budget allows
// (see connection.ts).
import http from 'node:http';
import https from 'node:https';
import { createInterface } from 'node:readline';
import type { Connection } from './connection.js';
import { KubeError } from './errors.js';

export type Query = Record<string, string | number | boolean | undefined>;

/** An HTTP error from the API server, shaped like client-node's ApiException (`code`, `body`). */
export class ApiStatusError extends KubeError {
  constructor(
    readonly statusCode: number,
    readonly body: unknown,
  ) {
    const msg = (body as { message?: unknown })?.message;
    super('API_STATUS', `API server answered ${statusCode}${typeof msg === 'string' ? `: ${msg}` : ''}`);
  }
}

export interface RawWatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: Record<string, unknown>;
}

function buildUrl(conn: Connection, path: string, query: Query): URL {
  const url = new URL(conn.server + path);
  for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
  return url;
}

interface Call {
  method: string;
  path: string;
  query: Query;
  signal: AbortSignal | undefined;
  /**
   * The whole exchange must end within this many ms (connect, headers and body), or it fails
   * with code TIMEOUT. Watches pass undefined and guard themselves with an idle deadline.
   */
  deadlineMs: number | undefined;
  body?: { contentType: string; text: string };
}

/**
 * Opens a request; resolves with the response once headers arrive. `timer` (when given) is
 * armed until the caller has read everything: a half-open connection (an API VIP that moved,
 * a NAT that dropped its state) sends nothing and closes nothing, so only a deadline of our
 * own ends the wait. The kernel's keepalive would take minutes to notice.
 */
async function open(conn: Connection, call: Call): Promise<{ res: http.IncomingMessage; done: () => void }> {
  const url = buildUrl(conn, call.path, call.query);
  const headers: http.OutgoingHttpHeaders = { Accept: 'application/json' };
  if (call.body) headers['Content-Type'] = call.body.contentType;
  const opts: https.RequestOptions = { method: call.method, headers };
  await conn.prepare(opts);
  const mod = url.protocol === 'https:' ? https : http;
  const signal = call.signal;
  return new Promise((resolve, reject) => {
    const req = mod.request(url, { ...opts, signal }, (res) => resolve({ res, done }));
    const timer =
      call.deadlineMs === undefined
        ? undefined
        : setTimeout(
            () =>
              req.destroy(
                new KubeError(
                  'TIMEOUT',
                  `no complete answer from ${url.pathname} within ${call.deadlineMs} ms`,
                ),
              ),
            call.deadlineMs,
          );
    const done = () => clearTimeout(timer);
    req.on('error', (err) => {
      done();
      reject(wrapNetwork(err, signal));
    });
    req.end(call.body?.text);
  });
}

function wrapNetwork(err: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted) return signal.reason ?? err;
  if (err instanceof KubeError) return err;
  return new KubeError('NETWORK', `API request failed: ${(err as Error)?.message ?? err}`, err);
}

async function readBody(res: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text; // non-JSON error bodies (proxies) are kept as text
  }
}

async function callJson<T>(conn: Connection, call: Call): Promise<T> {
  const { res, done } = await open(conn, call);
  let text: string;
  try {
    text = await readBody(res);
  } catch (err) {
    throw wrapNetwork(err, call.signal);
  } finally {
    done();
  }
  const status = res.statusCode ?? 0;
  if (status < 200 || status > 299) throw new ApiStatusError(status, parseJson(text));
  const parsed = parseJson(text);
  if (typeof parsed !== 'object' || parsed === null) {
    throw new KubeError('BAD_RESPONSE', `non-JSON answer from ${call.path}`);
  }
  return parsed as T;
}

/** GET `path` and parse the JSON answer; non-2xx becomes ApiStatusError. */
export function getJson<T>(
  conn: Connection,
  path: string,
  query: Query,
  signal?: AbortSignal,
  timeoutMs = 60_000,
): Promise<T> {
  return callJson<T>(conn, { method: 'GET', path, query, signal, deadlineMs: timeoutMs });
}

export type WriteMethod = 'POST' | 'PUT' | 'PATCH';
const MERGE_PATCH = 'application/merge-patch+json';

/**
 * Sends `body` as JSON (a JSON merge patch for PATCH) and parses the answer; non-2xx becomes
 * ApiStatusError (404 classifies as 'gone', 409 as 'conflict', ...). `timeoutMs` bounds the
 * whole call; past it the call fails with code TIMEOUT and its outcome is unknown (the server
 * may still have applied it).
 */
export function sendJson<T>(
  conn: Connection,
  method: WriteMethod,
  path: string,
  body: unknown,
  opts: { query?: Query; signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<T> {
  const contentType = method === 'PATCH' ? MERGE_PATCH : 'application/json';
  return callJson<T>(conn, {
    method,
    path,
    query: opts.query ?? {},
    signal: opts.signal,
    deadlineMs: opts.timeoutMs ?? 30_000,
    body: { contentType, text: JSON.stringify(body) },
  });
}

/** DELETE `path`; non-2xx becomes ApiStatusError (404 classifies as 'gone'). */
export function deleteJson<T>(
  conn: Connection,
  path: string,
  opts: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<T> {
  return callJson<T>(conn, {
    method: 'DELETE',
    path,
    query: {},
    signal: opts.signal,
    deadlineMs: opts.timeoutMs ?? 30_000,
  });
}

/**
 * Streams a watch on `path`, calling onEvent per event. Resolves when the server ends the
 * stream (normal: timeoutSeconds elapsed); rejects on HTTP or network errors, and with code
 * WATCH_IDLE when nothing at all (not even a bookmark) arrived for `idleMs`: the server ends a
 * watch by its timeoutSeconds, so silence past that plus a grace means a dead connection.
 * Resolves quietly when `signal` aborts.
 */
export async function watchStream(
  conn: Connection,
  path: string,
  query: Query,
  signal: AbortSignal,
  onEvent: (ev: RawWatchEvent) => void,
  idleMs = 330_000,
): Promise<void> {
  let opened: Awaited<ReturnType<typeof open>>;
  try {
    // Until headers arrive the idle deadline is the whole budget.
    opened = await open(conn, {
      method: 'GET',
      path,
      query: { ...query, watch: true },
      signal,
      deadlineMs: idleMs,
    });
  } catch (err) {
    if (signal.aborted) return;
    throw err;
  }
  opened.done();
  const res = opened.res;
  const status = res.statusCode ?? 0;
  if (status !== 200) throw new ApiStatusError(status, parseJson(await readBody(res).catch(() => '')));
  let idle: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(idle);
    idle = setTimeout(
      () => res.destroy(new KubeError('WATCH_IDLE', `watch on ${path} silent for ${idleMs} ms`)),
      idleMs,
    );
  };
  arm();
  res.on('data', arm);
  const lines = createInterface({ input: res, crlfDelay: Number.POSITIVE_INFINITY });
  try {
    for await (const line of lines) {
      if (line.trim() === '') continue;
      const ev = parseJson(line) as RawWatchEvent;
      if (typeof ev !== 'object' || ev === null || typeof ev.type !== 'string') {
        throw new KubeError('BAD_RESPONSE', `unparseable watch event on ${path}`);
      }
      onEvent(ev);
    }
  } catch (err) {
    if (signal.aborted) return;
    if (err instanceof KubeError && err.code === 'WATCH_IDLE') conn.resetIdle?.();
    throw wrapNetwork(err, signal);
  } finally {
    clearTimeout(idle);
    lines.close();
    res.destroy();
  }
  // readline ends quietly when the response is destroyed: tell an idle death from a normal end.
  if (res.errored instanceof KubeError && !signal.aborted) {
    if (res.errored.code === 'WATCH_IDLE') conn.resetIdle?.();
    throw res.errored;
  }
  // The stream may end because the request was aborted: that is a stop, not an error.
}
