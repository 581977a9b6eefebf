/**
 * Client-observed failover, trial by trial: fresh TCP connections every 20 ms with 100 ms
 * deadlines (lab/probe.ts) to a VIP while its announcing node is hard-killed (`kill-node`) or
 * its speaker stopped gracefully (`stop-speaker`); then the node is brought back and the bench
 * waits until the VIP is back on it (so past the hold-down) before the next trial. Each trial
 * uses its own Service, so the owner is whatever the hash says: the three nodes all take turns.
 */
import type { ClusterDriver, NodeFault } from '../lab/cluster-driver.js';
import {
  type Api,
  advertise,
  ipOf,
  measureFailover,
  ownerOf,
  pool,
  service,
  until,
} from '../lab/speaker-scenarios.js';
import { sleep } from './speaker-lab.js';

export interface Trial {
  owner: string;
  /** ms; undefined when service had not come back by the end of the window. */
  outageMs: number | undefined;
  after: string | undefined;
  /** ms from the restore command to the IP being back on its owner. */
  restoreMs: number;
}

const WINDOW_MS = 6000;
const RESTORE: Partial<Record<NodeFault, NodeFault>> = {
  'kill-node': 'revive-node',
  'stop-speaker': 'start-speaker',
};

export const POOL = 'bench';
export async function benchPool(a: Api): Promise<void> {
  await pool(a, POOL, ['203.0.113.0/24', '2001:db8:1::200/120']);
  await advertise(a, POOL, { ipAddressPools: [POOL] });
}

export async function failoverTrials(
  d: ClusterDriver,
  a: Api,
  fault: 'kill-node' | 'stop-speaker',
  n: number,
  log: (line: string) => void,
): Promise<Trial[]> {
  const prefix = fault === 'kill-node' ? 'kill' : 'stop';
  for (let i = 0; i < n; i++) await service(a, `${prefix}-${i}`, { pool: POOL });
  const out: Trial[] = [];
  for (let i = 0; i < n; i++) {
    const name = `${prefix}-${i}`;
    const ip = await ipOf(a, name);
    const owner = await ownerOf(a, name, 'default', undefined, 30_000);
    const m = await measureFailover(d, ip, owner, (node) => d.fault(fault, node), WINDOW_MS);
    const t0 = Date.now();
    await d.fault(RESTORE[fault] as NodeFault, owner);
    // Stable again: the returning node won the IP back, so its hold-down is over.
    await until(
      `${name} back on ${owner}`,
      async () => ((await ownerOf(a, name, 'default', undefined, 1000)) === owner ? true : undefined),
      60_000,
      100,
    );
    const restoreMs = Date.now() - t0;
    out.push({ owner, outageMs: m.outageMs, after: m.after, restoreMs });
    log(
      `${fault} ${i + 1}/${n}: owner ${owner} -> ${m.after}, outage ${m.outageMs ?? 'not restored'} ms, back in ${restoreMs} ms`,
    );
    await sleep(500);
  }
  return out;
}
