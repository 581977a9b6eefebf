#!/usr/bin/env node
/**
 * A driver for one LinkSocket, run inside a network namespace (`ip netns exec NS node
 * dist/bench/link-agent.js IFNAME [--respond IP]`) by the link integration test and the
 * `arp` bench: a Node process cannot enter a namespace itself.
 *
 * stdout, one JSON object a line: {ev:'open', ifindex} | {ev:'error', code, message} |
 *   {ev:'frame', hex, answered} (not with --respond) | {ev:'answers', ok} | {ev:'sent', n, ms} | {ev:'stats', ..., cpuMs} |
 *   {ev:'closed', stats}
 * stdin, one JSON object a line: {op:'send', hex} | {op:'sendBatch', hex:[...]} |
 *   {op:'garp', count, ip, mac} (count request+reply pairs in one sendBatch) |
 *   {op:'load', rate, seconds, ip, mac} (ARP requests for ip, sequence in the sender MAC) |
 *   {op:'answers', mac, ourMacs, ips} (setAnswers: the native fast path's table) |
 *   {op:'deliverAnswered', yes} (whether answered frames still reach JS) |
 *   {op:'stats'} | {op:'close'} | {op:'exit'}
 * With --respond IP --mac MAC it answers every ARP request for IP itself, in process;
 * adding --native hands IP to the addon's fast path instead, its answered frames only
 * counted, not delivered (the speaker's way; --deliver-answered copies them to JS anyway);
 * with --quiet it reports no frames (stats still count them).
 */
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { type LinkSocket, openLink } from '../speaker/link.js';
import { arpFrame, BROADCAST, parseArp, replyTo, seqMac } from './arp-frames.js';

const say = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

function garp(link: LinkSocket, count: number, ip: string, mac: string): void {
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    frames.push(arpFrame(BROADCAST, mac, { op: 1, sha: mac, spa: ip, tha: '00:00:00:00:00:00', tpa: ip }));
    frames.push(arpFrame(BROADCAST, mac, { op: 2, sha: mac, spa: ip, tha: mac, tpa: ip }));
  }
  const startedAtMs = performance.timeOrigin + performance.now(); // wall clock, as pcap's
  const t0 = process.hrtime.bigint();
  let n = 0;
  // Bounded: a full device queue gets at most 100 retries, each after a turn of the loop.
  for (let tries = 0; n < frames.length && tries < 100; tries++) n += link.sendBatch(frames.slice(n));
  say({ ev: 'sent', n, ms: Number(process.hrtime.bigint() - t0) / 1e6, startedAtMs });
}

/** Sends `rate` requests a second for `seconds`, in 1 ms ticks, paced by the monotonic clock. */
async function load(link: LinkSocket, rate: number, seconds: number, ip: string, mac: string): Promise<void> {
  const total = Math.round(rate * seconds);
  const t0 = process.hrtime.bigint();
  let seq = 0;
  let failed = 0;
  while (seq < total) {
    const due = Math.min(total, Math.floor((Number(process.hrtime.bigint() - t0) / 1e9) * rate) + 1);
    const frames: Buffer[] = [];
    for (; seq + frames.length < due; )
      frames.push(
        arpFrame(BROADCAST, mac, {
          op: 1,
          sha: seqMac(seq + frames.length),
          spa: '0.0.0.0',
          tha: '00:00:00:00:00:00',
          tpa: ip,
        }),
      );
    const n = frames.length > 0 ? link.sendBatch(frames) : 0;
    failed += frames.length - n;
    seq += frames.length;
    await new Promise((r) => setTimeout(r, 1));
  }
  say({ ev: 'sent', n: total - failed, failed, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
}

function main(): void {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      respond: { type: 'string' },
      mac: { type: 'string' },
      quiet: { type: 'boolean' },
      native: { type: 'boolean' },
      'deliver-answered': { type: 'boolean' },
    },
  });
  const ifname = positionals[0] ?? '';
  const respond = values.respond;
  const mac = values.mac ?? '';
  let link: LinkSocket;
  try {
    link = openLink(
      ifname,
      (frame, answered) => {
        if (values.quiet) return;
        if (respond === undefined) return say({ ev: 'frame', hex: frame.toString('hex'), answered });
        if (answered) return; // --native: the reader thread replied already
        const arp = parseArp(frame);
        if (arp?.op === 1 && arp.tpa === respond) link.send(replyTo(arp, mac));
      },
      { answeredToJs: !(values.native && respond !== undefined) || values['deliver-answered'] === true },
    );
  } catch (err) {
    const e = err as { code?: string; message?: string };
    say({ ev: 'error', code: e.code, message: e.message });
    process.exitCode = 1;
    return;
  }
  if (values.native && respond !== undefined && !link.setAnswers({ mac, ourMacs: [mac], ips: [respond] })) {
    say({ ev: 'error', code: 'ERR_NO_FAST_PATH', message: 'the addon has no setAnswers' });
    process.exitCode = 1;
    return;
  }
  say({ ev: 'open', ifindex: link.ifindex });
  const lines = createInterface({ input: process.stdin });
  lines.on('line', async (line) => {
    const cmd = JSON.parse(line) as Record<string, unknown> & { op: string };
    try {
      if (cmd.op === 'send') link.send(Buffer.from(String(cmd.hex), 'hex'));
      else if (cmd.op === 'sendBatch')
        say({ ev: 'sent', n: link.sendBatch((cmd.hex as string[]).map((h) => Buffer.from(h, 'hex'))) });
      else if (cmd.op === 'garp') garp(link, Number(cmd.count), String(cmd.ip), String(cmd.mac));
      else if (cmd.op === 'load')
        await load(link, Number(cmd.rate), Number(cmd.seconds), String(cmd.ip), String(cmd.mac));
      else if (cmd.op === 'answers')
        say({
          ev: 'answers',
          ok: link.setAnswers({
            mac: String(cmd.mac),
            ourMacs: cmd.ourMacs as string[],
            ips: cmd.ips as string[],
          }),
        });
      else if (cmd.op === 'deliverAnswered') {
        link.deliverAnswered(cmd.yes === true);
        say({ ev: 'deliverAnswered' });
      } else if (cmd.op === 'stats') {
        const cpu = process.cpuUsage(); // this process: its JS thread, the reader thread, all
        say({ ev: 'stats', ...link.stats(), cpuMs: (cpu.user + cpu.system) / 1000 });
      } else if (cmd.op === 'close') {
        link.close();
        say({ ev: 'closed', stats: link.stats() });
      } else if (cmd.op === 'exit') {
        link.close();
        lines.close();
      }
    } catch (err) {
      const e = err as { code?: string; message?: string };
      say({ ev: 'error', code: e.code, message: e.message });
    }
  });
  lines.on('close', () => link.close());
}

main();
