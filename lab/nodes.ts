// Node objects of the lab as a kubelet would keep them: the object with its addresses, a
// Lease in `kube-node-lease` renewed on each heartbeat, and the Ready condition.
import {
  type CoordinationV1Api,
  type CoreV1Api,
  type V1Lease,
  V1MicroTime,
  type V1Node,
  type V1NodeCondition,
} from '@kubernetes/client-node';
import type { ReadyStatus } from './state.js';
import type { Host } from './topology.js';

export const LEASE_NAMESPACE = 'kube-node-lease';
export const LEASE_SECONDS = 40; // kubelet's default
/** An unchanged status is still rewritten this often, so lastHeartbeatTime stays fresh. */
export const STATUS_REFRESH_MS = 60_000;

const REASONS: Record<ReadyStatus, { reason: string; message: string }> = {
  True: { reason: 'KubeletReady', message: 'kubelet is posting ready status (heraldlb lab keeper)' },
  False: { reason: 'LabNodeNotReady', message: 'made NotReady by `lab node-notready`' },
  Unknown: { reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' },
};

export function nodeAddresses(h: Host) {
  const out = [{ type: 'InternalIP', address: h.ipv4 }];
  if (h.ipv6) out.push({ type: 'InternalIP', address: h.ipv6 });
  out.push({ type: 'Hostname', address: h.name });
  return out;
}

export function nodeObject(h: Host): V1Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: h.name,
      labels: {
        'kubernetes.io/hostname': h.name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'heraldlb.io/lab-node': 'true',
      },
    },
    spec: {},
  };
}

/** The Ready condition to write, or undefined when the current one is fine as is. */
export function nextReadyCondition(
  current: V1NodeCondition | undefined,
  status: ReadyStatus,
  now: Date,
): V1NodeCondition | undefined {
  const { reason, message } = REASONS[status];
  const same = current?.status === status && current.reason === reason;
  const beatAge = now.getTime() - new Date(current?.lastHeartbeatTime ?? 0).getTime();
  // An Unknown node gets no heartbeats: its lastHeartbeatTime stays the last real one.
  if (same && (status === 'Unknown' || beatAge < STATUS_REFRESH_MS)) return undefined;
  return {
    type: 'Ready',
    status,
    reason,
    message,
    lastHeartbeatTime: status === 'Unknown' ? (current?.lastHeartbeatTime ?? now) : now,
    lastTransitionTime: current?.status === status ? (current.lastTransitionTime ?? now) : now,
  };
}

function isNotFound(err: unknown): boolean {
  return (err as { code?: unknown }).code === 404;
}

export async function ensureNode(core: CoreV1Api, h: Host): Promise<V1Node> {
  try {
    return await core.readNode({ name: h.name });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    return core.createNode({ body: nodeObject(h) });
  }
}

/** Writes the Ready condition and addresses when they differ; returns true if it wrote. */
export async function writeReady(core: CoreV1Api, h: Host, status: ReadyStatus, now: Date): Promise<boolean> {
  const node = await ensureNode(core, h);
  const conditions = node.status?.conditions ?? [];
  const cur = conditions.find((c) => c.type === 'Ready');
  const next = nextReadyCondition(cur, status, now);
  const addresses = nodeAddresses(h);
  const key = (as: { type: string; address: string }[]) => as.map((a) => `${a.type}=${a.address}`).join(',');
  const addressesSame = key(node.status?.addresses ?? []) === key(addresses);
  if (!next && addressesSame) return false;
  node.status = {
    ...node.status,
    addresses,
    conditions: [...conditions.filter((c) => c.type !== 'Ready'), next ?? (cur as V1NodeCondition)],
  };
  await core.replaceNodeStatus({ name: h.name, body: node });
  return true;
}

export async function renewLease(coord: CoordinationV1Api, node: string): Promise<void> {
  const spec = { holderIdentity: node, leaseDurationSeconds: LEASE_SECONDS, renewTime: new V1MicroTime() };
  let lease: V1Lease;
  try {
    lease = await coord.readNamespacedLease({ name: node, namespace: LEASE_NAMESPACE });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    const body: V1Lease = { metadata: { name: node, namespace: LEASE_NAMESPACE }, spec };
    await coord.createNamespacedLease({ namespace: LEASE_NAMESPACE, body });
    return;
  }
  lease.spec = { ...lease.spec, ...spec };
  await coord.replaceNamespacedLease({ name: node, namespace: LEASE_NAMESPACE, body: lease });
}
