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
  timeoutMs: number;
  body?: { contentType: string; text: string };
}

async function open(conn: Connection, call: Call): Promise<http.IncomingMessage> {
  const url = buildUrl(conn, call.path, call.query);
  const headers: http.OutgoingHttpHeaders = { Accept: 'application/json' };
  if (call.body) headers['Content-Type'] = call.body.contentType;
  const opts: https.RequestOptions = { method: call.method, headers };
  await conn.prepare(opts);
  const mod = url.protocol === 'https:' ? https : http;
  const signal = call.signal;
  return new Promise((resolve, reject) => {
    const req = mod.request(url, { ...opts, signal, timeout: call.timeoutMs }, (res) => {
      // Only idle sockets time out; once the response streams, the server's own timeoutSeconds rules.
      req.setTimeout(0);
      resolve(res);
    });
    req.on('timeout', () => req.destroy(new KubeError('TIMEOUT', `no response from ${url.pathname}`)));
    req.on('error', (err) => reject(wrapNetwork(err, signal)));
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
  const res = await open(conn, call);
  let text: string;
  try {
    text = await readBody(res);
  } catch (err) {
    throw wrapNetwork(err, call.signal);
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
  return callJson<T>(conn, { method: 'GET', path, query, signal, timeoutMs });
}

export type WriteMethod = 'POST' | 'PUT' | 'PATCH';
const MERGE_PATCH = 'application/merge-patch+json';

/**
 * Sends `body` as JSON (a JSON merge patch for PATCH) and parses the answer; non-2xx becomes
 * ApiStatusError (404 classifies as 'gone', 409 as 'conflict', ...).
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
    timeoutMs: opts.timeoutMs ?? 30_000,
    body: { contentType, text: JSON.stringify(body) },
  });
}

/**
 * Streams a watch on `path`, calling onEvent per event. Resolves when the server ends the
 * stream (normal: timeoutSeconds elapsed); rejects on HTTP or network errors; resolves quietly
 * when `signal` aborts.
 */
export async function watchStream(
  conn: Connection,
  path: string,
  query: Query,
  signal: AbortSignal,
  onEvent: (ev: RawWatchEvent) => void,
): Promise<void> {
  let res: http.IncomingMessage;
  try {
    res = await open(conn, {
      method: 'GET',
      path,
      query: { ...query, watch: true },
      signal,
      timeoutMs: 30_000,
    });
  } catch (err) {
    if (signal.aborted) return;
    throw err;
  }
  const status = res.statusCode ?? 0;
  if (status !== 200) throw new ApiStatusError(status, parseJson(await readBody(res).catch(() => '')));
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
    throw wrapNetwork(err, signal);
  } finally {
    lines.close();
    res.destroy();
  }
  // The stream may end because the request was aborted: that is a stop, not an error.
}
