import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureImage, type ImageBuild } from '../../image/build.js';
import { NATIVE_ADDONS } from '../../image/context.js';
import { imageEntrypoint } from '../../image/programs.js';
import { type Bundle, unpackBundle } from '../support/image.js';
import { missing, refuseOrWarn } from '../support/prerequisites.js';

// The container image, built without Docker (or reused: the build is keyed by its inputs),
// run as a kubelet would with runc: uid 65534, read-only root filesystem, nothing but the
// image's own files. Needs root (runc, umoci unpack) and the tools `.ci/run` installs.
const repo = resolve(import.meta.dirname, '..', '..');
const runnable = refuseOrWarn(
  'image',
  missing({ root: true, commands: ['buildah', 'skopeo', 'umoci', 'runc', 'ldd'] }),
);
const speakerBuilt = existsSync(join(repo, 'dist', 'speaker', 'main.js'));
if (runnable && !speakerBuilt) {
  const bar = '!'.repeat(78);
  process.stderr.write(
    `\n${bar}\n!! SKIPPING \`heraldlb speaker --help\` in the image: dist/speaker/main.js does not exist yet\n${bar}\n\n`,
  );
}

describe.runIf(runnable)('the image, run with runc', () => {
  let image: ImageBuild;
  let bundle: Bundle;
  let work = '';
  beforeAll(async () => {
    const built = await ensureImage({ repo, log: (l) => process.stderr.write(`${l}\n`) });
    if (!('digest' in built)) throw new Error('ensureImage returned only a context');
    image = built;
    process.stderr.write(
      `image ${image.reference} ${image.digest} (${image.reused ? 'reused' : `built in ${image.seconds} s`})\n`,
    );
    work = mkdtempSync(join(tmpdir(), 'hlbimg-'));
    bundle = await unpackBundle(image.ociReference, work, 'hlbimg');
  });
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const heraldlb = (...args: string[]) => bundle.run({ args: [...imageEntrypoint(), ...args] });

  it('starts Node 24 with the flags from image/programs.ts, as uid 65534', () => {
    expect(bundle.imageArgs).toEqual([...imageEntrypoint(), '--help']);
    const r = bundle.run({
      args: [
        '/usr/local/bin/node',
        '-p',
        'JSON.stringify([process.version, process.getuid(), require("os").userInfo().username])',
      ],
    });
    expect(r.stderr).toBe('');
    const [version, uid, user] = JSON.parse(r.stdout);
    expect(version).toMatch(/^v24\./);
    expect([uid, user]).toEqual([65534, 'nobody']);
  });

  it('heraldlb --version prints the version and Node 24', () => {
    const r = heraldlb('--version');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^heraldlb 0\.\d+\.\d+ \(Node\.js v24\.\d+\.\d+, linux\/x64\)\n$/);
  });

  it('with no arguments (the CMD) it lists the commands', () => {
    const r = bundle.run({ args: bundle.imageArgs });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('controller');
    expect(r.stdout).toContain('speaker');
  });

  it('heraldlb controller --help exits 0 listing its flags', () => {
    const r = heraldlb('controller', '--help');
    expect(r.code, r.stderr).toBe(0);
    for (const flag of ['--kubeconfig', '--load-balancer-class', '--leader-elect', '--metrics-addr']) {
      expect(r.stdout).toContain(flag);
    }
  });

  it('a bad flag stops the controller with exit code 2, naming it', () => {
    const r = heraldlb('controller', '--workers=zero');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--workers');
  });

  it.runIf(speakerBuilt)('heraldlb speaker --help exits 0', () => {
    const r = heraldlb('speaker', '--help');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(0);
  });

  it('holds no shell, no package manager and no development dependency', () => {
    const root = join(bundle.dir, 'rootfs');
    for (const p of [
      'bin/sh',
      'usr/bin',
      'usr/local/bin/npm',
      'app/node_modules/typescript',
      'app/node_modules/vitest',
    ]) {
      expect(existsSync(join(root, p)), p).toBe(false);
    }
    expect(existsSync(join(root, 'app/node_modules/pino/package.json'))).toBe(true);
  });

  it('is reproducible: built again from scratch elsewhere, the same digest and the same tar', async () => {
    const again = await ensureImage({ repo, dir: join(work, 'again'), force: true, log: () => {} });
    if (!('digest' in again)) throw new Error('ensureImage returned only a context');
    expect([again.digest, again.configDigest]).toEqual([image.digest, image.configDigest]);
    expect(sha256(again.dockerArchive)).toBe(sha256(image.dockerArchive));
  }, 600_000);

  it.each(NATIVE_ADDONS)('includes the native addon %s exactly when the repo has it', (rel) => {
    expect(existsSync(join(bundle.dir, 'rootfs/app', rel))).toBe(existsSync(join(repo, rel)));
  });
});

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}
