#!/usr/bin/env node
// `heraldlb-lab <command>` (also `npm run lab -- <command>`): the one-machine cluster.
// See docs/lab.md.
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { demo } from './demo.js';
import { demoSlots } from './demo-slots.js';
import { down } from './down.js';
import { withLock } from './lock.js';
import { netnsUnusable } from './netns.js';
import { execIn, loadImageCmd, type NodeAction, nodeAction } from './ops.js';
import { labPaths } from './state.js';
import { slotText, statusLines } from './status.js';
import { up } from './up.js';

const USAGE = `usage: heraldlb-lab [--dir DIR] <command>

  up [--nodes N] [--ipv6] [--runtime]
                            control plane, CRDs, N node namespaces (default 3) and a client;
                            --runtime adds kube-controller-manager, kube-scheduler, and per
                            node containerd + kubelet running Pods with runc
  load-image <archive|oci-layout[:tag]> [--name NAME]
                            import an image into every node's containerd (--runtime)
  down                      remove every namespace, process and file of the lab
  status                    control plane, nodes (Ready, addresses), processes, slots
  exec <client|nodeN> -- <command...>
  node-notready <nodeN>     Ready=False (heartbeats go on)
  node-ready <nodeN>        Ready=True again
  kill-node <nodeN>         power cut: its processes killed, its link down, no heartbeats
  revive-node <nodeN>       power back: link up, agent (and speaker) started again
  partition <nodeN>         cut from the LAN and the API; heal <nodeN> reverses it
  stop-speaker <nodeN>      stop its speaker gracefully (SIGTERM); start-speaker <nodeN>
  kubeconfig                print the admin kubeconfig path
  demo                      the user's path: up --runtime, the image, helm install --wait,
                            a pool and Service, arping/curl, the owner's power cut measured
  demo --slots              the same story over dist/ slot processes (no image, no Helm)

The lab dir is --dir, else $HERALDLB_LAB_DIR, else ${join(tmpdir(), 'heraldlb-lab')}.
CRDs come from the package's crds/, or from $HERALDLB_LAB_CRDS when set.`;

const NODE_ACTIONS: NodeAction[] = [
  'node-notready',
  'node-ready',
  'kill-node',
  'revive-node',
  'partition',
  'heal',
  'stop-speaker',
  'start-speaker',
];

const say = (line: string) => process.stdout.write(`${line}\n`);

function parse(argv: string[]) {
  const dashdash = argv.indexOf('--');
  const own = dashdash >= 0 ? argv.slice(0, dashdash) : argv;
  const rest = dashdash >= 0 ? argv.slice(dashdash + 1) : [];
  const { values, positionals } = parseArgs({
    args: own,
    allowPositionals: true,
    options: {
      dir: { type: 'string' },
      nodes: { type: 'string' },
      ipv6: { type: 'boolean' },
      runtime: { type: 'boolean' },
      slots: { type: 'boolean' },
      name: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const dir = resolve(values.dir ?? process.env.HERALDLB_LAB_DIR ?? join(tmpdir(), 'heraldlb-lab'));
  return { values, positionals, rest, dir };
}

async function runUp(
  dir: string,
  nodes: string | undefined,
  ipv6: boolean | undefined,
  runtime: boolean | undefined,
): Promise<void> {
  const started = Date.now();
  const n = nodes === undefined ? undefined : Number(nodes);
  const crdDir = process.env.HERALDLB_LAB_CRDS || undefined;
  const r = await withLock(dir, () => up({ dir, nodes: n, ipv6, crdDir, runtime, say }));
  say(
    `lab up in ${((Date.now() - started) / 1000).toFixed(1)} s: ${r.topology.nodes.length} nodes, client ${r.topology.client.ipv4}`,
  );
  say(`control plane ${r.state.controlPlane?.server}`);
  say(`CRDs ${r.crds.join(', ') || 'none found in crds/'}`);
  say(`logs ${labPaths(dir).logs}`);
  if (r.state.runtime) say('runtime: kube-controller-manager, kube-scheduler, containerd + kubelet per node');
  else say(`controller slot: ${slotText(r.controller)}`);
  for (const [node, slot] of Object.entries(r.speakers)) say(`speaker slot ${node}: ${slotText(slot)}`);
  say(`kubeconfig ${r.kubeconfig}`);
  say(`  export KUBECONFIG=${r.kubeconfig}`);
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals, rest, dir } = parse(argv);
  const [cmd, arg] = positionals;
  if (values.help || !cmd || cmd === 'help') {
    say(USAGE);
    return cmd || values.help ? 0 : 2;
  }
  if (cmd === 'kubeconfig') {
    say(labPaths(dir).kubeconfig);
    return 0;
  }
  const why = netnsUnusable();
  if (why) {
    process.stderr.write(`heraldlb-lab: ${why}\n`);
    return 1;
  }
  switch (cmd) {
    case 'up':
      await runUp(dir, values.nodes, values.ipv6, values.runtime);
      return 0;
    case 'load-image':
      if (!arg) throw new Error('usage: heraldlb-lab load-image <archive|oci-layout[:tag]> [--name NAME]');
      say(await withLock(dir, () => loadImageCmd(dir, arg, values.name)));
      return 0;
    case 'down':
      await withLock(dir, () => down({ dir, say }));
      say('lab down');
      return 0;
    case 'status':
      for (const l of await statusLines(dir)) say(l);
      return 0;
    case 'exec':
      return execIn(dir, arg ?? '', rest);
    case 'demo':
      await withLock(dir, () => (values.slots ? demoSlots(dir, say) : demo(dir, say)));
      return 0;
  }
  if ((NODE_ACTIONS as string[]).includes(cmd)) {
    if (!arg) throw new Error(`usage: heraldlb-lab ${cmd} <nodeN>`);
    say(await withLock(dir, () => nodeAction(dir, cmd as NodeAction, arg)));
    return 0;
  }
  process.stderr.write(`heraldlb-lab: unknown command "${cmd}"\n${USAGE}\n`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`heraldlb-lab: ${(err as Error).message}\n`);
    if (process.env.HERALDLB_LAB_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  },
);
