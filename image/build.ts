// Builds the image without Docker: prepare the context (context.ts), then buildah reads
// image/Dockerfile over it (chroot isolation; there is no RUN step, so nothing is executed
// inside), writes an OCI layout, and skopeo turns that into a docker-archive tar for
// `docker load` / `ctr images import`. Reproducible: every mtime and the image's creation
// time is the commit's time (SOURCE_DATE_EPOCH), buildah's tar walk is sorted, no build-host
// label; the same inputs give the same digest. When the inputs (the prepared tree, the
// Dockerfile, the tools) are those of the last build, that build is reused.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { withLock } from '../lab/lock.js';
import { prepareContext } from './context.js';
import { run } from './exec.js';
import { setMtimes, treeDigest } from './tree.js';

export interface ImageOptions {
  repo: string;
  /** Output directory: context/, oci/, the docker-archive tar, build.json. */
  dir?: string;
  /** Image name (repository) and tag; default $HERALDLB_IMAGE_NAME or localhost/heraldlb, and the package version. */
  name?: string;
  tag?: string;
  /** Stop after preparing the context (for `docker build`). */
  contextOnly?: boolean;
  /** Build even when the inputs match the last build. */
  force?: boolean;
  log?: (line: string) => void;
}

export interface ImageBuild {
  /** sha256:… of the image manifest in the OCI layout. */
  digest: string;
  /** sha256:… of the image config: the image ID `docker load` shows. */
  configDigest: string;
  reference: string;
  ociLayout: string;
  /** `oci:<layout>:<tag>`, what skopeo, umoci and buildah take. */
  ociReference: string;
  dockerArchive: string;
  context: string;
  inputsKey: string;
  sourceDateEpoch: number;
  nativeAddon: boolean;
  reused: boolean;
  seconds: number;
  layers: { digest: string; size: number; uncompressed: number }[];
}

export function defaultImageDir(): string {
  const cache =
    process.env.HERALDLB_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'heraldlb');
  return process.env.HERALDLB_IMAGE_DIR || join(cache, 'image');
}

export type ContextOnly = { context: string; nativeAddon: boolean };

/** One build per output directory at a time (two worktrees' tests may share the cache). */
export function ensureImage(o: ImageOptions): Promise<ImageBuild | ContextOnly> {
  const dir = o.dir ?? defaultImageDir();
  mkdirSync(dirname(dir), { recursive: true }); // the lock file sits beside the directory
  return withLock(dir, () => buildOrReuse({ ...o, dir }), 900_000);
}

async function buildOrReuse(o: ImageOptions): Promise<ImageBuild | ContextOnly> {
  const t0 = Date.now();
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const step = stepTimer(log);
  process.umask(0o022); // directory modes end up in the layers
  const dir = o.dir ?? defaultImageDir();
  const version = JSON.parse(readFileSync(join(o.repo, 'package.json'), 'utf8')).version as string;
  const tag = o.tag ?? version;
  const reference = `${o.name ?? (process.env.HERALDLB_IMAGE_NAME || 'localhost/heraldlb')}:${tag}`;
  const epoch = sourceDateEpoch(o.repo);
  const revision = git(o.repo, ['rev-parse', 'HEAD']);
  const node = nodeBinary(o.repo);
  const context = join(dir, 'context');
  mkdirSync(dir, { recursive: true });
  const facts = await prepareContext({
    repo: o.repo,
    node,
    out: context,
    depsCache: join(dir, 'deps-cache'),
    warn: (m) => log(`\n${'!'.repeat(78)}\n!! WARNING: ${m}\n${'!'.repeat(78)}\n`),
  });
  setMtimes(context, epoch);
  step(`context ${context} prepared (SOURCE_DATE_EPOCH=${epoch})`);
  if (o.contextOnly) return { context, nativeAddon: facts.nativeAddon };

  const dockerfile = readFileSync(join(o.repo, 'image', 'Dockerfile'));
  const inputsKey = createHash('sha256')
    .update(treeDigest(context))
    .update(dockerfile)
    .update(JSON.stringify({ reference, epoch, revision, tools: toolVersions() }))
    .digest('hex');
  step(`inputs hashed: ${inputsKey.slice(0, 16)}`);
  const record = join(dir, 'build.json');
  const last = existsSync(record) ? (JSON.parse(readFileSync(record, 'utf8')) as ImageBuild) : undefined;
  if (
    !o.force &&
    last?.inputsKey === inputsKey &&
    existsSync(last.dockerArchive) &&
    existsSync(last.ociLayout)
  ) {
    return { ...last, reused: true, seconds: (Date.now() - t0) / 1000 };
  }
  const ociLayout = join(dir, 'oci');
  const dockerArchive = join(dir, `heraldlb-${tag}.docker.tar`);
  await buildWithBuildah(o.repo, context, dir, {
    reference,
    epoch,
    version,
    revision,
    ociLayout: `${ociLayout}.tmp`,
    tag,
  });
  step('buildah bud + push to the OCI layout');
  rmSync(ociLayout, { recursive: true, force: true });
  renameSync(`${ociLayout}.tmp`, ociLayout);
  const ociReference = `oci:${ociLayout}:${tag}`;
  rmSync(dockerArchive, { force: true });
  await run('skopeo', ['copy', '--quiet', ociReference, `docker-archive:${dockerArchive}:${reference}`]);
  step('skopeo copy to docker-archive');
  const built: ImageBuild = {
    ...(await describeLayout(ociLayout)),
    reference,
    ociLayout,
    ociReference,
    dockerArchive,
    context,
    inputsKey,
    sourceDateEpoch: epoch,
    nativeAddon: facts.nativeAddon,
    reused: false,
    seconds: (Date.now() - t0) / 1000,
  };
  writeFileSync(record, `${JSON.stringify(built, null, 2)}\n`);
  return built;
}

