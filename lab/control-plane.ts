import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { adminKubeconfigYaml, kubeconfigYaml, makePki, type Pki } from './pki.js';

const run = promisify(execFile);

/** Where a throwaway control plane's processes, PKI, data and logs live. The prefix lets
 * a later run find and reap control planes whose owner died (`reapStaleControlPlanes`). */
export const DIR_PREFIX = 'heraldlb-cp-';

// The Service ClusterIP ranges are API data only: nothing in the lab routes them.
// IPv4 primary so a plain Service is IPv4; the IPv6 range is large for bulk tests.
const SERVICE_RANGES = '198.51.100.0/24,2001:db8:5e::/108';

export interface ControlPlaneOptions {
  /** RBAC (default) enforces the roles our chart ships; AlwaysAllow is for quick experiments. */
  authorization?: 'RBAC' | 'AlwaysAllow';
  /** State directory; default a fresh temp dir. Removed by stop(). */
  dir?: string;
  /** Processes outlive this Node process (the lab CLI); stop them with stopControlPlaneAt. */
  detached?: boolean;
  /** Fixed secure port; default a free one. */
  port?: number;
}

export interface ControlPlane {
  readonly dir: string;
  readonly server: string;
  readonly kubeconfigPath: string;
  readonly pids: { etcd: number; apiserver: number };
  stop(): Promise<void>;
  /** Creates the namespace and ServiceAccount if missing and returns a kubeconfig path that
   * authenticates as that ServiceAccount (a bound token from the TokenRequest API). */
  serviceAccountKubeconfig(namespace: string, name: string): Promise<string>;
}

export interface Binaries {
  dir: string;
  etcd: string;
  kubeApiserver: string;
  kubectl: string;
}

/** The repository root, whether this runs from source (lab/) or compiled (dist/lab/). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4 && !existsSync(join(dir, 'lab', 'bin', 'build-control-plane.sh')); i++)
    dir = resolve(dir, '..');
  return dir;
}

/** Builds (cold, minutes) or finds (warm, instant) the pinned binaries. */
export async function ensureBinaries(): Promise<Binaries> {
  const script = join(repoRoot(), 'lab', 'bin', 'build-control-plane.sh');
  let out: string;
  try {
    ({ stdout: out } = await run('bash', [script], { maxBuffer: 1 << 20, timeout: 60 * 60 * 1000 }));
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? '').slice(-2000);
    throw new Error(`building the control plane failed (is Go installed?):\n${stderr}`, { cause: err });
  }
  const dir = out.trim().split('\n').pop() ?? '';
  return {
    dir,
    etcd: join(dir, 'etcd'),
    kubeApiserver: join(dir, 'kube-apiserver'),
    kubectl: join(dir, 'kubectl'),
  };
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

function launch(bin: string, args: string[], logFile: string, detached: boolean): ChildProcess {
  const fd = openSync(logFile, 'a');
  const child = spawn(bin, args, { stdio: ['ignore', fd, fd], detached });
  if (detached) child.unref();
  return child;
}

function etcdArgs(dir: string, client: number, peer: number): string[] {
  const peerUrl = `http://127.0.0.1:${peer}`;
  const clientUrl = `http://127.0.0.1:${client}`;
  return [
    '--name=hlb',
    `--data-dir=${join(dir, 'etcd')}`,
    `--listen-client-urls=${clientUrl}`,
    `--advertise-client-urls=${clientUrl}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=hlb=${peerUrl}`,
    '--log-level=warn',
    // The data is thrown away with the dir; fsync would only slow tests down.
    '--unsafe-no-fsync',
  ];
}

