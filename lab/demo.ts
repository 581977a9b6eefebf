// `npm run demo`: the lab up, a sample pool and Service, and what a user would see.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensureBinaries } from './control-plane.js';
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
  await shell(say, `lab exec client -- curl -s http://${vip}/`, 'ip', [
    ...['netns', 'exec', r.topology.client.netns, 'curl', '-s', '-m', '5', `http://${vip}/`],
  ]);
}
