// Raw list and watch over node:http(s), authenticated by the KubeConfig. The informer uses
// these instead of client-node's Watch because Watch cannot be cancelled before its request
// resolves, has no request timeout, and its typed lists and raw watch events differ in shape
// (Dates vs strings); here list items and watch objects are both the API's JSON.
import http from 'node:http';
import https from 'node:https';
import { createInterface } from 'node:readline';
import type { KubeConfig } from '@kubernetes/client-node';
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

function buildUrl(kc: KubeConfig, path: string, query: Query): URL {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new KubeError('NO_CLUSTER', 'kubeconfig has no current cluster');
  const url = new URL(cluster.server.replace(/\/$/, '') + path);
  for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
  return url;
}

async function open(
  kc: KubeConfig,
  path: string,
  query: Query,
  signal: AbortSignal,
  timeoutMs: number,
): Promise<http.IncomingMessage> {
  const url = buildUrl(kc, path, query);
  const opts: https.RequestOptions = { method: 'GET', headers: { Accept: 'application/json' } };
  await kc.applyToHTTPSOptions(opts);
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(url, { ...opts, signal, timeout: timeoutMs }, (res) => {
      // Only idle sockets time out; once the response streams, the server's own timeoutSeconds rules.
      req.setTimeout(0);
      resolve(res);
    });
    req.on('timeout', () => req.destroy(new KubeError('TIMEOUT', `no response from ${url.pathname}`)));
    req.on('error', (err) => reject(wrapNetwork(err, signal)));
    req.end();
  });
}

function wrapNetwork(err: unknown, signal: AbortSignal): unknown {
  if (signal.aborted) return signal.reason ?? err;
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

/** GET `path` and parse the JSON answer; non-2xx becomes ApiStatusError. */
export async function getJson<T>(
  kc: KubeConfig,
  path: string,
  query: Query,
  signal: AbortSignal,
  timeoutMs = 60_000,
): Promise<T> {
  const res = await open(kc, path, query, signal, timeoutMs);
  let text: string;
  try {
    text = await readBody(res);
  } catch (err) {
    throw wrapNetwork(err, signal);
  }
  const status = res.statusCode ?? 0;
  if (status < 200 || status > 299) throw new ApiStatusError(status, parseJson(text));
  const parsed = parseJson(text);
  if (typeof parsed !== 'object' || parsed === null) {
    throw new KubeError('BAD_RESPONSE', `non-JSON answer from ${path}`);
  }
  return parsed as T;
}

/**
 * Streams a watch on `path`, calling onEvent per event. Resolves when the server ends the
 * stream (normal: timeoutSeconds elapsed); rejects on HTTP or network errors; resolves quietly
 * when `signal` aborts.
 */
export async function watchStream(
  kc: KubeConfig,
  path: string,
  query: Query,
  signal: AbortSignal,
  onEvent: (ev: RawWatchEvent) => void,
): Promise<void> {
  let res: http.IncomingMessage;
  try {
    res = await open(kc, path, { ...query, watch: true }, signal, 30_000);
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
