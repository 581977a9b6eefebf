/**
 * The AF_PACKET link socket on a real veth pair between two namespaces of our own:
 * ARP requests from `arping` arrive, a reply crafted here makes `arping` report our MAC,
 * our own frames are never delivered back, close() stops delivery, a missing interface
 * throws ENODEV, an unprivileged process gets EPERM; the native fast path (setAnswers)
 * replies from the reader thread with frame.ts's bytes and stops when the table empties.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentEvent, LinkAgent } from '../../bench/link-driver.js';
import { createVethPair, deleteVethPair, type VethPair } from '../../bench/veth-pair.js';
import { arpReply, parseFrame } from '../../speaker/frame.js';
import { addonCandidates, openLink, packageRoot } from '../../speaker/link.js';
import { missing, refuseOrWarn } from '../support/prerequisites.js';

const run = promisify(execFile);
const PREFIX = 'hn-lt';
const VIP = '192.0.2.10'; // assigned nowhere: only our crafted reply answers for it

const addonBuilt = addonCandidates(packageRoot()).some((p) => existsSync(p));
const problems = missing({ root: true, netns: true, commands: ['arping', 'setpriv', 'ndisc6'] });
if (!addonBuilt) problems.push('the AF_PACKET addon is not built (`npm run build:native`)');
const ready = refuseOrWarn('link integration', problems);
// The image runs Node 24: the same .node file must load and answer there (lab/bin/node24.sh).
const cached = join(process.env.HOME ?? '/root', '.cache', 'heraldlb', 'node-24', 'bin', 'node');
const node24 = process.env.HERALDLB_NODE24 || (existsSync(cached) ? cached : '');
const ready24 =
  ready && refuseOrWarn('link on node24', node24 ? [] : ['no Node 24 binary: run lab/bin/node24.sh']);
// The committed arm64 prebuild, on Node 24 for arm64 under qemu-user (lab/bin/node24-arm64.sh):
// the file a Raspberry Pi loads, loaded and answering here.
const nodeArm64 = process.env.HERALDLB_NODE24_ARM64 ?? '';
const readyArm64 =
  ready &&
  refuseOrWarn(
    'link on arm64',
    nodeArm64 ? [] : ['no arm64 Node: HERALDLB_NODE24_ARM64=$(bash lab/bin/node24-arm64.sh)'],
  );

/** A frame (hex) -> its bytes, ARP fields by offset (Ethernet + ARP, RFC 826). */
const frameOf = (e: AgentEvent): Buffer => Buffer.from(String(e.hex), 'hex');
const isArpRequestFor = (f: Buffer, ip: string): boolean =>
  f.readUInt16BE(12) === 0x0806 && f.readUInt16BE(20) === 1 && [...f.subarray(38, 42)].join('.') === ip;
const macBytes = (mac: string): Buffer => Buffer.from(mac.replaceAll(':', ''), 'hex');

/** The ARP reply `mac` sends for `request` (swap sender and target, op 2). */
function craftReply(request: Buffer, mac: string): Buffer {
  const reply = Buffer.alloc(42);
  request.copy(reply, 0, 6, 12); // destination: whoever asked
  macBytes(mac).copy(reply, 6); // source: us
  request.copy(reply, 12, 12, 20); // ethertype, htype, ptype, hlen, plen
  reply.writeUInt16BE(2, 20); // op: reply
  macBytes(mac).copy(reply, 22); // sender hardware: us
  request.copy(reply, 28, 38, 42); // sender protocol: the address asked for
  request.copy(reply, 32, 22, 32); // target: the asker's hardware + protocol address
  return reply;
}

async function arping(ns: string, target: string, count: number): Promise<string> {
  const { stdout } = await run(
    'ip',
    ['netns', 'exec', ns, 'arping', '-c', String(count), '-w', String(count + 2), '-I', 'veth0', target],
    { timeout: 15_000 },
  ).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' })); // exit 1 = no reply
  return stdout;
}

