/**
 * How heraldlb's programs reach the API server: a server URL plus a `prepare` step that puts
 * TLS material, a keep-alive agent and credentials on each request.
 *
 * Why not client-node's KubeConfig for this: importing @kubernetes/client-node loads every
 * generated API and model class, about 80 MiB of resident memory before the first request,
 * more than half of the controller's 150 MiB budget. The controller needs three things from
 * it (a server, TLS, a credential), so `loadConnection` reads kubeconfig files and the
 * in-cluster service account itself, and imports client-node only for the credential kinds
 * it does not implement (exec plugins, auth providers, basic auth, proxies), so every
 * kubeconfig still works.
 */

import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { dirname, isAbsolute, resolve } from 'node:path';
import { KubeError } from './errors.js';
import { withKeepAlive } from './keep-alive.js';

export interface Connection {
  /** The API server's base URL, without a trailing slash. */
  readonly server: string;
  /** Adds agent, TLS material and an Authorization header (when there is one) to `opts`. */
  prepare(opts: https.RequestOptions): Promise<void>;
  /**
   * Closes the idle keep-alive sockets: after one connection went silent (a NAT or a VIP that
   * lost its state), the others to the same place are as likely dead, and reusing one would
   * hang the next request until its deadline.
   */
  resetIdle?(): void;
}

export interface ConnectionSource {
  /** A kubeconfig file; when absent, the in-cluster service account. */
  kubeconfigPath?: string;
  /** Context to use from the file (default: its current-context). */
  context?: string;
  /** Sockets to the API server at once (default 64) and idle ones kept open afterwards
   * (default 256, Node's). Each open TLS socket holds ~100 KiB of native memory: a program
   * with a small budget keeps few (the speaker). */
  sockets?: { max: number; maxFree: number };
}

// In-cluster paths, as every Kubernetes client uses them.
const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
// Bound service-account tokens rotate (the kubelet rewrites the file well before expiry);
// re-reading once a minute follows them, as client-go does.
const TOKEN_REFRESH_MS = 60_000;
const SOCKETS = { max: 64, maxFree: 256 };

type Dict = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** Loads a Connection; errors carry code KUBECONFIG and name the file or the in-cluster source. */
export async function loadConnection(
  src: ConnectionSource = {},
  env: NodeJS.ProcessEnv = process.env,
  serviceAccountDir = SA_DIR,
): Promise<Connection> {
  const where = src.kubeconfigPath ?? 'the in-cluster service account';
  try {
    const sockets = src.sockets ?? SOCKETS;
    if (src.kubeconfigPath) return await fromKubeconfigFile(src.kubeconfigPath, src.context, sockets);
    return await inCluster(env, serviceAccountDir, sockets);
  } catch (err) {
    if (err instanceof KubeError && err.code === 'KUBECONFIG') throw err;
    throw new KubeError('KUBECONFIG', `cannot load kubeconfig from ${where}: ${(err as Error).message}`, err);
  }
}

type Sockets = NonNullable<ConnectionSource['sockets']>;

async function inCluster(env: NodeJS.ProcessEnv, dir: string, sockets: Sockets): Promise<Connection> {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) {
    throw new KubeError(
      'KUBECONFIG',
      'not running in a cluster (KUBERNETES_SERVICE_HOST/PORT unset) and no --kubeconfig given',
    );
  }
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const ca = await readFile(`${dir}/ca.crt`);
  return tlsConnection(server, { ca }, tokenFile(`${dir}/token`), sockets);
}

/** A bearer token read from a file, re-read at most once a minute. */
function tokenFile(path: string): () => Promise<string> {
  let token = '';
  let readAt = Number.NEGATIVE_INFINITY;
  return async () => {
    if (Date.now() - readAt >= TOKEN_REFRESH_MS) {
      token = (await readFile(path, 'utf8')).trim();
      readAt = Date.now();
    }
    return token;
  };
}

function named(list: unknown, name: string | undefined, what: string): Dict {
  const entry = (Array.isArray(list) ? list : []).find((e) => (e as Dict)?.name === name) as Dict | undefined;
  if (!entry) throw new KubeError('KUBECONFIG', `kubeconfig has no ${what} named "${name ?? ''}"`);
  return (entry[what] as Dict | undefined) ?? {};
}

/**
 * JSON first (a kubeconfig written as JSON is valid YAML, and the lab writes them so), the YAML
 * parser only for the rest: loading it costs 2.4 MiB of resident memory for the life of the
 * process, and a pod's in-cluster config never needs it.
 */
async function parseKubeconfig(text: string): Promise<unknown> {
  if (text.trimStart().startsWith('{')) {
    try {
      return JSON.parse(text);
    } catch {
      // not JSON after all (YAML flow mapping): the YAML parser decides
    }
  }
  const { parse } = await import('yaml');
  return parse(text);
}

