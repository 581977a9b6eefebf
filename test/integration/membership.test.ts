/**
 * Speaker liveness over real sockets between network namespaces: three membership processes
 * (dist/bench/membership-peer.js) on a bridge, each heartbeating every other over IPv4 and
 * IPv6, plus a fourth host that records heartbeats and attacks with them. Checks the promises
 * of docs/membership.md: one silent path (an nft drop) kills no one while another peer hears
 * the node; a dead link or a SIGKILLed process is dead within 1 s, a graceful stop within
 * 100 ms; forged, tampered or replayed packets are counted and change nothing. Needs root and
 * nft; HERALDLB_MEMBERSHIP_NODE runs the peers on another Node binary (Node 24).
 */
import { execFile, execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNet, LineProc, type Net, type NetNode, type PeerEvent } from '../../bench/membership-net.js';
import { missing, refuseOrWarn } from '../support/prerequisites.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const PEER_JS = join(root, 'dist/bench/membership-peer.js');
const ATTACKER_JS = join(root, 'dist/bench/membership-attacker.js');
const PORT = 7947;
// The peers' Node binary: this one, or e.g. Node 24 (HERALDLB_MEMBERSHIP_NODE=~/.cache/heraldlb/node-24/bin/node).
const PEER_NODE = process.env.HERALDLB_MEMBERSHIP_NODE || process.execPath;
const PREFIX = 'hm-t-';

const canRun = refuseOrWarn('membership (netns)', missing({ root: true, netns: true, commands: ['nft'] }));

type Change = { node: string; state: string; at: number };
interface Stats {
  received: number;
  authFailures: number;
  replays: number;
  malformed: number;
  peersAlive: number;
  counters: Record<string, number>;
}
const changesOf = (e: PeerEvent) => (e.changes ?? []) as Change[];

