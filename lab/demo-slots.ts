// `lab demo --slots`: the inner development loop's demo. The controller and speakers run from
// this checkout's dist/ as the lab's slot processes (no image, no Helm), so a code change is
// seen seconds after `npm run build`. The user's path is lab/demo.ts.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureBinaries } from './control-plane.js';
import {
  inClient,
  killOwnerMeasured,
  kubectlAs,
  SAMPLE,
  type Say,
  waitOwner,
  waitVip,
} from './demo-steps.js';
import { nodeAction } from './ops.js';
import { labPaths } from './state.js';
import { slotText } from './status.js';
import { POOL_V4_ONLINK } from './topology.js';
import { up } from './up.js';

export async function demoSlots(dir: string, say: Say): Promise<void> {
  const r = await up({ dir, nodes: 3, say });
  const kc = r.kubeconfig;
  const { kubectl } = await ensureBinaries();
  const k = kubectlAs(say, kubectl, kc);
  const client = inClient(say, r.topology.client.netns);
  say(`control plane: ${r.state.controlPlane?.server}`);
  say(`kubeconfig:    export KUBECONFIG=${kc}`);
  say(`logs:          ${labPaths(dir).logs}`);
  await k('get', 'nodes', '-o', 'wide');
  await k('get', 'crd');
  const sample = join(dir, 'demo.yaml');
  await writeFile(sample, SAMPLE);
  await k('apply', '-f', sample);
  await k('get', 'ipaddresspools,l2advertisements', '-o', 'wide');
  for (const h of r.topology.nodes) await client('curl', '-s', '-m', '3', `http://${h.ipv4}/`);
  say(`\ncontroller slot: ${slotText(r.controller)}`);
  for (const [n, slot] of Object.entries(r.speakers)) say(`speaker slot ${n}: ${slotText(slot)}`);
  const vip = await waitVip(kubectl, kc, r.controller.state === 'running' ? 15_000 : 0);
  await k('get', 'svc', 'web');
  const speakers = Object.values(r.speakers).some((x) => x.state === 'running');
  if (!vip || !speakers) {
    say(
      vip
        ? `\n${vip} is assigned, but no speaker exists yet, so nothing answers ARP for it:`
        : '\nThe Service stays <pending> until the controller exists; nothing answers ARP for the pool yet:',
    );
    await client('arping', '-c', '2', '-w', '2', '-I', 'eth0', vip || POOL_V4_ONLINK.start);
    return;
  }
  await client('arping', '-b', '-c', '3', '-w', '4', '-I', 'eth0', vip);
  await client('curl', '-s', '-m', '5', `http://${vip}/`);
  const owner = await waitOwner(kubectl, kc);
  await k('get', 'l2announcements', '-A');
  if (!owner) {
    say('\nno speaker has recorded an announcement; see the speaker logs');
    return;
  }
  await killOwnerMeasured(say, dir, r.topology.client.netns, vip, owner, 4000);
  await k('get', 'l2announcements', '-A');
  say(await nodeAction(dir, 'revive-node', owner));
  say('\n`npm run lab -- down` removes everything the demo made.');
}
