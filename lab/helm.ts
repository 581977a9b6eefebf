// The Helm the lab uses: $HERALDLB_HELM when set, else the pinned one lab/bin/build-helm.sh
// builds once from its Go module into ~/.cache/heraldlb (minutes cold, then instant).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './control-plane.js';

const run = promisify(execFile);

export async function ensureHelm(say: (line: string) => void = () => {}): Promise<string> {
  if (process.env.HERALDLB_HELM) return process.env.HERALDLB_HELM;
  say('   helm: lab/bin/build-helm.sh (pinned; built once, then cached)');
  try {
    const { stdout } = await run('bash', [join(repoRoot(), 'lab', 'bin', 'build-helm.sh')], {
      timeout: 60 * 60 * 1000,
      maxBuffer: 1 << 20,
    });
    return stdout.trim().split('\n').pop() ?? '';
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? '').slice(-2000);
    throw new Error(`building helm failed (is Go installed?):\n${stderr}`, { cause: err });
  }
}
