// Helpers for e2e tests that use the lab (see docs/lab.md).
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { inject } from 'vitest';
import { labCli, type Run, sh } from '../../lab/cluster-driver.js';

/** False only when the e2e tier was skipped (loudly) for missing prerequisites. */
export function labAvailable(): boolean {
  return inject('labDir') !== '';
}

export function labDir(): string {
  const d = inject('labDir');
  if (!d) throw new Error('the lab is not available in this run (e2e tier skipped)');
  return d;
}

export type { Run };
export { sh };

/** `heraldlb-lab --dir <labDir> ...args` */
export function lab(...args: string[]): Promise<Run> {
  return labCli(labDir(), ...args);
}

/** Brings the lab up (idempotent); throws with the CLI's output when it fails. */
export async function labUp(...flags: string[]): Promise<Run> {
  const r = await lab('up', ...flags);
  if (r.code !== 0) throw new Error(`lab up failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** Runs a command inside a lab namespace: `client` or `nodeN`. */
export function inNs(host: string, cmd: string, ...args: string[]): Promise<Run> {
  return sh('ip', ['netns', 'exec', `hlb-${host}`, cmd, ...args], 60_000);
}

/** `curl -s` from the client; stdout is the answering node's name. */
export function curlFromClient(url: string, timeoutS = 2): Promise<Run> {
  return inNs('client', 'curl', '-s', '-g', '-m', String(timeoutS), url);
}

export function labKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(join(labDir(), 'kubeconfig'));
  return kc;
}
