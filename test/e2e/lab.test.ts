import { existsSync, readFileSync } from 'node:fs';
import { CoreV1Api } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { curlFromClient, inNs, lab, labAvailable, labDir, labKubeConfig, labUp, sh } from '../support/lab.js';

const LAB_NETNS = /^hlb-(lan|client|node\d+)$/;

async function readyOf(node: string): Promise<string | undefined> {
  const core = labKubeConfig().makeApiClient(CoreV1Api);
  const n = await core.readNode({ name: node });
  return n.status?.conditions?.find((c) => c.type === 'Ready')?.status;
}

async function eventually(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 1000; i++) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface StateFile {
  pids: { keeper: number; agents: Record<string, number> };
  controlPlane: { pids: { etcd: number; apiserver: number } };
}
const state = (): StateFile => JSON.parse(readFileSync(`${labDir()}/state.json`, 'utf8')) as StateFile;

/** Everything the lab could leave behind; empty lists when it is really gone. */
async function leftovers() {
  const netns = (await sh('ip', ['netns', 'list'])).stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => LAB_NETNS.test(n));
  const hostLinks = (await sh('ip', ['-o', 'link', 'show'])).stdout
    .split('\n')
    .filter((l) => /: (vnode\d+|vclient)[@:]/.test(l));
  const procs = (await sh('ps', ['-eo', 'pid,args'])).stdout
    .split('\n')
    .filter((l) => l.includes(`${labDir()}/`) || l.endsWith(` ${labDir()}`));
  const files = [labDir(), `${labDir()}.lock`].filter((f) => existsSync(f));
  return { netns, hostLinks, procs, files };
}
const CLEAN = { netns: [], hostLinks: [], procs: [], files: [] };

