// A hostile host on the heartbeat LAN, for the netns test: it is given heartbeats (a peer
// lists it as a node), records them, then sends the target replays of them, copies with a
// changed byte, garbage, and packets signed with a key the cluster does not have.
//
//   node dist/bench/membership-attacker.js BIND PORT TARGET RECORD_MS
// Prints one JSON line: what it sent, by kind.
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { encode } from '../speaker/membership/codec.js';
import { parseKeyRing } from '../speaker/membership/keys.js';

async function main([bind, port, target, recordMs]: string[]): Promise<void> {
  const s = createSocket('udp4');
  const recorded: Buffer[] = [];
  s.on('message', (b) => recorded.push(Buffer.from(b)));
  await new Promise<void>((r) => s.bind(Number(port), bind, () => r()));
  process.stdout.write(`${JSON.stringify({ ev: 'listening' })}\n`);
  // Record until told to attack (a line on stdin), or for RECORD_MS.
  await new Promise<void>((r) => {
    const t = setTimeout(r, Number(recordMs));
    process.stdin.once('data', () => {
      clearTimeout(t);
      r();
    });
  });
  const sent = { replays: 0, tampered: 0, garbage: 0, wrongKey: 0, unknownKeyId: 0 };
  const send = (b: Buffer) => new Promise<void>((r) => s.send(b, Number(port), target, () => r()));
  for (const b of recorded) {
    await send(b);
    sent.replays++;
    const t = Buffer.from(b);
    const i = 10 + (t.length - 42 > 0 ? randomBytes(1)[0]! % (t.length - 42) : 0);
    t[i] = (t[i] as number) ^ 0x20;
    await send(t);
    sent.tampered++;
  }
  for (let i = 0; i < 20; i++) {
    await send(randomBytes(1 + ((i * 37) % 600)));
    sent.garbage++;
  }
  const forgedMsg = {
    kind: 'heartbeat' as const,
    sender: 'node2',
    incarnation: randomBytes(8).toString('hex'),
    seq: 1_000_000,
    sentAt: performance.timeOrigin + performance.now(),
    entries: [],
  };
  const wrong = parseKeyRing(`k1:${randomBytes(32).toString('base64')}`); // a guessed key under the real id
  const unknown = parseKeyRing(`nope:${randomBytes(32).toString('base64')}`);
  for (let i = 0; i < 10; i++) {
    await send(encode({ ...forgedMsg, seq: forgedMsg.seq + i }, wrong));
    sent.wrongKey++;
    await send(encode({ ...forgedMsg, seq: forgedMsg.seq + i }, unknown));
    sent.unknownKeyId++;
  }
  process.stdout.write(`${JSON.stringify({ ev: 'sent', recorded: recorded.length, ...sent })}\n`);
  s.close();
}

await main(process.argv.slice(2));