describe.skipIf(!canRun)('membership between namespaces', () => {
  let net: Net;
  let dir: string;
  let keyFile: string;
  const procs = new Map<string, LineProc>(); // node name -> its running membership process

  const node = (i: number) => net.nodes[i - 1] as NetNode;
  const peersOf = (n: NetNode, extra: NetNode[] = []) =>
    [...net.nodes.slice(0, 3), ...extra]
      .filter((p) => p !== n)
      .flatMap((p) => [`${p.name}=${p.ipv4}`, `${p.name}=${p.ipv6}`])
      .join(',');

  async function start(n: NetNode, extra: NetNode[] = []): Promise<LineProc> {
    const p = new LineProc(n.netns, [
      PEER_NODE,
      PEER_JS,
      n.name,
      keyFile,
      String(PORT),
      '',
      peersOf(n, extra),
    ]);
    procs.set(n.name, p);
    const e = await p.wait((x) => x.ev === 'ready' || x.ev === 'error', 15_000, 0, `${n.name} ready`);
    expect(e.ev, JSON.stringify(e)).toBe('ready');
    if (process.env.HERALDLB_MEMBERSHIP_NODE)
      expect(e.node).toBe(execFileSync(PEER_NODE, ['--version']).toString().trim());
    return p;
  }

  const sees = (p: LineProc, names: string[], from = 0, timeoutMs = 5000) =>
    p.wait(
      (e) => e.ev === 'change' && names.every((x) => (e.alive as string[]).includes(x)),
      timeoutMs,
      from,
      `alive ⊇ ${names}`,
    );

  const change = async (p: LineProc, name: string, state: string, from: number, timeoutMs = 5000) => {
    const e = await p.wait(
      (x) => x.ev === 'change' && changesOf(x).some((c) => c.node === name && c.state === state),
      timeoutMs,
      from,
      `${name} ${state}`,
    );
    return changesOf(e).find((c) => c.node === name && c.state === state) as Change;
  };

  /** Counters reach the main thread once a second: wait for a set newer than what came before. */
  async function stats(p: LineProc): Promise<Stats> {
    await new Promise((r) => setTimeout(r, 1100));
    const from = p.events.length;
    p.send({ cmd: 'stats' });
    return (await p.wait((e) => e.ev === 'stats', 5000, from, 'stats')) as never;
  }

  beforeAll(async () => {
    if (
      !existsSync(PEER_JS) ||
      statSync(PEER_JS).mtimeMs < statSync(join(root, 'bench/membership-peer.ts')).mtimeMs
    ) {
      await run('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, timeout: 300_000 }).catch(
        () => undefined,
      );
    }
    dir = mkdtempSync(join(tmpdir(), 'hm-membership-'));
    keyFile = join(dir, 'keys');
    writeFileSync(
      keyFile,
      `k1:${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64')}\n`,
    );
    net = await createNet(PREFIX, 4);
    for (const i of [1, 2, 3]) await start(node(i), i === 2 ? [node(4)] : []);
    for (const i of [1, 2, 3]) {
      await sees(procs.get(node(i).name) as LineProc, ['node1', 'node2', 'node3']);
    }
  }, 120_000);

  afterAll(async () => {
    for (const p of procs.values()) p.kill();
    await net?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('sends over both families without replays or auth failures in normal operation', async () => {
    const s = await stats(procs.get('node1') as LineProc);
    expect(s.received).toBeGreaterThan(0);
    expect(s.authFailures + s.malformed + s.replays).toBe(0);
    expect(s.counters.duplicates).toBeGreaterThan(0); // the IPv6 copy of each IPv4 heartbeat
    expect(s.peersAlive).toBe(2);
  });

  it('one silent path: node1 cannot hear node3, but node2 can, so node3 stays alive for node1', async () => {
    const p1 = procs.get('node1') as LineProc;
    const rules = join(dir, 'drop-node3.nft');
    writeFileSync(
      rules,
      [
        'table inet hm {',
        '  chain in {',
        '    type filter hook input priority 0;',
        `    ip saddr ${node(3).ipv4} udp dport ${PORT} counter drop`,
        `    ip6 saddr ${node(3).ipv6} udp dport ${PORT} counter drop`,
        '  }',
        '}',
      ].join('\n'),
    );
    const from = p1.events.length;
    await run('ip', ['netns', 'exec', node(1).netns, 'nft', '-f', rules]);
    try {
      await new Promise((r) => setTimeout(r, 1500));
      const s = await stats(p1);
      expect(p1.events.slice(from).flatMap(changesOf)).toEqual([]);
      expect(s.peersAlive).toBe(2);
      // The path really was silent: the rules dropped node3's heartbeats (~10/s per family).
      const listed = (await run('ip', ['netns', 'exec', node(1).netns, 'nft', 'list', 'table', 'inet', 'hm']))
        .stdout;
      const dropped = [...listed.matchAll(/packets (\d+)/g)].map((m) => Number(m[1]));
      expect(dropped.length === 2 && dropped.every((n) => n >= 10), listed).toBe(true);
    } finally {
      await run('ip', ['netns', 'exec', node(1).netns, 'nft', 'delete', 'table', 'inet', 'hm']);
    }
  });

  it('a dead link: its peers call it dead within 1 s, alive again once it is back', async () => {
    const [p1, p2] = [procs.get('node1') as LineProc, procs.get('node2') as LineProc];
    const from1 = p1.events.length;
    const from2 = p2.events.length;
    const t = Date.now();
    await net.setLink(node(3), false);
    const [d1, d2] = [await change(p1, 'node3', 'dead', from1), await change(p2, 'node3', 'dead', from2)];
    expect(d1.at - t).toBeLessThanOrEqual(1000);
    expect(d2.at - t).toBeLessThanOrEqual(1000);
    expect(d1.at - t).toBeGreaterThanOrEqual(300);
    const back = p1.events.length;
    await net.setLink(node(3), true);
    const a = await change(p1, 'node3', 'alive', back);
    expect(a.state).toBe('alive'); // same process, same incarnation: not a restart
  });

  it('SIGKILL: dead within 1 s; the new process is reported restarted', async () => {
    const p1 = procs.get('node1') as LineProc;
    const from = p1.events.length;
    const t = Date.now();
    procs.get('node3')?.kill();
    const d = await change(p1, 'node3', 'dead', from);
    expect(d.at - t).toBeLessThanOrEqual(1000);
    const back = p1.events.length;
    await start(node(3));
    await change(p1, 'node3', 'restarted', back);
  });

  it('graceful stop: peers drop it within 100 ms', async () => {
    const p1 = procs.get('node1') as LineProc;
    const p3 = procs.get('node3') as LineProc;
    await sees(p3, ['node1', 'node2']);
    const from = p1.events.length;
    const t = Date.now();
    p3.send({ cmd: 'stop' });
    const left = await change(p1, 'node3', 'left', from);
    expect(left.at - t).toBeLessThanOrEqual(100);
    await p3.exited;
    // Silence after leaving is not a second event.
    await new Promise((r) => setTimeout(r, 700));
    expect(
      p1.events
        .slice(from)
        .flatMap(changesOf)
        .filter((c) => c.node === 'node3'),
    ).toHaveLength(1);
  });

  it('forged, tampered and replayed packets are counted and change nothing, even for a dead node', async () => {
    const p1 = procs.get('node1') as LineProc;
    // node4 is an attacker that node2 heartbeats to (it is in node2's peer list).
    const attacker = new LineProc(node(4).netns, [
      PEER_NODE,
      ATTACKER_JS,
      node(4).ipv4,
      String(PORT),
      node(1).ipv4,
      '5000',
    ]);
    await attacker.wait((e) => e.ev === 'listening', 10_000);
    await new Promise((r) => setTimeout(r, 1000)); // record ~10 heartbeats of node2
    let from = p1.events.length;
    procs.get('node2')?.kill();
    await change(p1, 'node2', 'dead', from);
    const before = await stats(p1);
    from = p1.events.length;
    attacker.send('go');
    const sent = (await attacker.wait((e) => e.ev === 'sent', 10_000)) as Record<string, number>;
    const after = await stats(p1);
    const d = (k: string) => (after.counters[k] ?? 0) - (before.counters[k] ?? 0);
    expect(sent.recorded).toBeGreaterThanOrEqual(5);
    expect(d('accepted')).toBe(0); // node2 killed, node3 stopped: nothing honest is left to hear
    expect(d('replays') + d('duplicates')).toBe(sent.replays);
    expect(d('authFailures') + d('malformed')).toBe(
      (sent.tampered as number) +
        (sent.garbage as number) +
        (sent.wrongKey as number) +
        (sent.unknownKeyId as number),
    );
    expect(d('authFailures')).toBeGreaterThanOrEqual(
      (sent.wrongKey as number) + (sent.unknownKeyId as number),
    );
    expect(p1.events.slice(from).filter((e) => e.ev === 'change')).toEqual([]);
    const last = [...p1.events].reverse().find((e) => e.ev === 'change') as PeerEvent;
    expect(last.alive).toEqual(['node1']);
  });
});

// start() against the built worker (dist), on loopback: its failures must say what is wrong.
describe('Membership.start errors', () => {
  const load = async () =>
    (await import(
      join(root, 'dist/speaker/membership/membership.js')
    )) as typeof import('../../speaker/membership/membership.js');
  const log = pino({ enabled: false });

  it('rejects a bad key file, naming the file and line but not the key', async () => {
    const { Membership } = await load();
    const dir = mkdtempSync(join(tmpdir(), 'hm-keys-'));
    const keyFile = join(dir, 'keys');
    const short = Buffer.alloc(16, 5).toString('base64');
    writeFileSync(keyFile, `# comment\nk1:${short}\n`);
    const m = new Membership({ node: 'n1', keyFile, port: 7949, bindAddress: '127.0.0.1', log });
    const err = await m.start().catch((e: unknown) => e as Error & { code: string });
    rmSync(dir, { recursive: true, force: true });
    expect(err).toMatchObject({ code: 'MEMBERSHIP_KEYS' });
    expect((err as Error).message).toContain(`${keyFile} line 2`);
    expect((err as Error).message).not.toContain(short);
  });

  it('rejects a port in use', async () => {
    const { Membership } = await load();
    const dir = mkdtempSync(join(tmpdir(), 'hm-keys-'));
    const keyFile = join(dir, 'keys');
    writeFileSync(keyFile, `k1:${Buffer.alloc(32, 5).toString('base64')}\n`);
    const taken = createSocket('udp4');
    await new Promise<void>((r) => taken.bind(7949, '127.0.0.1', () => r()));
    try {
      const m = new Membership({ node: 'n1', keyFile, port: 7949, bindAddress: '127.0.0.1', log });
      await expect(m.start()).rejects.toMatchObject({
        code: 'MEMBERSHIP_BIND',
        message: expect.stringMatching(/127\.0\.0\.1 port 7949: EADDRINUSE/),
      });
      await m.stop();
    } finally {
      taken.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