describe.runIf(labAvailable())('lab', () => {
  it('up for 3 nodes from fresh, then up again is a no-op', async () => {
    await lab('down');
    const first = await labUp('--nodes', '3');
    expect(first.stdout).toMatch(/kubeconfig .*kubeconfig/);
    const before = state();
    const again = await labUp();
    expect(again.stdout).not.toMatch(/building namespaces|starting etcd/);
    const after = state();
    expect(after.pids.keeper).toBe(before.pids.keeper);
    expect(after.pids.agents).toEqual(before.pids.agents);
    expect(after.controlPlane.pids).toEqual(before.controlPlane.pids);
    const status = await lab('status');
    expect(status.stdout).toMatch(/node3 +192\.0\.2\.13 .*Ready=True/);
    expect(await lab('up', '--nodes', '4')).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/lab down/),
    });
  });

  it('creates Node objects, Ready, with their InternalIP', async () => {
    const core = labKubeConfig().makeApiClient(CoreV1Api);
    const nodes = (await core.listNode()).items;
    expect(nodes.map((n) => n.metadata?.name).sort()).toEqual(['node1', 'node2', 'node3']);
    for (const n of nodes) {
      expect(n.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(n.status?.addresses).toContainEqual({
        type: 'InternalIP',
        address: `192.0.2.1${n.metadata?.name?.slice(4)}`,
      });
    }
    const lease = await labKubeConfig()
      .makeApiClient((await import('@kubernetes/client-node')).CoordinationV1Api)
      .readNamespacedLease({ name: 'node1', namespace: 'kube-node-lease' });
    expect(lease.spec?.holderIdentity).toBe('node1');
  });

  it('curl from the client reaches each node, which answers with its name', async () => {
    for (const [i, name] of ['node1', 'node2', 'node3'].entries()) {
      expect((await curlFromClient(`http://192.0.2.1${i + 1}/`)).stdout).toBe(`${name}\n`);
    }
  });

  it('nodes serve TCP for pool addresses yet stay silent on ARP for them', async () => {
    const arping = await inNs('client', 'arping', '-c', '2', '-w', '2', '-I', 'eth0', '192.0.2.201');
    expect(arping.stdout).toMatch(/Received 0 response/);
    // What a speaker's ARP reply would do: point the client at node2 for the VIP.
    await inNs(
      'client',
      'ip',
      'neigh',
      'replace',
      '192.0.2.201',
      'lladdr',
      '02:68:6c:00:00:0c',
      'dev',
      'eth0',
    );
    try {
      expect((await curlFromClient('http://192.0.2.201/')).stdout).toBe('node2\n');
    } finally {
      await inNs('client', 'ip', 'neigh', 'del', '192.0.2.201', 'dev', 'eth0');
    }
  });

  it('node namespaces reach the API server at 127.0.0.1:6443 through the relay', async () => {
    const r = await inNs('node1', 'curl', '-sk', '-m', '3', 'https://127.0.0.1:6443/version');
    expect(r.stdout).toMatch(/"gitVersion"/);
  });

  it('node-notready flips the Ready condition and node-ready flips it back', async () => {
    expect((await lab('node-notready', 'node2')).code).toBe(0);
    expect(await readyOf('node2')).toBe('False');
    expect((await lab('node-ready', 'node2')).code).toBe(0);
    expect(await readyOf('node2')).toBe('True');
  });

  it('partition cuts a node from the LAN and the API; heal restores both', async () => {
    expect((await lab('partition', 'node2')).code).toBe(0);
    expect((await curlFromClient('http://192.0.2.12/', 1)).code).not.toBe(0);
    const api = await inNs('node2', 'curl', '-sk', '-m', '2', 'https://127.0.0.1:6443/version');
    expect(api.code).not.toBe(0);
    expect((await lab('heal', 'node2')).code).toBe(0);
    expect((await curlFromClient('http://192.0.2.12/')).stdout).toBe('node2\n');
    expect((await inNs('node2', 'curl', '-sk', '-m', '3', 'https://127.0.0.1:6443/version')).stdout).toMatch(
      /gitVersion/,
    );
    expect(await readyOf('node2')).toBe('True');
  });

  it('kill-node: its processes die, its IP goes dark, its Node turns Unknown; revive-node restores it', async () => {
    expect((await lab('kill-node', 'node3')).code).toBe(0);
    expect((await sh('ip', ['netns', 'pids', 'hlb-node3'])).stdout.trim()).toBe('');
    expect((await curlFromClient('http://192.0.2.13/', 1)).code).not.toBe(0);
    // Grace period 10 s without heartbeats, then Unknown (docs/lab.md).
    await eventually('node3 Ready=Unknown', async () => (await readyOf('node3')) === 'Unknown', 25_000);
    expect((await lab('revive-node', 'node3')).code).toBe(0);
    expect(await readyOf('node3')).toBe('True');
    expect((await curlFromClient('http://192.0.2.13/')).stdout).toBe('node3\n');
  });

  it('down leaves no namespace, link, process, dir or lock behind; twice is fine', async () => {
    expect((await lab('down')).code).toBe(0);
    expect(await leftovers()).toEqual(CLEAN);
    expect((await lab('down')).code).toBe(0);
    expect(await leftovers()).toEqual(CLEAN);
  });

  it('down cleans up after kill -9 of the CLI mid-up and of every lab process', async () => {
    await labUp('--nodes', '2');
    const s = state();
    for (const pid of [s.pids.keeper, ...Object.values(s.pids.agents), s.controlPlane.pids.apiserver]) {
      process.kill(pid, 'SIGKILL');
    }
    await lab('down');
    expect(await leftovers()).toEqual(CLEAN);
    // A CLI killed half-way through `up` (control plane started, namespaces half-made).
    const child = (await import('node:child_process')).spawn(
      process.execPath,
      [`${process.cwd()}/dist/lab/cli.js`, '--dir', labDir(), 'up', '--nodes', '2'],
      { stdio: 'ignore' },
    );
    await eventually('namespaces being built', async () => existsSync(`${labDir()}/cp/etcd.pid`), 30_000);
    await new Promise((r) => setTimeout(r, 1500));
    child.kill('SIGKILL');
    await lab('down');
    expect(await leftovers()).toEqual(CLEAN);
  });

  it('--ipv6: nodes answer NDP for their own address but not for pool addresses', async () => {
    await labUp('--nodes', '2', '--ipv6');
    const own = await inNs('client', 'ndisc6', '-r', '2', '-w', '500', '2001:db8:1::11', 'eth0');
    expect(own.stdout).toMatch(/Target link-layer address: 02:68:6C:00:00:0B/i);
    const pool = await inNs('client', 'ndisc6', '-r', '2', '-w', '500', '2001:db8:1::201', 'eth0');
    expect(pool.stdout).toMatch(/No response/);
    expect((await curlFromClient('http://[2001:db8:1::12]/')).stdout).toBe('node2\n');
    await inNs(
      'client',
      'ip',
      'neigh',
      'replace',
      '2001:db8:1::201',
      'lladdr',
      '02:68:6c:00:00:0b',
      'dev',
      'eth0',
    );
    expect((await curlFromClient('http://[2001:db8:1::201]/')).stdout).toBe('node1\n');
    await lab('down');
    expect(await leftovers()).toEqual(CLEAN);
  });

  it('refuses to run without root, saying why', async () => {
    // uid 0 with every capability dropped: powerless as a plain user, yet still able to
    // read a checkout in a root-only (0700) directory, as a fresh CI clone may be.
    const r = await sh('setpriv', [
      ...['--inh-caps=-all', '--bounding-set=-all'],
      ...[process.execPath, `${process.cwd()}/dist/lab/cli.js`, '--dir', labDir(), 'up'],
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/needs root/);
  });
});
