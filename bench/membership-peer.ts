// One speaker's membership as a process, for the netns test and benchmark: runs a Membership,
// prints JSON lines (ready, change, stats, stopped) on stdout, takes JSON lines on stdin
// ({cmd:'peers', peers}, {cmd:'stats'}, {cmd:'stall', everyMs, ms}, {cmd:'stop'}).
//
//   node dist/bench/membership-peer.js NODE KEYFILE PORT BIND [node=addr,...]
//
// Times are wall-clock ms (Date.now scale) so a parent can compare them with its own: `at`
// is the worker's decision converted from the monotonic clock, `seenAt` when the main
// thread got it (later by any main-thread stall).
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { Membership, type PeerAddress } from '../speaker/membership/membership.js';

function out(obj: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

function parsePeers(arg: string | undefined): PeerAddress[] {
  if (!arg) return [];
  return arg.split(',').map((p) => {
    const [node, address] = p.split('=');
    return { node: node as string, address: address as string };
  });
}

async function main(argv: string[]): Promise<void> {
  const [node, keyFile, port, bind, peers] = argv;
  if (!node || !keyFile || !port) throw new Error('usage: membership-peer NODE KEYFILE PORT [BIND] [peers]');
  const log = pino({ level: process.env.HM_LOG ?? 'warn' }, pino.destination(2));
  const m = new Membership({ node, keyFile, port: Number(port), bindAddress: bind || undefined, log });
  const toWall = (mono: number) => Date.now() - (performance.timeOrigin + performance.now() - mono);
  m.onChange((alive, changes) => {
    const seenAt = Date.now();
    out({
      ev: 'change',
      seenAt,
      alive: [...alive],
      changes: changes.map((c) => ({ ...c, at: toWall(c.at) })),
    });
  });
  let stall: ReturnType<typeof setInterval> | undefined;
  try {
    await m.start();
  } catch (err) {
    out({ ev: 'error', code: (err as { code?: string }).code, message: (err as Error).message });
    process.exitCode = 1;
    return;
  }
  m.setPeers(parsePeers(peers));
  out({ ev: 'ready', pid: process.pid, node: process.version });
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const c = JSON.parse(line) as { cmd: string; peers?: PeerAddress[]; everyMs?: number; ms?: number };
    if (c.cmd === 'peers') m.setPeers(c.peers ?? []);
    else if (c.cmd === 'stats') out({ ev: 'stats', ...m.stats() });
    else if (c.cmd === 'stall') {
      if (stall) clearInterval(stall);
      const ms = c.ms ?? 300;
      // A busy main thread, as a GC pause or a burst of API events would make it.
      stall = setInterval(() => {
        const end = performance.now() + ms;
        while (performance.now() < end) {
          // spin
        }
      }, c.everyMs ?? 1000);
    } else if (c.cmd === 'stop') {
      if (stall) clearInterval(stall);
      const t = performance.now();
      void m.stop().then(() => {
        out({ ev: 'stopped', tookMs: performance.now() - t, ...m.stats() });
        rl.close();
      });
    }
  });
}

await main(process.argv.slice(2));
