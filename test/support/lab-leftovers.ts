// What `lab down` must have removed: namespaces, processes, mounts, cgroups, files. Shared by
// the e2e tests that bring the lab up with --runtime.
import { existsSync, readFileSync } from 'node:fs';
import { labDir, sh } from './lab.js';

export interface Leftovers {
  netns: string[];
  procs: string[];
  mounts: string[];
  cgroups: string[];
  files: string[];
}

export async function labLeftovers(): Promise<Leftovers> {
  const netns = (await sh('ip', ['netns', 'list'])).stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => /^(hlb-(lan|client|node\d+)|cni-)/.test(n));
  const procs = (await sh('ps', ['-eo', 'pid,args'])).stdout
    .split('\n')
    .filter((l) => l.includes(`${labDir()}/`) || l.endsWith(` ${labDir()}`));
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(labDir()));
  // At each hierarchy's root and below this process's own cgroups (where the lab nests them).
  const own = readFileSync('/proc/self/cgroup', 'utf8')
    .split('\n')
    .map((l) => l.split(':')[2] ?? '')
    .filter((p) => p.length > 1);
  const globs = ['/sys/fs/cgroup/*/hlb-*', ...own.map((p) => `/sys/fs/cgroup/*${p}/hlb-*`)];
  const cgroups = (await sh('sh', ['-c', `ls -d ${globs.join(' ')} 2>/dev/null`])).stdout
    .split('\n')
    .filter(Boolean);
  const files = [labDir(), `${labDir()}.lock`].filter((f) => existsSync(f));
  return { netns, procs, mounts, cgroups, files };
}
