// What the speaker scenarios need from a cluster, so the same scenario code runs on the lab
// (every CI run, and the speaker benchmark) and on kind (test/e2e/kind, for users with Docker):
// only the driver differs. Here, not in test/, so bench/ can use it too.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { type Attempt, parseProbe, probeArgs } from './probe.js';

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

/** nft commands that drop every speaker heartbeat (UDP 7947) to and from a node; undone by
 * `delete table inet hlbe2e`. */
export const HEARTBEAT_BLOCK_RULES: readonly string[] = [
  'add table inet hlbe2e',
  'add chain inet hlbe2e in { type filter hook input priority 0; }',
  'add chain inet hlbe2e out { type filter hook output priority 0; }',
  'add rule inet hlbe2e in udp dport 7947 drop',
  'add rule inet hlbe2e out udp dport 7947 drop',
];

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

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
  /**
   * What serves a scenario Service: undefined in the lab (every node answers port 80 itself,
   * selector-less Services); on kind, a DaemonSet selected with externalTrafficPolicy Local so
   * the announcing node is the one that answers.
   */
  backend?: { selector: Record<string, string>; local: true };
  /** Stops or resumes the API server (SIGSTOP/SIGCONT: connections hang, as when it is unreachable). */
  apiServer(state: 'stop' | 'resume'): Promise<void>;
}

/** Runs a command and never rejects: the exit code is part of the answer. */
export function sh(cmd: string, args: string[], timeoutMs = 60_000): Promise<Run> {
  return new Promise((res) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err
        ? typeof (err as { code?: unknown }).code === 'number'
          ? (err as { code: number }).code
          : 1
        : 0;
      res({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

// Compiled, this file is dist/lab/cluster-driver.js; under vitest it is lab/cluster-driver.ts.
const here = dirname(fileURLToPath(import.meta.url));
const distLab = here.endsWith(join('dist', 'lab')) ? here : join(here, '..', 'dist', 'lab');

/** `heraldlb-lab --dir <dir> ...args` (the built CLI). */
export function labCli(dir: string, ...args: string[]): Promise<Run> {
  return sh(process.execPath, [join(distLab, 'cli.js'), '--dir', dir, ...args], 240_000);
}

/** The lab in `dir()` (read at each call: a test learns its dir only once it runs). */
export function labDriverAt(dir: () => string, nodeCount: number): ClusterDriver {
  const names = Array.from({ length: nodeCount }, (_, i) => `node${i + 1}`);
  const octet = (node: string) => 10 + Number(node.slice(4));
  return {
    kube() {
      const kc = new KubeConfig();
      kc.loadFromFile(join(dir(), 'kubeconfig'));
      return kc;
    },
    nodes: () => names,
    macOf: (node) => `02:68:6c:00:00:${octet(node).toString(16).padStart(2, '0')}`,
    client: (cmd, ...args) => sh('ip', ['netns', 'exec', 'hlb-client', cmd, ...args]),
    async probe(url, durationMs, intervalMs = 20) {
      const r = await sh(
        'ip',
        [
          ...['netns', 'exec', 'hlb-client', process.execPath, join(distLab, 'probe.js')],
          ...probeArgs(url, durationMs, intervalMs),
        ],
        durationMs + 30_000,
      );
      if (r.code !== 0) throw new Error(`probe failed: ${r.stderr}`);
      return parseProbe(r.stdout);
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
      const r = await labCli(dir(), f, node);
      if (r.code !== 0) throw new Error(`lab ${f} ${node} failed: ${r.stdout}${r.stderr}`);
    },
    async heartbeats(node, state) {
      const nft = (...args: string[]) => sh('ip', ['netns', 'exec', `hlb-${node}`, 'nft', ...args]);
      if (state === 'unblock') {
        await nft('delete', 'table', 'inet', 'hlbe2e');
        return;
      }
      for (const r of HEARTBEAT_BLOCK_RULES) {
        const out = await nft(...r.split(' '));
        if (out.code !== 0) throw new Error(`nft ${r}: ${out.stderr}`);
      }
    },
    async apiServer(state) {
      const s = JSON.parse(readFileSync(join(dir(), 'state.json'), 'utf8')) as {
        controlPlane: { pids: { apiserver: number } };
      };
      process.kill(s.controlPlane.pids.apiserver, state === 'stop' ? 'SIGSTOP' : 'SIGCONT');
    },
  };
}
