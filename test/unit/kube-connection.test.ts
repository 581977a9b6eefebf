import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { loadConnection, OneServerAgent } from '../../kube/connection.js';
import { kubeconfigYaml } from '../../lab/pki.js';

// Plain text stands in for PEM: the loader only carries bytes to the TLS agent.
const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

function dir(files: Record<string, string>): string {
  const d = mkdtempSync(join(tmpdir(), 'hlb-conn-'));
  made.push(d);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(d, name), text);
  return d;
}

function kubeconfig(cluster: object, user: object, extra = ''): string {
  return `apiVersion: v1
kind: Config
current-context: ctx
contexts: [{ name: ctx, context: { cluster: c, user: u } }, { name: other, context: { cluster: c2, user: u } }]
clusters:
- { name: c, cluster: ${JSON.stringify(cluster)} }
- { name: c2, cluster: { server: "https://203.0.113.9:6443/" } }
users: [{ name: u, user: ${JSON.stringify(user)} }]
${extra}`;
}

async function prepared(path: string | undefined, env: NodeJS.ProcessEnv = {}, saDir?: string) {
  const conn = await loadConnection(path ? { kubeconfigPath: path } : {}, env, saDir);
  const opts: https.RequestOptions = { headers: {} };
  await conn.prepare(opts);
  const agent = opts.agent as https.Agent & { options: https.AgentOptions; keepAlive: boolean };
  return { conn, opts, agent, auth: (opts.headers as Record<string, string>).Authorization };
}

