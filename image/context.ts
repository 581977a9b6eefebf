// The Docker build context image/Dockerfile COPYs: a root filesystem in three parts (see the
// Dockerfile). Everything comes from this machine and the repo: Node 24 (lab/bin/node24.sh),
// the exact glibc/libstdc++/libgcc_s files `ldd` names, production dependencies installed
// from the lockfile, and the compiled program.
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { run } from './exec.js';
import { owningPackage, sharedLibraries } from './libs.js';
import { walk } from './tree.js';

/**
 * Where the speaker looks for its AF_PACKET addon, below the package root (/app in the image),
 * as speaker/link.ts does: the committed prebuild for the image's architecture, then a local
 * `npm run build:native`. Each one present goes in, at the same relative path.
 */
export const NATIVE_ADDONS = [
  'native/prebuilds/linux-x64/heraldlb_link.node',
  'native/build/Release/heraldlb_link.node',
] as const;
/** The product's compiled directories under dist/ (not lab/, bench/ or the image builder). */
const DIST_DIRS = ['api', 'kube', 'controller', 'speaker'];
const ENTRY_FILES = ['image/entry.js', 'image/route.js', 'image/programs.js'];
/** Bump when installDeps or prune change what they leave, so cached trees are not reused. */
const DEPS_RECIPE = 2;

export interface ContextInputs {
  repo: string;
  /** The Node 24 binary; its package directory (with LICENSE) is two levels up. */
  node: string;
  /** Where the context is written (emptied first). */
  out: string;
  /** Installed production dependencies are kept here, keyed by the lockfile. */
  depsCache: string;
  warn: (message: string) => void;
}

export interface ContextFacts {
  nativeAddon: boolean;
  libraries: string[];
}

export async function prepareContext(c: ContextInputs): Promise<ContextFacts> {
  rmSync(c.out, { recursive: true, force: true });
  const libraries = writeRuntime(c, join(c.out, 'runtime'));
  await writeDeps(c, join(c.out, 'deps', 'app', 'node_modules'));
  const nativeAddon = writeApp(c, join(c.out, 'app', 'app'), join(c.out, 'runtime'));
  return { nativeAddon, libraries };
}

function writeRuntime(c: ContextInputs, root: string): string[] {
  put(root, 'usr/local/bin/node', readFileSync(c.node), 0o755);
  const nodeDir = join(dirname(c.node), '..');
  if (existsSync(join(nodeDir, 'LICENSE')))
    put(root, 'usr/local/share/doc/node/LICENSE', readFileSync(join(nodeDir, 'LICENSE')));
  const libraries = addLibraries(root, c.node);
  put(
    root,
    'etc/passwd',
    'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n',
  );
  put(root, 'etc/group', 'root:x:0:\nnogroup:x:65534:\n');
  // getaddrinfo() without this file would ask DNS before /etc/hosts.
  put(root, 'etc/nsswitch.conf', 'passwd: files\ngroup: files\nhosts: files dns\n');
  mkdirSync(join(root, 'tmp'), { recursive: true });
  chmodSync(join(root, 'tmp'), 0o1777);
  return libraries;
}

/** Copies the libraries `binary` loads to the paths ldd printed, and their copyright files. */
export function addLibraries(root: string, binary: string): string[] {
  const libs = sharedLibraries(binary);
  for (const lib of libs) {
    const real = realpathSync(lib);
    put(root, lib.slice(1), readFileSync(real), statSync(real).mode & 0o755);
    const pkg = owningPackage(lib, real, real.replace(/^\/usr/, ''));
    const copyright = `/usr/share/doc/${pkg}/copyright`;
    if (pkg && existsSync(copyright)) put(root, copyright.slice(1), readFileSync(copyright));
  }
  return libs;
}

async function writeDeps(c: ContextInputs, dest: string): Promise<void> {
  const lock = readFileSync(join(c.repo, 'package-lock.json'));
  const key = createHash('sha256')
    .update(`recipe ${DEPS_RECIPE}\n`)
    .update(lock)
    .update(readFileSync(join(c.repo, 'package.json')))
    .digest('hex');
  const cached = join(c.depsCache, key.slice(0, 16));
  if (!existsSync(join(cached, 'node_modules'))) await installDeps(c.repo, cached);
  mkdirSync(dirname(dest), { recursive: true });
  cpSync(join(cached, 'node_modules'), dest, { recursive: true, verbatimSymlinks: true });
}

/**
 * `npm ci --omit=dev` in effect: `npm ci` itself refuses this lockfile (it records only this
 * platform's optional builds of dev tools), so `npm install --omit=dev` follows the lock
 * instead, from npm's cache when it has the packages. No install scripts run: no production
 * dependency has one, and a new one would have to be looked at first.
 */
async function installDeps(repo: string, cached: string): Promise<void> {
  const tmp = `${cached}.tmp${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  for (const f of ['package.json', 'package-lock.json']) copyFileSync(join(repo, f), join(tmp, f));
  await run(
    'npm',
    ['install', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', '--no-save'],
    { cwd: tmp },
  );
  prune(join(tmp, 'node_modules'));
  rmSync(cached, { recursive: true, force: true });
  renameSync(tmp, cached);
}

/** Drops what only a developer reads: type declarations, source maps, npm's own bookkeeping. */
function prune(nodeModules: string): void {
  rmSync(join(nodeModules, '.bin'), { recursive: true, force: true });
  rmSync(join(nodeModules, '.package-lock.json'), { force: true });
  rmSync(join(nodeModules, '@types'), { recursive: true, force: true }); // declarations only
  // Children before parents, so a directory left empty by the pruning goes too.
  for (const rel of walk(nodeModules).reverse()) {
    const path = join(nodeModules, rel);
    if (/\.(d\.[cm]?ts|map)$/.test(rel)) rmSync(path, { force: true });
    else if (statSync(path).isDirectory() && readdirSync(path).length === 0) rmdirSync(path);
  }
}

function writeApp(c: ContextInputs, app: string, runtime: string): boolean {
  const pkg = JSON.parse(readFileSync(join(c.repo, 'package.json'), 'utf8'));
  // `type: module` makes Node read dist/*.js as ES modules; nothing else is needed at run time.
  const { name, version, description, license, type, dependencies } = pkg;
  put(
    app,
    'package.json',
    `${JSON.stringify({ name, version, description, license, type, dependencies }, null, 2)}\n`,
  );
  const dist = join(c.repo, 'dist');
  for (const dir of DIST_DIRS) {
    if (!existsSync(join(dist, dir))) continue;
    for (const rel of walk(join(dist, dir))) {
      if (rel.endsWith('.js') && statSync(join(dist, dir, rel)).isFile()) {
        put(app, `dist/${dir}/${rel}`, readFileSync(join(dist, dir, rel)));
      }
    }
  }
  for (const f of ENTRY_FILES) put(app, `dist/${f}`, readFileSync(join(dist, f)));
  const addons = NATIVE_ADDONS.filter((rel) => existsSync(join(c.repo, rel)));
  if (addons.length === 0) {
    c.warn(
      `no native addon (${NATIVE_ADDONS.join(' or ')}; run \`npm run build:native\`): this image's speaker cannot open AF_PACKET sockets`,
    );
    return false;
  }
  for (const rel of addons) {
    put(app, rel, readFileSync(join(c.repo, rel)), 0o755);
    addLibraries(runtime, join(c.repo, rel)); // normally only libc, already there
  }
  return true;
}

function put(root: string, rel: string, data: string | Buffer, mode = 0o644): void {
  const file = join(root, rel);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, data);
  chmodSync(file, mode);
}
