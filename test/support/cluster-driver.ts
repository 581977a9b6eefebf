// What the speaker scenarios need from a cluster, so the same scenario code runs on the lab
// (every CI run) and on kind (test/e2e/kind, for users with Docker): only the driver differs.
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Attempt } from '../../lab/probe.js';
import { inNs, lab, labDir, labKubeConfig, type Run, sh } from './lab.js';

export type NodeFault =
  | 'kill-node'
  | 'revive-node'
  | 'stop-speaker'
  | 'start-speaker'
  | 'node-notready'
  | 'node-ready'
  | 'partition'
  | 'heal'
  | 'link-down'
  | 'link-up'
  /** kill-node without asking the lab's keeper (which needs the API server): for API outages. */
  | 'power-cut';

export interface ClusterDriver {
  kube(): KubeConfig;
  nodes(): string[];
  /** The MAC a node answers ARP/NDP with on the LAN. */
  macOf(node: string): string;
  /** A command on the client, a host on the LAN that is not a node. */
  client(cmd: string, ...args: string[]): Promise<Run>;
  /** Fresh connections to `url` every `intervalMs` for `durationMs`, from the client. */
  probe(url: string, durationMs: number, intervalMs?: number): Promise<Attempt[]>;
  fault(f: NodeFault, node: string): Promise<void>;
  /** Drops every heartbeat (UDP 7947) to and from a node, which otherwise stays healthy. */
  heartbeats(node: string, state: 'block' | 'unblock'): Promise<void>;
  /** Stops or resumes the API server (SIGSTOP/SIGCONT: connections hang, as when it is unreachable). */
  apiServer(state: 'stop' | 'resume'): Promise<void>;
}

const root = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', '..');

export function labDriver(nodeCount: number): ClusterDriver {
  const names = Array.from({ length: nodeCount }, (_, i) => `node${i + 1}`);
  const octet = (node: string) => 10 + Number(node.slice(4));
  return {
    kube: labKubeConfig,
    nodes: () => names,
    macOf: (node) => `02:68:6c:00:00:${octet(node).toString(16).padStart(2, '0')}`,
    client: (cmd, ...args) => inNs('client', cmd, ...args),
    async probe(url, durationMs, intervalMs = 20) {
      const r = await sh(
        'ip',
        [
          ...['netns', 'exec', 'hlb-client', process.execPath, join(root, 'dist', 'lab', 'probe.js')],
          ...[
            '--url',
            url,
            '--interval-ms',
            String(intervalMs),
            '--timeout-ms',
            '100',
            '--duration-ms',
            String(durationMs),
          ],
        ],
        durationMs + 30_000,
      );
      if (r.code !== 0) throw new Error(`probe failed: ${r.stderr}`);
      return (JSON.parse(r.stdout) as { attempts: Attempt[] }).attempts;
    },
    async fault(f, node) {
      if (f === 'link-down' || f === 'link-up') {
        const r = await sh('ip', [
          '-n',
          'hlb-lan',
          'link',
          'set',
          `v${node}`,
          f === 'link-down' ? 'down' : 'up',
        ]);
        if (r.code !== 0) throw new Error(`${f} ${node}: ${r.stderr}`);
        return;
      }
      if (f === 'power-cut') {
        const pids = (await sh('ip', ['netns', 'pids', `hlb-${node}`])).stdout.split('\n').filter(Boolean);
        for (const pid of pids) {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            // already gone
          }
        }
        await sh('ip', ['-n', 'hlb-lan', 'link', 'set', `v${node}`, 'down']);
        return;
      }
      const r = await lab(f, node);
      if (r.code !== 0) throw new Error(`lab ${f} ${node} failed: ${r.stdout}${r.stderr}`);
    },
    async heartbeats(node, state) {
      const nft = (...args: string[]) => sh('ip', ['netns', 'exec', `hlb-${node}`, 'nft', ...args]);
      if (state === 'unblock') {
        await nft('delete', 'table', 'inet', 'hlbe2e');
        return;
      }
      const rules = [
        'add table inet hlbe2e',
        'add chain inet hlbe2e in { type filter hook input priority 0; }',
        'add chain inet hlbe2e out { type filter hook output priority 0; }',
        'add rule inet hlbe2e in udp dport 7947 drop',
        'add rule inet hlbe2e out udp dport 7947 drop',
      ];
      for (const r of rules) {
        const out = await nft(...r.split(' '));
        if (out.code !== 0) throw new Error(`nft ${r}: ${out.stderr}`);
      }
    },
    async apiServer(state) {
      const { readFileSync } = await import('node:fs');
      const s = JSON.parse(readFileSync(join(labDir(), 'state.json'), 'utf8')) as {
        controlPlane: { pids: { apiserver: number } };
      };
      process.kill(s.controlPlane.pids.apiserver, state === 'stop' ? 'SIGSTOP' : 'SIGCONT');
    },
  };
}
