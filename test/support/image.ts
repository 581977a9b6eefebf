/**
 * Runs the built image with runc, as a kubelet would: unpack the OCI layout into a bundle
 * (umoci), set the process's argv, user and a read-only root in its config.json, `runc run`.
 * runc's state lives in a directory of the test's own, so no other runtime's is touched.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Bundle {
  dir: string;
  /** The image's ENTRYPOINT + CMD, as umoci wrote them. */
  imageArgs: string[];
  run(o: { args: string[]; uid?: number; readonly?: boolean; timeoutMs?: number }): RunResult;
}

export async function unpackBundle(ociReference: string, dir: string, idPrefix: string): Promise<Bundle> {
  mkdirSync(dir, { recursive: true });
  const bundle = join(dir, 'bundle');
  // Async: unpacking takes seconds, and the test runner's worker must keep answering meanwhile.
  await promisify(execFile)('umoci', ['unpack', '--image', ociReference.replace(/^oci:/, ''), bundle]);
  const base = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
  const state = join(dir, 'runc-state');
  let n = 0;
  return {
    dir: bundle,
    imageArgs: [...base.process.args],
    run({ args, uid = 65534, readonly = true, timeoutMs = 30_000 }) {
      const config = structuredClone(base);
      config.process.args = args;
      config.process.terminal = false;
      config.process.user = { uid, gid: uid };
      config.root.readonly = readonly;
      writeFileSync(join(bundle, 'config.json'), JSON.stringify(config));
      const id = `${idPrefix}-${process.pid}-${++n}`;
      const out = spawnSync('runc', ['--root', state, 'run', '--bundle', bundle, id], {
        encoding: 'utf8',
        timeout: timeoutMs,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      // A timed-out container would still exist: remove it, whatever state it is in.
      spawnSync('runc', ['--root', state, 'delete', '--force', id], { stdio: 'ignore' });
      return { code: out.status, stdout: out.stdout ?? '', stderr: out.stderr ?? '' };
    },
  };
}
