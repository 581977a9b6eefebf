// A tiny OCI image for runtime tests: the distribution's static busybox (sh, httpd, ...)
// in one layer, packed with umoci into an OCI layout. No registry, no Docker.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const TEST_IMAGE_TAG = 'lab';
const APPLETS = ['sh', 'httpd', 'env', 'sleep', 'cat', 'mkdir', 'echo', 'test', 'ls'];

/** Builds the image; returns `<layout dir>:<tag>` for `lab load-image`. */
export async function buildTestImage(busybox = '/usr/bin/busybox'): Promise<{ layout: string; ref: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'hlb-test-image-'));
  const layout = join(dir, 'oci');
  const ref = `${layout}:${TEST_IMAGE_TAG}`;
  await run('umoci', ['init', '--layout', layout]);
  await run('umoci', ['new', '--image', ref]);
  await run('umoci', ['unpack', '--image', ref, join(dir, 'bundle')]);
  const bin = join(dir, 'bundle', 'rootfs', 'bin');
  await mkdir(bin, { recursive: true });
  await run('install', ['-m', '0755', busybox, join(bin, 'busybox')]);
  for (const a of APPLETS) await symlink('busybox', join(bin, a));
  await run('umoci', ['repack', '--image', ref, join(dir, 'bundle')]);
  await run('umoci', [
    'config',
    '--image',
    ref,
    '--config.cmd',
    '/bin/sh',
    '--os',
    'linux',
    '--architecture',
    'amd64',
  ]);
  return { layout: dir, ref };
}
