// The lab's state file: what exists (control plane, pids) and what is wanted (each node's
// condition). The CLI is its only writer; the keeper reads it and acknowledges the
// `generation` it has applied in a separate file, so the CLI can wait for an effect.
import { existsSync, readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const STATE_VERSION = 1;

/** Wanted condition of one node; `killed` wins over `partitioned` wins over `ready`. */
export interface NodeWish {
  /** false = `node-notready`: heartbeats go on, but the Ready condition is False. */
  ready: boolean;
  /** Cut from the LAN and the API: no heartbeats (Ready becomes Unknown after the grace). */
  partitioned: boolean;
  /** Power cut: processes gone, link down, no heartbeats. */
  killed: boolean;
}

export interface ControlPlaneRecord {
  dir: string;
  server: string;
  kubeconfigPath: string;
  pids: { etcd: number; apiserver: number };
}

export interface LabState {
  version: number;
  dir: string;
  /** Bumped on every change the keeper must act on. */
  generation: number;
  nodeCount: number;
  ipv6: boolean;
  /** Seconds without heartbeats before the keeper marks a node Ready=Unknown. */
  graceSeconds: number;
  /** `up --runtime`: kube-controller-manager, kube-scheduler and per node containerd and a
   * real kubelet, which owns its Node (the keeper then writes no Node status). */
  runtime?: boolean;
  controlPlane?: ControlPlaneRecord;
  pids: {
    keeper?: number;
    controller?: number;
    agents: Record<string, number>; // node name -> pid of its node agent
    speakers: Record<string, number>; // node name -> pid of its speaker
    controllerManager?: number;
    scheduler?: number;
    runtime?: Record<string, { containerd: number; kubelet: number }>; // node name -> its runtime
  };
  /** Image archives imported into every node's containerd (again on `revive-node`). */
  images?: string[];
  nodes: Record<string, NodeWish>; // node name -> wanted condition
  /** Set once `up` finished; a half-built lab is rebuilt by the next `up`. */
  complete: boolean;
}

/** Paths inside the lab dir; everything the lab writes lives under `dir`. */
export function labPaths(dir: string) {
  return {
    state: join(dir, 'state.json'),
    keeperAck: join(dir, 'keeper-ack.json'),
    logs: join(dir, 'logs'),
    run: join(dir, 'run'),
    controlPlane: join(dir, 'cp'),
    /** Admin kubeconfig for the host namespace (the controller's, and the user's). */
    kubeconfig: join(dir, 'kubeconfig'),
    /** Kubeconfig for processes inside node namespaces: https://127.0.0.1:6443 via the relay. */
    nodeKubeconfig: join(dir, 'node.kubeconfig'),
    /** The speakers' heartbeat keys (in a cluster: the chart's Secret). */
    heartbeatKeys: join(dir, 'heartbeat-keys'),
    apiSocket: (node: string) => join(dir, 'run', `api-${node}.sock`),
    agentReady: (node: string) => join(dir, 'run', `agent-${node}.ready`),
    log: (name: string) => join(dir, 'logs', `${name}.log`),
  };
}

export function initialState(dir: string, nodeNames: string[], ipv6: boolean, runtime = false): LabState {
  const nodes: Record<string, NodeWish> = {};
  for (const n of nodeNames) nodes[n] = { ready: true, partitioned: false, killed: false };
  return {
    version: STATE_VERSION,
    dir,
    generation: 1,
    nodeCount: nodeNames.length,
    ipv6,
    ...(runtime ? { runtime } : {}),
    graceSeconds: 10,
    pids: { agents: {}, speakers: {} },
    nodes,
    complete: false,
  };
}

/** A copy of `s` with `node`'s wish changed and the generation bumped. */
export function withNodeWish(s: LabState, node: string, patch: Partial<NodeWish>): LabState {
  const cur = s.nodes[node];
  if (!cur) throw new Error(`no node ${node} in this lab (nodes: ${Object.keys(s.nodes).join(', ')})`);
  return { ...s, generation: s.generation + 1, nodes: { ...s.nodes, [node]: { ...cur, ...patch } } };
}

export type ReadyStatus = 'True' | 'False' | 'Unknown';

/** What the keeper does for a node now: heartbeat or not, and which Ready status to show
 * (none = leave it as it is). A silent node turns Unknown once `graceMs` passed since its
 * last heartbeat, as the node lifecycle controller would do in a real cluster. */
export function readyDecision(
  w: NodeWish,
  lastBeatMs: number,
  nowMs: number,
  graceMs: number,
): { beat: boolean; status?: ReadyStatus } {
  if (!w.killed && !w.partitioned) return { beat: true, status: w.ready ? 'True' : 'False' };
  return nowMs - lastBeatMs >= graceMs ? { beat: false, status: 'Unknown' } : { beat: false };
}

/** Validates a parsed state file; throws with the reason when it is not one of ours. */
export function parseState(text: string): LabState {
  const raw = JSON.parse(text) as Partial<LabState>;
  if (raw.version !== STATE_VERSION)
    throw new Error(`state file version ${raw.version}, expected ${STATE_VERSION}`);
  if (typeof raw.dir !== 'string' || typeof raw.nodes !== 'object' || raw.nodes === null || !raw.pids) {
    throw new Error('state file lacks dir/nodes/pids');
  }
  return raw as LabState;
}

export function readState(dir: string): LabState | undefined {
  const file = labPaths(dir).state;
  if (!existsSync(file)) return undefined;
  return parseState(readFileSync(file, 'utf8'));
}

/** Atomic: a reader never sees half a file. */
export async function writeState(s: LabState): Promise<void> {
  const file = labPaths(s.dir).state;
  await writeFile(`${file}.tmp`, `${JSON.stringify(s, null, 2)}\n`);
  await rename(`${file}.tmp`, file);
}

export function readKeeperAck(dir: string): number {
  try {
    return (JSON.parse(readFileSync(labPaths(dir).keeperAck, 'utf8')) as { generation: number }).generation;
  } catch {
    return 0;
  }
}

export async function writeKeeperAck(dir: string, generation: number): Promise<void> {
  const file = labPaths(dir).keeperAck;
  await writeFile(`${file}.tmp`, JSON.stringify({ generation, at: new Date().toISOString() }));
  await rename(`${file}.tmp`, file);
}