describe('loadConnection', () => {
  it('reads inline data, a client certificate and a keep-alive agent from a kubeconfig', async () => {
    const d = dir({
      kc: kubeconfig(
        {
          server: 'https://127.0.0.1:6443/',
          'certificate-authority-data': Buffer.from('CA').toString('base64'),
        },
        {
          'client-certificate-data': Buffer.from('CERT').toString('base64'),
          'client-key-data': Buffer.from('KEY').toString('base64'),
        },
      ),
    });
    const { conn, agent, auth } = await prepared(join(d, 'kc'));
    expect(conn.server).toBe('https://127.0.0.1:6443');
    expect(String(agent.options.ca)).toBe('CA');
    expect(String(agent.options.cert)).toBe('CERT');
    expect(String(agent.options.key)).toBe('KEY');
    expect(agent.options.rejectUnauthorized).toBe(true);
    expect(agent.keepAlive).toBe(true);
    expect(auth).toBeUndefined();
  });

  it('resolves file paths against the kubeconfig directory and sends a bearer token', async () => {
    const d = dir({
      ca: 'CA-FILE',
      kc: kubeconfig(
        { server: 'https://127.0.0.1:6443', 'certificate-authority': 'ca', 'insecure-skip-tls-verify': true },
        { token: 's3cret' },
      ),
    });
    const { agent, auth } = await prepared(join(d, 'kc'));
    expect(String(agent.options.ca)).toBe('CA-FILE');
    expect(agent.options.rejectUnauthorized).toBe(false);
    expect(auth).toBe('Bearer s3cret');
  });

  it('reads the lab’s JSON kubeconfig, and a YAML flow mapping that only looks like JSON', async () => {
    const d = dir({
      json: kubeconfigYaml('https://192.0.2.10:6443', 'CA', { name: 'speaker', token: 'tok' }),
      flow: '{ apiVersion: v1, current-context: x, contexts: [{ name: x, context: { cluster: c, user: u } }], clusters: [{ name: c, cluster: { server: "https://192.0.2.11:6443" } }], users: [{ name: u, user: { token: t2 } }] }',
    });
    expect(() => JSON.parse(readFileSync(join(d, 'json'), 'utf8'))).not.toThrow();
    const a = await prepared(join(d, 'json'));
    expect(a.conn.server).toBe('https://192.0.2.10:6443');
    expect(String(a.agent.options.ca)).toBe('CA');
    expect(a.auth).toBe('Bearer tok');
    const b = await prepared(join(d, 'flow'));
    expect(b.conn.server).toBe('https://192.0.2.11:6443');
    expect(b.auth).toBe('Bearer t2');
  });

  it('honours a named context', async () => {
    const d = dir({ kc: kubeconfig({ server: 'https://127.0.0.1:6443' }, { token: 't' }) });
    const conn = await loadConnection({ kubeconfigPath: join(d, 'kc'), context: 'other' }, {});
    expect(conn.server).toBe('https://203.0.113.9:6443');
  });

  it('in cluster: service host and port (IPv6 bracketed), CA and token from the service-account dir', async () => {
    const sa = dir({ 'ca.crt': 'SA-CA', token: 'sa-token\n' });
    const env = { KUBERNETES_SERVICE_HOST: '2001:db8::1', KUBERNETES_SERVICE_PORT: '443' };
    const { conn, agent, auth } = await prepared(undefined, env, sa);
    expect(conn.server).toBe('https://[2001:db8::1]:443');
    expect(String(agent.options.ca)).toBe('SA-CA');
    expect(auth).toBe('Bearer sa-token');
  });

  it('hands credential kinds it does not implement (exec plugins) to client-node', async () => {
    const cred = JSON.stringify({
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      status: { token: 'from-exec' },
    });
    const d = dir({
      kc: kubeconfig(
        { server: 'https://127.0.0.1:6443' },
        {
          exec: {
            apiVersion: 'client.authentication.k8s.io/v1',
            command: 'sh',
            args: ['-c', `echo '${cred}'`],
            interactiveMode: 'Never',
          },
        },
      ),
    });
    const { conn, auth } = await prepared(join(d, 'kc'));
    expect(conn.server).toBe('https://127.0.0.1:6443');
    expect(auth).toBe('Bearer from-exec');
  });

  it('fails with code KUBECONFIG naming the source', async () => {
    await expect(loadConnection({}, {}, '/nonexistent')).rejects.toMatchObject({
      code: 'KUBECONFIG',
      message: expect.stringMatching(/not running in a cluster/),
    });
    const d = dir({ kc: kubeconfig({ server: 'https://127.0.0.1:6443' }, {}) });
    await expect(
      loadConnection({ kubeconfigPath: join(d, 'kc'), context: 'nope' }, {}),
    ).rejects.toMatchObject({
      code: 'KUBECONFIG',
      message: expect.stringMatching(/no context named "nope"/),
    });
    await expect(loadConnection({ kubeconfigPath: join(d, 'missing') }, {})).rejects.toMatchObject({
      code: 'KUBECONFIG',
      message: expect.stringContaining(join(d, 'missing')),
    });
  });
});

describe('OneServerAgent', () => {
  const tls = { ca: Buffer.from('CA '.repeat(400)), cert: Buffer.from('CERT'), key: Buffer.from('KEY') };
  const req = { host: '192.0.2.1', port: 6443 };

  it('keys its pool as Node’s https.Agent does, computing the key once per server', () => {
    const agent = new OneServerAgent(tls);
    const plain = new https.Agent(tls);
    const opts = { ...req, ...agent.options };
    const first = agent.getName(opts);
    expect(first).toBe(plain.getName({ ...req, ...plain.options }));
    expect(first).toContain('CA CA'); // the TLS material is part of Node's key
    const computed = vi.spyOn(https.Agent.prototype, 'getName');
    try {
      for (let i = 0; i < 5; i++) expect(agent.getName({ ...opts })).toBe(first);
      expect(computed).not.toHaveBeenCalled(); // served from the cache, not rebuilt
    } finally {
      computed.mockRestore();
    }
  });

  it('tells servers apart', () => {
    const agent = new OneServerAgent(tls);
    const a = agent.getName({ ...req, ...agent.options });
    const b = agent.getName({ ...req, port: 443, ...agent.options });
    const c = agent.getName({ ...req, servername: 'api.example', ...agent.options });
    expect(new Set([a, b, c]).size).toBe(3);
    expect(b).toBe(new https.Agent(tls).getName({ ...req, port: 443, ...tls }));
  });
});
