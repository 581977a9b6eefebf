// The kind cluster driver: the same speaker scenarios as the lab (test/e2e/speaker.test.ts),
// on a kind cluster with the Helm chart installed, for users and upstream CI with Docker.
// Nodes are Docker containers on the `kind` network; the client is one more container there.
// It cannot run on the machine this project's CI uses (no Docker engine): see README.md here.
import { KubeConfig } from '@kubernetes/client-node';
import {
  type ClusterDriver,
  HEARTBEAT_BLOCK_RULES,
  type NodeFault,
  sh,
} from '../../../lab/cluster-driver.js';
import { parseProbe, probeArgs } from '../../../lab/probe.js';

export const CLUSTER = process.env.HERALDLB_KIND_CLUSTER ?? 'heraldlb-e2e';
export const CLIENT = `${CLUSTER}-client`;

async function docker(...args: string[]) {
  const r = await sh('docker', args, 120_000);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

export async function kindDriver(): Promise<ClusterDriver> {
  const kc = new KubeConfig();
  kc.loadFromString(await sh('kind', ['get', 'kubeconfig', '--name', CLUSTER]).then((r) => r.stdout));
  const nodes = (await sh('kind', ['get', 'nodes', '--name', CLUSTER])).stdout
    .split('\n')
    .filter((n) => n && !n.endsWith('control-plane'))
    .sort();
  const macs = new Map<string, string>();
  for (const n of nodes) macs.set(n, await docker('exec', n, 'cat', '/sys/class/net/eth0/address'));
  const controlPlane = `${CLUSTER}-control-plane`;
  const nft = (node: string, rule: string) => docker('exec', node, 'nft', ...rule.split(' '));
  return {
    kube: () => kc,
    nodes: () => nodes,
    macOf: (n) => macs.get(n) ?? '',
    client: (cmd, ...args) => sh('docker', ['exec', CLIENT, cmd, ...args], 60_000),
    // Services are served by the whoami DaemonSet (hostNetwork: answers with its node's name)
    // with externalTrafficPolicy Local, so the announcing node is the one that answers.
    backend: { selector: { app: 'heraldlb-whoami' }, local: true },
    async probe(url, durationMs, intervalMs = 20) {
      const r = await sh(
        'docker',
        ['exec', CLIENT, 'node', '/probe/probe.js', ...probeArgs(url, durationMs, intervalMs)],
        durationMs + 30_000,
      );
      if (r.code !== 0) throw new Error(`probe failed: ${r.stderr}`);
      return parseProbe(r.stdout);
    },
    async fault(f: NodeFault, node: string) {
      switch (f) {
        case 'kill-node':
        case 'power-cut':
          await docker('kill', node);
          return;
        case 'revive-node':
          await docker('start', node);
          return;
        case 'stop-speaker':
          await sh('kubectl', [
            '--context',
            `kind-${CLUSTER}`,
            '-n',
            'heraldlb-system',
            'delete',
            'pod',
            '-l',
            'app.kubernetes.io/component=speaker',
            '--field-selector',
            `spec.nodeName=${node}`,
            '--wait=false',
          ]);
          return;
        case 'start-speaker':
          return; // the DaemonSet starts a new one
        case 'node-notready':
          await docker('exec', node, 'systemctl', 'stop', 'kubelet');
          return;
        case 'node-ready':
          await docker('exec', node, 'systemctl', 'start', 'kubelet');
          return;
        case 'partition':
          await docker('network', 'disconnect', 'kind', node);
          return;
        case 'heal':
          await docker('network', 'connect', 'kind', node);
          return;
        case 'link-down':
        case 'link-up':
          await docker('exec', node, 'ip', 'link', 'set', 'eth0', f === 'link-down' ? 'down' : 'up');
          return;
      }
    },
    async heartbeats(node, state) {
      if (state === 'unblock') {
        await nft(node, 'delete table inet hlbe2e');
        return;
      }
      for (const r of HEARTBEAT_BLOCK_RULES) await nft(node, r);
    },
    async apiServer(state) {
      await docker(state === 'stop' ? 'pause' : 'unpause', controlPlane);
    },
  };
}