describe.runIf(ready)('AF_PACKET link socket', () => {
  let pair: VethPair;
  let agent: LinkAgent;
  let peer: LinkAgent;

  beforeAll(async () => {
    pair = createVethPair(PREFIX);
    agent = new LinkAgent(pair.a, ['veth0']);
    peer = new LinkAgent(pair.b, ['veth0']);
    await agent.waitFor((e) => e.ev === 'open');
    await peer.waitFor((e) => e.ev === 'open');
  });

  afterAll(async () => {
    await agent?.stop();
    await peer?.stop();
    deleteVethPair(PREFIX);
  });

  /** Answers every ARP request for VIP that `on` delivers with a reply crafted here. */
  function answer(on: LinkAgent): () => void {
    const from = on.events.length;
    const answered = new Set<number>();
    const timer = setInterval(() => {
      on.events.forEach((e, i) => {
        if (i < from || e.ev !== 'frame' || answered.has(i)) return;
        answered.add(i);
        const f = frameOf(e);
        if (isArpRequestFor(f, VIP))
          on.command({ op: 'send', hex: craftReply(f, pair.macA).toString('hex') });
      });
    }, 5);
    return () => clearInterval(timer);
  }

  it.runIf(ready24)('the same addon answers on Node 24', async () => {
    const on24 = new LinkAgent(pair.a, ['veth0'], node24);
    try {
      await on24.waitFor((e) => e.ev === 'open');
      const stop = answer(on24);
      const out = await arping(pair.b, VIP, 1).finally(stop);
      expect(out).toMatch(new RegExp(`reply from ${VIP.replaceAll('.', '\\.')} \\[${pair.macA}\\]`, 'i'));
    } finally {
      await on24.stop();
    }
  });

  it.runIf(readyArm64)(
    'the arm64 prebuild answers from its reader thread on Node 24 arm64 (qemu-user)',
    async () => {
      const onArm = new LinkAgent(
        pair.a,
        ['veth0', '--respond', VIP, '--mac', pair.macA, '--native'],
        nodeArm64,
      );
      try {
        await onArm.waitFor((e) => e.ev === 'open', 60_000); // an emulated Node starts in ~1 s, more when busy
        const out = await arping(pair.b, VIP, 3);
        expect(out).toMatch(new RegExp(`reply from ${VIP.replaceAll('.', '\\.')} \\[${pair.macA}\\]`, 'i'));
        onArm.command({ op: 'stats' });
        const st = await onArm.waitFor((e) => e.ev === 'stats', 20_000);
        expect(st.answered).toBeGreaterThanOrEqual(3); // the native fast path, not JS, replied
        expect(st.sent).toBe(0);
      } finally {
        await onArm.stop();
      }
    },
  );

  it('delivers arping requests, and a reply crafted here makes arping see our MAC', async () => {
    const from = agent.events.length;
    const stop = answer(agent);
    const out = await arping(pair.b, VIP, 3).finally(stop);
    expect(out).toMatch(new RegExp(`reply from ${VIP.replaceAll('.', '\\.')} \\[${pair.macA}\\]`, 'i'));
    expect(out).toMatch(/Received [1-9]\d* response/);
    const requests = agent.events
      .slice(from)
      .filter((e) => e.ev === 'frame' && isArpRequestFor(frameOf(e), VIP));
    expect(requests.length).toBeGreaterThanOrEqual(3);
    expect(
      frameOf(requests[0] as AgentEvent)
        .subarray(6, 12)
        .toString('hex'),
    ).toBe(pair.macB.replaceAll(':', ''));
  });

  it('never delivers its own outgoing frames; the peer sees them; batches count', async () => {
    const marker = '192.0.2.99';
    const req = Buffer.from(
      `ffffffffffff${pair.macA.replaceAll(':', '')}08060001080006040001${pair.macA.replaceAll(':', '')}c0000201000000000000c0000263`,
      'hex',
    );
    expect(isArpRequestFor(req, marker)).toBe(true);
    const [fromA, fromB] = [agent.events.length, peer.events.length];
    agent.command({ op: 'sendBatch', hex: [req.toString('hex'), req.toString('hex'), req.toString('hex')] });
    expect((await agent.waitFor((e) => e.ev === 'sent', 5000, fromA)).n).toBe(3);
    await peer.waitFor((e) => e.ev === 'frame' && e.hex === req.toString('hex'), 5000, fromB);
    await new Promise((r) => setTimeout(r, 300));
    expect(peer.events.slice(fromB).filter((e) => e.hex === req.toString('hex'))).toHaveLength(3);
    expect(
      agent.events.slice(fromA).filter((e) => e.ev === 'frame' && isArpRequestFor(frameOf(e), marker)),
    ).toEqual([]);
    const at = agent.events.length;
    agent.command({ op: 'stats' });
    const stats = await agent.waitFor((e) => e.ev === 'stats', 5000, at);
    expect(stats.dropped).toBe(0);
    expect(stats.sent).toBeGreaterThanOrEqual(4); // 3 here, and the replies of the test before
  });

  it('delivers Neighbour Solicitations; SolicitedNodeGroups joins the group in the kernel', async () => {
    const target = '2001:db8:6e::10'; // assigned nowhere
    // The membership is held by a child in the namespace: `ip -6 maddr` shows it while it lives.
    const script = `import { SolicitedNodeGroups } from '${packageRoot()}/dist/speaker/multicast.js';
      const g = new SolicitedNodeGroups('veth0'); g.join('${target}'); g.join('2001:db8:6e:1::10');
      process.stdout.write('joined\\n'); process.stdin.on('data', () => {}).on('end', () => g.close());`;
    const member = spawn('ip', [
      'netns',
      'exec',
      pair.a,
      process.execPath,
      '--input-type=module',
      '-e',
      script,
    ]);
    try {
      await new Promise<void>((resolve, reject) => {
        member.stdout.once('data', () => resolve());
        member.once('exit', (c) => reject(new Error(`member exited ${c}`)));
      });
      const { stdout: maddr } = await run('ip', ['-n', pair.a, '-6', 'maddr', 'show', 'dev', 'veth0']);
      expect(maddr.match(/ff02::1:ff00:10\b/g)).toHaveLength(1); // two addresses, one group
      const from = agent.events.length;
      await run('ip', ['netns', 'exec', pair.b, 'ndisc6', '-1', '-r', '1', '-w', '300', target, 'veth0'], {
        timeout: 10_000,
      }).catch(() => undefined); // no NA comes back: nobody owns the address
      const ns = await agent.waitFor(
        (e) => {
          const f = e.ev === 'frame' ? frameOf(e) : undefined;
          return f !== undefined && f.readUInt16BE(12) === 0x86dd && f[20] === 58 && f[54] === 135;
        },
        5000,
        from,
      );
      const f = frameOf(ns);
      expect(f.subarray(0, 6).toString('hex')).toBe('3333ff000010'); // to the solicited-node group
      expect(f.subarray(62, 78)).toEqual(Buffer.from('20010db8006e00000000000000000010', 'hex')); // NS target
    } finally {
      member.stdin.end();
      await new Promise((r) => member.once('exit', r));
    }
    const { stdout: after } = await run('ip', ['-n', pair.a, '-6', 'maddr', 'show', 'dev', 'veth0']);
    expect(after).not.toMatch(/ff02::1:ff00:10\b/);
  });

  it('fast path: setAnswers makes the reader thread reply with the bytes frame.ts builds; [] stops it', async () => {
    const fastVip = '192.0.2.77'; // assigned nowhere, answered by nobody in JS
    let at = agent.events.length;
    agent.command({ op: 'answers', mac: pair.macA, ourMacs: [pair.macA], ips: [fastVip] });
    expect((await agent.waitFor((e) => e.ev === 'answers', 5000, at)).ok).toBe(true);
    const fromPeer = peer.events.length;
    const out = await arping(pair.b, fastVip, 2);
    expect(out).toMatch(new RegExp(`reply from ${fastVip.replaceAll('.', '\\.')} \\[${pair.macA}\\]`, 'i'));
    const request = await agent.waitFor(
      (e) => e.ev === 'frame' && isArpRequestFor(frameOf(e), fastVip),
      5000,
      at,
    );
    expect(request.answered).toBe(true); // JS is told, so it sends no second reply
    const reply = await peer.waitFor(
      (e) => e.ev === 'frame' && frameOf(e).readUInt16BE(20) === 2,
      5000,
      fromPeer,
    );
    const req = parseFrame(frameOf(request));
    expect(req.ok && req.msg.kind === 'arp-request').toBe(true);
    if (req.ok && req.msg.kind === 'arp-request')
      expect(frameOf(reply).subarray(0, 42).toString('hex')).toBe(
        arpReply(req.msg, pair.macA).toString('hex'),
      );
    at = agent.events.length;
    agent.command({ op: 'answers', mac: pair.macA, ourMacs: [pair.macA], ips: [] });
    expect((await agent.waitFor((e) => e.ev === 'answers', 5000, at)).ok).toBe(true);
    expect(await arping(pair.b, fastVip, 2)).toMatch(/Received 0 response/);
    const late = agent.events
      .slice(at)
      .filter((e) => e.ev === 'frame' && isArpRequestFor(frameOf(e), fastVip));
    expect(late.length).toBeGreaterThanOrEqual(1);
    expect(late.every((e) => e.answered === false)).toBe(true);
  });

  it("deliverAnswered(false), the speaker's way: replies still leave, the frames only counted; the reader has its short slice", async () => {
    const fastVip = '192.0.2.78';
    let at = agent.events.length;
    agent.command({ op: 'stats' });
    const before = await agent.waitFor((e) => e.ev === 'stats', 5000, at);
    at = agent.events.length;
    agent.command({ op: 'deliverAnswered', yes: false });
    await agent.waitFor((e) => e.ev === 'deliverAnswered', 5000, at);
    agent.command({ op: 'answers', mac: pair.macA, ourMacs: [pair.macA], ips: [fastVip] });
    expect((await agent.waitFor((e) => e.ev === 'answers', 5000, at)).ok).toBe(true);
    const out = await arping(pair.b, fastVip, 3);
    expect(out).toMatch(new RegExp(`reply from ${fastVip.replaceAll('.', '\\.')} \\[${pair.macA}\\]`, 'i'));
    const mid = agent.events.length;
    agent.command({ op: 'stats' });
    const after = await agent.waitFor((e) => e.ev === 'stats', 5000, mid);
    const answered = Number(after.answered) - Number(before.answered);
    expect(answered).toBeGreaterThanOrEqual(3);
    expect(Number(after.answeredNs)).toBe(Number(before.answeredNs)); // ARP, not NS
    expect(Number(after.received) - Number(before.received)).toBeGreaterThanOrEqual(answered);
    const delivered = agent.events
      .slice(at)
      .filter((e) => e.ev === 'frame' && isArpRequestFor(frameOf(e), fastVip));
    expect(delivered).toEqual([]);
    // Linux >= 6.12 (EEVDF custom slices); this lab's kernels are newer.
    expect(after.shortSlice).toBe(true);
    at = agent.events.length;
    agent.command({ op: 'answers', mac: pair.macA, ourMacs: [pair.macA], ips: [] });
    agent.command({ op: 'deliverAnswered', yes: true });
    await agent.waitFor((e) => e.ev === 'deliverAnswered', 5000, at);
  });

  it('close() stops delivery', async () => {
    const at = agent.events.length;
    agent.command({ op: 'close' });
    const closed = await agent.waitFor((e) => e.ev === 'closed', 5000, at);
    const out = await arping(pair.b, VIP, 2);
    expect(out).toMatch(/Received 0 response/);
    expect(agent.events.slice(at).filter((e) => e.ev === 'frame')).toEqual([]);
    const later = agent.events.length;
    agent.command({ op: 'send', hex: '00'.repeat(42) });
    expect(await agent.waitFor((e) => e.ev === 'error', 5000, later)).toMatchObject({
      code: 'ERR_LINK_CLOSED',
    });
    expect((closed.stats as { received: number }).received).toBeGreaterThanOrEqual(3);
  });

  it('throws ENODEV naming the interface when it does not exist', () => {
    let thrown: unknown;
    try {
      openLink('hn-missing0', () => {});
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(Error);
    expect(thrown).toMatchObject({ code: 'ENODEV', message: expect.stringContaining('hn-missing0') });
  });

  it('throws EPERM without CAP_NET_RAW', async () => {
    const { stdout } = await run('ip', [
      'netns',
      'exec',
      pair.a,
      // uid 0 with every capability dropped (not another uid): it can still read a checkout
      // in a root-only (0700) directory, as a fresh CI clone is, but opens no packet socket.
      'setpriv',
      '--inh-caps=-all',
      '--bounding-set=-all',
      process.execPath,
      `${packageRoot()}/dist/bench/link-agent.js`,
      'veth0',
    ]).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
    const first = JSON.parse(stdout.split('\n')[0] ?? '{}') as AgentEvent;
    expect(first).toMatchObject({ ev: 'error', code: 'EPERM', message: expect.stringContaining('veth0') });
  });
});
