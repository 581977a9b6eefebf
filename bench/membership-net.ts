// A small network of namespaces for the membership test and benchmark: one bridge namespace
// and N node namespaces, each with one veth on the bridge and a 198.51.100.0/24 address (and
// 2001:db8:4d::/64). Everything is created inside namespaces named with the caller's prefix;
// the host's own interfaces, routes and addresses are never touched.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface NetNode {
  name: string;
  netns: string;
  ipv4: string;
  ipv6: string;
}

export interface Net {
  bridgeNetns: string;
  nodes: NetNode[];
  /** Takes a node's only link down (or up): a dead NIC, with the process still running. */
  setLink(node: NetNode, up: boolean): Promise<void>;
  destroy(): Promise<void>;
}

async function ip(args: string[]): Promise<string> {
  try {
    return (await run('ip', args, { timeout: 10_000 })).stdout;
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? '').trim();
    throw new Error(`ip ${args.join(' ')}: ${stderr || (err as Error).message}`, { cause: err });
  }
}

/** Removes namespaces left by an earlier run with this prefix (a crash, a restarted machine). */
export async function removeStale(prefix: string): Promise<void> {
  if (!prefix.startsWith('hm-')) throw new Error(`refusing prefix ${prefix}: membership namespaces are hm-*`);
  const out = await ip(['netns', 'list']);
  for (const line of out.split('\n')) {
    const name = line.trim().split(/\s+/)[0] ?? '';
    if (name.startsWith(prefix)) await deleteNetns(name);
  }
}

async function deleteNetns(netns: string): Promise<void> {
  const pids = (await ip(['netns', 'pids', netns]).catch(() => '')).split('\n').map(Number);
  for (const pid of pids) if (pid > 0) tryKill(pid);
  await ip(['netns', 'del', netns]).catch(() => undefined);
}

/** Builds the bridge and `count` nodes (`${prefix}n1`…); names are node1… */
export async function createNet(prefix: string, count: number): Promise<Net> {
  await removeStale(prefix);
  const bridgeNetns = `${prefix}br`;
  const nodes: NetNode[] = Array.from({ length: count }, (_, i) => ({
    name: `node${i + 1}`,
    netns: `${prefix}n${i + 1}`,
    ipv4: `198.51.100.${11 + i}`,
    ipv6: `2001:db8:4d::${11 + i}`,
  }));
  const net: Net = {
    bridgeNetns,
    nodes,
    setLink: async (n, up) => {
      await ip(['-n', n.netns, 'link', 'set', 'dev', 'eth0', up ? 'up' : 'down']);
    },
    destroy: async () => {
      for (const n of nodes) await deleteNetns(n.netns);
      await deleteNetns(bridgeNetns);
    },
  };
  try {
    await ip(['netns', 'add', bridgeNetns]);
    await ip(['-n', bridgeNetns, 'link', 'add', 'br0', 'type', 'bridge']);
    await ip(['-n', bridgeNetns, 'link', 'set', 'br0', 'up']);
    for (const [i, n] of nodes.entries()) {
      await ip(['netns', 'add', n.netns]);
      const port = `v${i + 1}`;
      await ip([
        '-n',
        bridgeNetns,
        'link',
        'add',
        port,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        n.netns,
      ]);
      await ip(['-n', bridgeNetns, 'link', 'set', port, 'master', 'br0', 'up']);
      // No DAD: the IPv6 address is usable at once, as on a node that has been up for a while.
      await run('ip', ['netns', 'exec', n.netns, 'sysctl', '-qw', 'net.ipv6.conf.eth0.accept_dad=0']);
      await ip(['-n', n.netns, 'addr', 'add', `${n.ipv4}/24`, 'dev', 'eth0']);
      await ip(['-n', n.netns, 'addr', 'add', `${n.ipv6}/64`, 'dev', 'eth0', 'nodad']);
      await ip(['-n', n.netns, 'link', 'set', 'lo', 'up']);
      await ip(['-n', n.netns, 'link', 'set', 'eth0', 'up']);
    }
  } catch (err) {
    await net.destroy();
    throw err;
  }
  return net;
}

export function tryKill(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** One line of JSON a membership peer process printed, with when it reached us. */
export interface PeerEvent {
  ev: string;
  [k: string]: unknown;
}

/** A child process in a namespace that speaks JSON lines on stdout and takes them on stdin. */
export class LineProc {
  readonly child: ChildProcess;
  readonly events: PeerEvent[] = [];
  private waiters: { pred: (e: PeerEvent) => boolean; resolve: (e: PeerEvent) => void }[] = [];
  readonly exited: Promise<number | null>;

  constructor(netns: string, argv: string[], stderr: 'inherit' | 'ignore' = 'inherit') {
    this.child = spawn('ip', ['netns', 'exec', netns, ...argv], { stdio: ['pipe', 'pipe', stderr] });
    this.exited = new Promise((r) => this.child.once('exit', (code) => r(code)));
    const rl = createInterface({ input: this.child.stdout as NodeJS.ReadableStream });
    rl.on('line', (line) => {
      let e: PeerEvent;
      try {
        e = JSON.parse(line) as PeerEvent;
      } catch {
        return;
      }
      this.events.push(e);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(e)) return true;
        w.resolve(e);
        return false;
      });
    });
  }

  send(obj: unknown): void {
    this.child.stdin?.write(`${JSON.stringify(obj)}\n`);
  }

  /** The first event (already seen from index `from`, or future) matching, or a timeout error. */
  wait(pred: (e: PeerEvent) => boolean, timeoutMs: number, from = 0, what = 'event'): Promise<PeerEvent> {
    const seen = this.events.slice(from).find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const done = (e: PeerEvent) => {
        clearTimeout(t);
        resolve(e);
      };
      this.waiters.push({ pred, resolve: done });
    });
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.child.pid !== undefined) tryKill(this.child.pid, signal);
  }
}
