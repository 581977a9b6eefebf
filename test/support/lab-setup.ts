import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
import { ensureBinaries } from '../../lab/control-plane.js';
import { missing, refuseOrWarn } from './prerequisites.js';

const run = promisify(execFile);

declare module 'vitest' {
  export interface ProvidedContext {
    /** The lab dir e2e tests use; '' when the tier is skipped (tests read it via labAvailable()). */
    labDir: string;
  }
}

const root = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', '..');
export const labCli = join(root, 'dist', 'lab', 'cli.js');

// The e2e tier runs against the lab (real namespaces, real control plane). Each test file
// brings the lab up itself (`up` is idempotent and quick when it is up already); this
// setup only checks the machine and takes the lab down at the end.
export default async function setup(project: TestProject) {
  project.provide('labDir', '');
  const problems = missing({ root: true, netns: true, commands: ['openssl', 'curl', 'arping', 'ndisc6'] });
  if (!refuseOrWarn('e2e', problems)) return;
  try {
    await ensureBinaries();
  } catch (err) {
    if (!refuseOrWarn('e2e', [`no control-plane binaries: ${(err as Error).message.split('\n')[0]}`])) return;
  }
  if (!existsSync(labCli)) {
    process.stderr.write('e2e: dist/lab/cli.js missing, building\n');
    await run('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, timeout: 300_000 }).catch(() => {
      // tsc exits non-zero on type errors elsewhere yet still emits; the check below decides.
    });
    if (!existsSync(labCli)) throw new Error(`build did not produce ${labCli}`);
  }
  const dir = process.env.HERALDLB_LAB_DIR ?? join(tmpdir(), 'heraldlb-lab');
  project.provide('labDir', dir);
  return async () => {
    await run(process.execPath, [labCli, '--dir', dir, 'down'], { timeout: 120_000 });
  };
}
