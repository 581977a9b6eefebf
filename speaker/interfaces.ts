/**
 * Which network interfaces the speaker can announce on, read from sysfs.
 *
 * Exported API:
 *   interface NetInterface { name; ifindex; mac; up; broadcast; loopback; enslaved }
 *   parseInterface(name, files) -> NetInterface | undefined     // pure
 *   listInterfaces(sysfsRoot = '/sys/class/net') -> NetInterface[]  // sorted by ifindex
 *   usableInterfaces(list) -> the up, broadcast, non-loopback, non-enslaved ones
 *
 * sysfs rather than `ip -j link` or os.networkInterfaces(): it needs no child process and,
 * unlike os.networkInterfaces(), also lists interfaces that have no address yet. Inside a
 * network namespace it shows that namespace's interfaces once sysfs is mounted there
 * (a Pod's, or `ip netns exec`, which remounts it).
 */
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface NetInterface {
  name: string;
  ifindex: number;
  /** aa:bb:cc:dd:ee:ff, lower case */
  mac: string;
  /** IFF_UP: administratively up (carrier may still be missing). */
  up: boolean;
  /** IFF_BROADCAST: a LAN where ARP works (not point-to-point). */
  broadcast: boolean;
  /** IFF_LOOPBACK */
  loopback: boolean;
  /** Has a master (bridge port, bond or team member): frames are handled by the master. */
  enslaved: boolean;
}

/** The sysfs files parseInterface reads, as text (undefined when absent). */
export interface InterfaceFiles {
  ifindex?: string | undefined;
  address?: string | undefined;
  flags?: string | undefined;
  /** Whether `master` exists (a symlink to the master's directory). */
  hasMaster: boolean;
}

// linux/if.h
const IFF_UP = 0x1;
const IFF_BROADCAST = 0x2;
const IFF_LOOPBACK = 0x8;

const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;
const DECIMAL = /^[1-9][0-9]{0,9}$/;
const HEX = /^0x[0-9a-f]{1,8}$/;

/** One interface from its sysfs files; undefined unless it has an ifindex, flags and a
 * 6-byte hardware address (tunnels and WireGuard have none: no ARP there). */
export function parseInterface(name: string, files: InterfaceFiles): NetInterface | undefined {
  const ifindex = files.ifindex?.trim() ?? '';
  const mac = files.address?.trim().toLowerCase() ?? '';
  const flagsText = files.flags?.trim().toLowerCase() ?? '';
  if (!DECIMAL.test(ifindex) || !MAC.test(mac) || !HEX.test(flagsText)) return undefined;
  const flags = Number.parseInt(flagsText, 16);
  return {
    name,
    ifindex: Number(ifindex),
    mac,
    up: (flags & IFF_UP) !== 0,
    broadcast: (flags & IFF_BROADCAST) !== 0,
    loopback: (flags & IFF_LOOPBACK) !== 0,
    enslaved: files.hasMaster,
  };
}

export function usableInterfaces(list: readonly NetInterface[]): NetInterface[] {
  return list.filter((i) => i.up && i.broadcast && !i.loopback && !i.enslaved);
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined; // the interface went away while we read it, or the file does not apply
  }
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

export function listInterfaces(sysfsRoot = '/sys/class/net'): NetInterface[] {
  const out: NetInterface[] = [];
  for (const name of readdirSync(sysfsRoot)) {
    const dir = join(sysfsRoot, name);
    const parsed = parseInterface(name, {
      ifindex: readOptional(join(dir, 'ifindex')),
      address: readOptional(join(dir, 'address')),
      flags: readOptional(join(dir, 'flags')),
      hasMaster: exists(join(dir, 'master')),
    });
    if (parsed) out.push(parsed);
  }
  return out.sort((a, b) => a.ifindex - b.ifindex);
}
