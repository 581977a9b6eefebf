// `npm run demo`: the lab up, a sample pool and Service, and what a user would see.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensureBinaries } from './control-plane.js';
import { nodeAction } from './ops.js';
import { type Attempt, outageMs } from './probe.js';
import { waitFor } from './procs.js';
import { labPaths } from './state.js';
import { slotText } from './status.js';
import { POOL_V4_ONLINK } from './topology.js';
import { up } from './up.js';

const run = promisify(execFile);

const SAMPLE = `apiVersion: heraldlb.io/v1beta1
kind: IPAddressPool
metadata:
  name: demo
spec:
  addresses:
  - ${POOL_V4_ONLINK.start}-${POOL_V4_ONLINK.end}
---
apiVersion: heraldlb.io/v1beta1
kind: L2Advertisement
metadata:
  name: demo
spec:
  ipAddressPools: [demo]
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
spec:
  type: LoadBalancer
  ports:
  - port: 80
    protocol: TCP
`;

async function shell(say: (l: string) => void, shown: string, cmd: string, args: string[]): Promise<string> {
  say(`\n$ ${shown}`);
  try {
    const { stdout, stderr } = await run(cmd, args, { timeout: 30_000 });
    const text = `${stdout}${stderr}`.trimEnd();
    say(text);
    return text;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    const text = `${e.stdout ?? ''}${e.stderr ?? ''}`.trimEnd() || e.message;
    say(text);
    return '';
  }
}

export async function demo(dir: string, say: (l: string) => void): Promise<void> {
  const r = await up({ dir, nodes: 3, say });
  const kc = r.kubeconfig;
  const { kubectl } = await ensureBinaries();
  const k = (...args: string[]) =>
    shell(say, `kubectl ${args.join(' ')}`, kubectl, ['--kubeconfig', kc, ...args]);
  say(`control plane: ${r.state.controlPlane?.server}`);
  say(`kubeconfig:    export KUBECONFIG=${kc}`);
  say(`logs:          ${labPaths(dir).logs}`);
  await k('get', 'nodes', '-o', 'wide');
  await k('get', 'crd');
  const sample = join(dir, 'demo.yaml');
  await writeFile(sample, SAMPLE);
  await k('apply', '-f', sample);
  await k('get', 'ipaddresspools,l2advertisements', '-o', 'wide');
  for (const h of r.topology.nodes) {
    await shell(say, `lab exec client -- curl -s http://${h.ipv4}/`, 'ip', [
      ...['netns', 'exec', r.topology.client.netns, 'curl', '-s', '-m', '3', `http://${h.ipv4}/`],
    ]);
  }
  say(`\ncontroller slot: ${slotText(r.controller)}`);
  for (const [n, slot] of Object.entries(r.speakers)) say(`speaker slot ${n}: ${slotText(slot)}`);
  let vip = '';
  await waitFor(
    async () => {
      const out = await run(kubectl, [
        '--kubeconfig',
        kc,
        'get',
        'svc',
        'web',
        '-o',
        'jsonpath={.status.loadBalancer.ingress[0].ip}',
      ]);
      vip = out.stdout.trim();
      return vip !== '';
    },
    r.controller.state === 'running' ? 15_000 : 0,
    500,
  );
  await k('get', 'svc', 'web');
  const speakers = Object.values(r.speakers).some((x) => x.state === 'running');
  if (!vip || !speakers) {
    say(
      vip
        ? `\n${vip} is assigned, but no speaker exists yet, so nothing answers ARP for it:`
        : '\nThe Service stays <pending> until the controller exists; nothing answers ARP for the pool yet:',
    );
    const target = vip || POOL_V4_ONLINK.start;
    await shell(say, `lab exec client -- arping -c 2 -w 2 -I eth0 ${target}`, 'ip', [
      ...['netns', 'exec', r.topology.client.netns, 'arping', '-c', '2', '-w', '2', '-I', 'eth0', target],
    ]);
    return;
  }
  const inClient = (...argv: string[]) => ['netns', 'exec', r.topology.client.netns, ...argv];
  await shell(
    say,
    `lab exec client -- arping -b -c 3 -w 4 -I eth0 ${vip}`,
    'ip',
    inClient('arping', '-b', '-c', '3', '-w', '4', '-I', 'eth0', vip),
  );
  await shell(
    say,
    `lab exec client -- curl -s http://${vip}/`,
    'ip',
    inClient('curl', '-s', '-m', '5', `http://${vip}/`),
  );
  const owner = await waitOwner(kubectl, kc);
  await k('get', 'l2announcements', '-A');
  if (!owner) {
    say('\nno speaker has recorded an announcement; see the speaker logs');
    return;
  }
  say(`\nNow the power goes off on ${owner}, the announcing node, while the client opens a fresh`);
  say('connection every 20 ms (100 ms deadline each):');
  const probing = run(
    'ip',
    inClient(
      process.execPath,
      join(import.meta.dirname, 'probe.js'),
      '--url',
      `http://${vip}/`,
      '--duration-ms',
      '4000',
    ),
    {
      timeout: 30_000,
    },
  );
  await new Promise((res) => setTimeout(res, 1000));
  const at = Date.now();
  say(await nodeAction(dir, 'kill-node', owner));
  const { attempts } = JSON.parse((await probing).stdout) as { attempts: Attempt[] };
  const gap = outageMs(attempts, at);
  const after = attempts.filter((x) => x.ok).at(-1)?.node;
  say(
    gap === undefined
      ? 'the VIP did not come back within the window; see the speaker logs'
      : `client-observed outage: ${gap} ms; now served by ${after}`,
  );
  await k('get', 'l2announcements', '-A');
  say(await nodeAction(dir, 'revive-node', owner));
  say('\n`npm run lab -- down` removes everything the demo made.');
}

/** The node recorded as announcing the demo Service (its L2Announcement), within 10 s. */
async function waitOwner(kubectl: string, kc: string): Promise<string | undefined> {
  let owner: string | undefined;
  await waitFor(
    async () => {
      const out = await run(kubectl, [
        '--kubeconfig',
        kc,
        'get',
        'l2announcements',
        '-n',
        'default',
        '-o',
        'jsonpath={.items[*].status.node}',
      ]);
      const nodes = out.stdout.trim().split(/\s+/).filter(Boolean);
      owner = nodes.length === 1 ? nodes[0] : undefined;
      return owner !== undefined;
    },
    10_000,
    250,
  );
  return owner;
}