function stepTimer(log: (l: string) => void): (what: string) => void {
  let last = Date.now();
  return (what) => {
    const now = Date.now();
    log(`${what} in ${((now - last) / 1000).toFixed(1)} s`);
    last = now;
  };
}

async function buildWithBuildah(
  repo: string,
  context: string,
  dir: string,
  b: { reference: string; epoch: number; version: string; revision: string; ociLayout: string; tag: string },
): Promise<void> {
  // A private, throwaway store: nothing lingers in /var/lib/containers, and two builds
  // never share cached layers that could hide a difference.
  const store = join(dir, `store.${process.pid}`);
  const global = ['--root', join(store, 'root'), '--runroot', join(store, 'run'), '--storage-driver', 'vfs'];
  const buildah = (args: string[]) => run('buildah', [...global, ...args], { env: buildEnv() });
  rmSync(b.ociLayout, { recursive: true, force: true });
  try {
    await buildah([
      'bud',
      '--isolation',
      'chroot',
      '--layers', // one layer per COPY: runtime, deps, app
      '--timestamp',
      String(b.epoch),
      '--identity-label=false',
      '--build-arg',
      `VERSION=${b.version}`,
      '--build-arg',
      `REVISION=${b.revision}`,
      '--file',
      join(repo, 'image', 'Dockerfile'),
      '--tag',
      b.reference,
      '--quiet',
      context,
    ]);
    await buildah(['push', '--quiet', '--format', 'oci', b.reference, `oci:${b.ociLayout}:${b.tag}`]);
  } finally {
    await buildah(['rmi', '--all', '--force']).catch(() => {
      // the store is removed below either way
    });
    rmSync(store, { recursive: true, force: true });
  }
}

function buildEnv(): NodeJS.ProcessEnv {
  // buildah honours SOURCE_DATE_EPOCH only in newer releases; --timestamp is what this one reads.
  return { ...process.env, BUILDAH_ISOLATION: 'chroot', BUILDAH_LAYERS: 'true' };
}

async function describeLayout(
  layout: string,
): Promise<Pick<ImageBuild, 'digest' | 'configDigest' | 'layers'>> {
  const blob = (d: string) => readFileSync(join(layout, 'blobs', ...d.split(':')));
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
  const digest: string = index.manifests[0].digest;
  const manifest = JSON.parse(blob(digest).toString('utf8'));
  const layers = [];
  for (const l of manifest.layers as { digest: string; size: number }[]) {
    const uncompressed = await uncompressedSize(join(layout, 'blobs', ...l.digest.split(':')));
    layers.push({ digest: l.digest, size: l.size, uncompressed });
  }
  return { digest, configDigest: manifest.config.digest, layers };
}

async function uncompressedSize(file: string): Promise<number> {
  const out = await run('sh', ['-c', 'gzip -dc < "$1" | wc -c', 'sh', file]);
  return Number(out.trim());
}

export function sourceDateEpoch(repo: string): number {
  const fromEnv = process.env.SOURCE_DATE_EPOCH;
  if (fromEnv && /^\d+$/.test(fromEnv)) return Number(fromEnv);
  return Number(git(repo, ['log', '-1', '--format=%ct']));
}

function git(repo: string, args: string[]): string {
  return execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8' }).trim();
}

function nodeBinary(repo: string): string {
  const bin =
    process.env.HERALDLB_NODE24 ||
    execFileSync('bash', [join(repo, 'lab', 'bin', 'node24.sh')], { encoding: 'utf8' }).trim();
  const v = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
  if (!v.startsWith('v24.'))
    throw new Error(`${bin} is Node ${v}, the image needs 24`, { cause: { code: 'ENODEVERSION' } });
  return bin;
}

function toolVersions(): string[] {
  return ['buildah', 'skopeo'].map((t) => execFileSync(t, ['--version'], { encoding: 'utf8' }).trim());
}