async function fromKubeconfigFile(
  path: string,
  context: string | undefined,
  sockets: Sockets,
): Promise<Connection> {
  const doc = ((await parseKubeconfig(await readFile(path, 'utf8'))) ?? {}) as Dict;
  const ctxName = context ?? str(doc['current-context']);
  const ctx = named(doc.contexts, ctxName, 'context');
  const cluster = named(doc.clusters, str(ctx.cluster), 'cluster');
  const user = str(ctx.user) ? named(doc.users, str(ctx.user), 'user') : {};
  const server = str(cluster.server);
  if (!server) throw new KubeError('KUBECONFIG', `kubeconfig ${path} has no current cluster server`);
  // Credential kinds this loader does not implement go through client-node, unchanged.
  if (user.exec || user['auth-provider'] || user.username || cluster['proxy-url']) {
    return viaClientNode(path, ctxName, sockets);
  }
  const base = dirname(resolve(path));
  const file = async (dataKey: string, fileKey: string): Promise<Buffer | undefined> => {
    const data = str(user[dataKey]) ?? str(cluster[dataKey]);
    if (data) return Buffer.from(data, 'base64');
    const f = str(user[fileKey]) ?? str(cluster[fileKey]);
    return f ? readFile(isAbsolute(f) ? f : resolve(base, f)) : undefined;
  };
  const tls: https.AgentOptions = {
    ca: await file('certificate-authority-data', 'certificate-authority'),
    cert: await file('client-certificate-data', 'client-certificate'),
    key: await file('client-key-data', 'client-key'),
    rejectUnauthorized: cluster['insecure-skip-tls-verify'] !== true,
    servername: str(cluster['tls-server-name']),
  };
  const token = str(user.token);
  const tf = str(user.tokenFile);
  const bearer = token
    ? async () => token
    : tf
      ? tokenFile(isAbsolute(tf) ? tf : resolve(base, tf))
      : undefined;
  return tlsConnection(server.replace(/\/$/, ''), tls, bearer, sockets);
}

/**
 * An https.Agent whose pool key is computed once per server, not per request. Node's getName()
 * appends the CA, client certificate and key to the key as text on every call, and calls it
 * more than once per request: ~12 KiB of strings per request here, a sixth of everything a
 * speaker allocated while writing its status objects (docs/benchmarks.md). The TLS material is
 * the agent's own and never varies per request, so the fields that can vary are enough to tell
 * which cached key applies.
 */
export class OneServerAgent extends https.Agent {
  // 'host:port:…' -> the key Node computed for it
  private readonly names = new Map<string, string>();

  override getName(options: https.RequestOptions = {}): string {
    const k = `${options.host}:${options.port}:${options.localAddress}:${options.family}:${options.servername}`;
    let name = this.names.get(k);
    if (name === undefined) {
      name = super.getName(options);
      if (this.names.size < 16) this.names.set(k, name);
    }
    return name;
  }
}

function tlsConnection(
  server: string,
  tls: https.AgentOptions,
  bearer: (() => Promise<string>) | undefined,
  sockets: Sockets,
): Connection {
  const secure = server.startsWith('https:');
  // One keep-alive agent per connection: a TLS handshake per request would cost more than
  // most of the requests themselves.
  const agent = secure
    ? new OneServerAgent({
        ...tls,
        keepAlive: true,
        maxSockets: sockets.max,
        maxFreeSockets: sockets.maxFree,
      })
    : new http.Agent({ keepAlive: true, maxSockets: sockets.max, maxFreeSockets: sockets.maxFree });
  return {
    server,
    async prepare(opts) {
      opts.agent = agent;
      if (bearer) opts.headers = { ...opts.headers, Authorization: `Bearer ${await bearer()}` };
    },
    resetIdle() {
      for (const list of Object.values(agent.freeSockets)) for (const socket of list ?? []) socket.destroy();
    },
  };
}

async function viaClientNode(
  path: string,
  context: string | undefined,
  sockets: Sockets,
): Promise<Connection> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  if (context) kc.setCurrentContext(context);
  return kubeConfigConnection(withKeepAlive(kc, sockets.max, sockets.maxFree));
}

/**
 * A Connection over a client-node KubeConfig (tests, the lab, and credentials this file does
 * not implement). Pass one wrapped by `withKeepAlive`, or every request opens a new socket.
 */
export function kubeConfigConnection(kc: {
  getCurrentCluster(): { server: string } | null;
  applyToHTTPSOptions(opts: https.RequestOptions): Promise<void>;
}): Connection {
  const server = kc.getCurrentCluster()?.server.replace(/\/$/, '');
  if (!server) throw new KubeError('KUBECONFIG', 'kubeconfig has no current cluster');
  return { server, prepare: (opts) => kc.applyToHTTPSOptions(opts) };
}