function apiserverArgs(pki: Pki, dir: string, etcdPort: number, port: number, authz: string): string[] {
  return [
    `--etcd-servers=http://127.0.0.1:${etcdPort}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${port}`,
    `--cert-dir=${join(dir, 'certs')}`,
    `--tls-cert-file=${pki.servingCert}`,
    `--tls-private-key-file=${pki.servingKey}`,
    `--client-ca-file=${pki.caCert}`,
    '--service-account-issuer=https://kubernetes.default.svc',
    `--service-account-key-file=${pki.saPub}`,
    `--service-account-signing-key-file=${pki.saKey}`,
    `--service-cluster-ip-range=${SERVICE_RANGES}`,
    `--authorization-mode=${authz}`,
    // Loopback cannot be an endpoint of the `kubernetes` Service; nothing here needs it.
    '--endpoint-reconciler-type=none',
    '--profiling=false',
  ];
}

interface AdminTls {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** One HTTPS call as the admin user; small on purpose (readiness and token requests). */
function adminCall(server: string, tls: AdminTls, method: string, path: string, body?: unknown) {
  return new Promise<{ status: number; body: string }>((res, rej) => {
    const req = request(new URL(path, server), { method, ...tls, timeout: 5000 }, (r) => {
      let data = '';
      r.setEncoding('utf8');
      r.on('data', (c: string) => {
        data += c;
      });
      r.on('end', () => res({ status: r.statusCode ?? 0, body: data }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', rej);
    if (body !== undefined) {
      req.setHeader('content-type', 'application/json');
      req.end(JSON.stringify(body));
    } else req.end();
  });
}

async function waitReady(server: string, tls: AdminTls, procs: ChildProcess[], timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  for (let i = 0; Date.now() < deadline && i < 10_000; i++) {
    const dead = procs.find((p) => p.exitCode !== null || p.signalCode !== null);
    if (dead)
      throw new Error(`${dead.spawnfile} exited (${dead.exitCode ?? dead.signalCode}) before /readyz`);
    try {
      const r = await adminCall(server, tls, 'GET', '/readyz');
      if (r.status === 200) return;
      last = `${r.status} ${r.body.slice(0, 300)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`kube-apiserver not ready after ${timeoutMs} ms: ${last}`);
}

/** True while a process with this pid exists (signal 0 probes without touching it). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function killAndWait(pid: number, graceMs: number): Promise<void> {
  if (!pid || !alive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let waited = 0; waited < graceMs && alive(pid); waited += 50)
    await new Promise((r) => setTimeout(r, 50));
  if (alive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
}

/** Stops the control plane recorded in `dir` (pid files) and removes the dir. Safe to call
 * twice, after a crash of the owner, or on a half-started dir. */
export async function stopControlPlaneAt(dir: string): Promise<void> {
  for (const name of ['apiserver', 'etcd']) {
    const file = join(dir, `${name}.pid`);
    const pid = existsSync(file) ? Number(readFileSync(file, 'utf8')) : 0;
    await killAndWait(pid, 5000);
  }
  await rm(dir, { recursive: true, force: true });
}

/** Removes control planes left by owners that died without stopping them (non-detached
 * ones only: a detached one belongs to the lab, whose `down` stops it). */
export async function reapStaleControlPlanes(): Promise<void> {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    const dir = join(tmpdir(), name);
    const ownerFile = join(dir, 'owner.pid');
    if (!existsSync(ownerFile)) continue;
    const owner = Number(readFileSync(ownerFile, 'utf8'));
    if (owner > 0 && !alive(owner)) await stopControlPlaneAt(dir);
  }
}

/** Starts etcd + kube-apiserver. Ports are picked free and bound a moment later by the
 * child, so another process can take one in between: such a start is retried (bounded). */
export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      const raced = /address already in use/i.test(String((err as Error).message));
      if (!raced || attempt >= 3 || opts.port !== undefined) throw err;
    }
  }
}

async function startOnce(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const bins = await ensureBinaries();
  await reapStaleControlPlanes();
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), DIR_PREFIX)));
  const detached = opts.detached ?? false;
  await mkdir(join(dir, 'logs'), { recursive: true });
  await mkdir(join(dir, 'certs'), { recursive: true });
  if (!detached) await writeFile(join(dir, 'owner.pid'), String(process.pid));
  const sans = [
    'IP:127.0.0.1',
    'DNS:localhost',
    'DNS:kubernetes',
    'DNS:kubernetes.default.svc',
    'IP:198.51.100.1',
  ];
  const pki = await makePki(join(dir, 'certs'), sans);
  const [etcdPort, peerPort, port] = [await freePort(), await freePort(), opts.port ?? (await freePort())];
  const server = `https://127.0.0.1:${port}`;

  const etcd = launch(bins.etcd, etcdArgs(dir, etcdPort, peerPort), join(dir, 'logs', 'etcd.log'), detached);
  await writeFile(join(dir, 'etcd.pid'), String(etcd.pid));
  const authz = opts.authorization ?? 'RBAC';
  const api = launch(
    bins.kubeApiserver,
    apiserverArgs(pki, dir, etcdPort, port, authz),
    join(dir, 'logs', 'kube-apiserver.log'),
    detached,
  );
  await writeFile(join(dir, 'apiserver.pid'), String(api.pid));
  const children = [etcd, api];
  // A test runner that dies must not leave an API server behind.
  const onExit = () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  };
  if (!detached) process.once('exit', onExit);

  const tls = {
    ca: await readFile(pki.caCert),
    cert: await readFile(pki.adminCert),
    key: await readFile(pki.adminKey),
  };
  try {
    await waitReady(server, tls, children, 60_000);
  } catch (err) {
    // Both logs: a port taken between pick and bind shows up in either one.
    const tail = async (f: string) =>
      (await readFile(join(dir, 'logs', f), 'utf8').catch(() => '')).slice(-3000);
    const logs = `--- kube-apiserver log ---\n${await tail('kube-apiserver.log')}\n--- etcd log ---\n${await tail('etcd.log')}`;
    await stopControlPlaneAt(dir);
    throw new Error(`${(err as Error).message}\n${logs}`, { cause: err });
  }
  const kubeconfigPath = join(dir, 'admin.kubeconfig');
  await writeFile(kubeconfigPath, await adminKubeconfigYaml(server, pki), { mode: 0o600 });
  await writeFile(join(dir, 'server'), server);

  return {
    dir,
    server,
    kubeconfigPath,
    pids: { etcd: etcd.pid ?? 0, apiserver: api.pid ?? 0 },
    async stop() {
      process.removeListener('exit', onExit);
      await stopControlPlaneAt(dir);
    },
    serviceAccountKubeconfig: (ns, name) => serviceAccountKubeconfig(server, tls, dir, ns, name),
  };
}

async function ensureObject(server: string, tls: AdminTls, path: string, body: unknown): Promise<void> {
  const r = await adminCall(server, tls, 'POST', path, body);
  if (r.status !== 201 && r.status !== 409)
    throw new Error(`POST ${path}: ${r.status} ${r.body.slice(0, 300)}`);
}

async function serviceAccountKubeconfig(
  server: string,
  tls: AdminTls,
  dir: string,
  ns: string,
  name: string,
): Promise<string> {
  await ensureObject(server, tls, '/api/v1/namespaces', { metadata: { name: ns } });
  await ensureObject(server, tls, `/api/v1/namespaces/${ns}/serviceaccounts`, { metadata: { name } });
  const r = await adminCall(server, tls, 'POST', `/api/v1/namespaces/${ns}/serviceaccounts/${name}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { expirationSeconds: 86_400 },
  });
  if (r.status !== 201) throw new Error(`token for ${ns}/${name}: ${r.status} ${r.body.slice(0, 300)}`);
  const token = (JSON.parse(r.body) as { status: { token: string } }).status.token;
  const path = join(dir, `sa-${ns}-${name}.kubeconfig`);
  await writeFile(path, kubeconfigYaml(server, tls.ca.toString(), { name: `${ns}-${name}`, token }), {
    mode: 0o600,
  });
  return path;
}
