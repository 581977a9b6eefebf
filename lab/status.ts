// `lab status`: what is up, as text for a person.

import { describeWish, readyInApi } from './ops.js';
import { ours, type SlotState, slotFiles, slotState } from './processes.js';
import { alive } from './procs.js';
import { type LabState, labPaths, readState } from './state.js';
import { planTopology } from './topology.js';

function proc(pid: number | undefined, s: LabState): string {
  if (!pid) return 'not started';
  return `pid ${pid} ${ours(pid, s.dir) ? 'alive' : 'DEAD'}`;
}

export function slotText(slot: SlotState): string {
  if (slot.state === 'empty') return `empty (${slot.file} is not built yet)`;
  return `${slot.state === 'running' ? 'running' : 'DEAD'} pid ${slot.pid}, log ${slot.log}`;
}

export async function statusLines(dir: string): Promise<string[]> {
  let s: LabState | undefined;
  try {
    s = readState(dir);
  } catch (err) {
    return [`lab state in ${dir} is unreadable (${(err as Error).message}); \`lab down\` clears it`];
  }
  if (!s) return [`no lab (nothing in ${dir}); \`lab up\` starts one`];
  const p = labPaths(dir);
  const t = planTopology({ nodes: s.nodeCount, ipv6: s.ipv6 });
  const cp = s.controlPlane;
  const out = [`lab dir ${dir}${s.complete ? '' : '  (INCOMPLETE: run `lab up` again)'}`, `logs ${p.logs}`];
  if (cp) {
    const cpAlive = alive(cp.pids.etcd) && alive(cp.pids.apiserver);
    out.push(
      `control plane ${cp.server}  etcd pid ${cp.pids.etcd}, kube-apiserver pid ${cp.pids.apiserver}: ${cpAlive ? 'alive' : 'DEAD'}`,
    );
  }
  out.push(`kubeconfig ${p.kubeconfig}  (node namespaces: ${p.nodeKubeconfig})`);
  out.push(`keeper ${proc(s.pids.keeper, s)}`);
  const ready = cp ? await readyInApi(p.kubeconfig) : 'no control plane';
  if (typeof ready === 'string') out.push(ready);
  const files = slotFiles();
  out.push('nodes:');
  for (const h of t.nodes) {
    const w = s.nodes[h.name];
    const api = typeof ready === 'string' ? '?' : (ready[h.name] ?? 'missing');
    const addr = [h.ipv4, h.ipv6].filter(Boolean).join(' ');
    const speaker = slotState(s.pids.speakers[h.name], dir, files.speaker, p.log(`speaker-${h.name}`));
    out.push(
      `  ${h.name}  ${addr}  ${h.mac}  Ready=${api}  wanted=${w ? describeWish(w) : '?'}  agent ${proc(s.pids.agents[h.name], s)}  speaker ${slotText(speaker)}`,
    );
  }
  if (s.runtime) {
    out.push(
      `runtime: kube-controller-manager ${proc(s.pids.controllerManager, s)}, kube-scheduler ${proc(s.pids.scheduler, s)}`,
    );
    for (const h of t.nodes) {
      const r = s.pids.runtime?.[h.name];
      out.push(`  ${h.name}  containerd ${proc(r?.containerd, s)}  kubelet ${proc(r?.kubelet, s)}`);
    }
  }
  out.push(`client  ${[t.client.ipv4, t.client.ipv6].filter(Boolean).join(' ')}  ${t.client.mac}`);
  out.push(
    `controller ${slotText(slotState(s.pids.controller, dir, files.controller, p.log('controller')))}`,
  );
  return out;
}
