/**
 * What to do with one frame read on one interface: answer it, note a foreign answerer, or ignore
 * it. Pure: the frame is already parsed, the owned IPs and our MACs come in; main sends the reply.
 *
 * A foreign answerer is any other MAC claiming an IP we announce (an ARP reply, a gratuitous ARP,
 * a Neighbor Advertisement): the guard decides whether it is another speaker (split brain: the
 * lower-ranked one yields) or a foreign host (an IPConflict).
 */
import { arpReply, type Inbound, neighborAdvert } from './frame.js';

/** ip -> interfaces it is announced on (undefined = every watched interface). */
export type OwnedIndex = ReadonlyMap<string, ReadonlySet<string> | undefined>;

export type Verdict =
  | { kind: 'reply'; frame: Buffer; ip: string; family: 4 | 6 }
  | { kind: 'foreign'; ip: string; mac: string }
  | { kind: 'ignore' };

const IGNORE: Verdict = { kind: 'ignore' };

function ownedOn(owned: OwnedIndex, ip: string, ifname: string): boolean {
  if (!owned.has(ip)) return false;
  const on = owned.get(ip);
  return on === undefined || on.has(ifname);
}

export function respond(
  msg: Inbound,
  ifname: string,
  ifMac: string,
  owned: OwnedIndex,
  ourMacs: ReadonlySet<string>,
  /** IPs not ours whose claimants still matter: probed before announcing, or yielded. */
  watching: (ip: string) => boolean = () => false,
): Verdict {
  const claimed = (ip: string) => owned.has(ip) || watching(ip);
  switch (msg.kind) {
    case 'arp-request': {
      // Someone else's gratuitous ARP for our IP is a claim, not a question.
      if (msg.senderIp === msg.targetIp && claimed(msg.targetIp) && !ourMacs.has(msg.senderMac))
        return { kind: 'foreign', ip: msg.targetIp, mac: msg.senderMac };
      if (!ownedOn(owned, msg.targetIp, ifname) || ourMacs.has(msg.senderMac)) return IGNORE;
      return { kind: 'reply', frame: arpReply(msg, ifMac), ip: msg.targetIp, family: 4 };
    }
    case 'arp-reply':
      if (claimed(msg.senderIp) && !ourMacs.has(msg.senderMac))
        return { kind: 'foreign', ip: msg.senderIp, mac: msg.senderMac };
      return IGNORE;
    case 'ns':
      if (!ownedOn(owned, msg.targetIp, ifname) || ourMacs.has(msg.srcMac)) return IGNORE;
      return { kind: 'reply', frame: neighborAdvert(msg, ifMac), ip: msg.targetIp, family: 6 };
    case 'na': {
      const mac = msg.targetLinkAddr ?? msg.srcMac;
      if (claimed(msg.targetIp) && !ourMacs.has(mac)) return { kind: 'foreign', ip: msg.targetIp, mac };
      return IGNORE;
    }
  }
}
