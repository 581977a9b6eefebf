#!/usr/bin/env node
/** `npm run image`: build (or reuse) the container image and print where it is. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureImage } from './build.js';

const argv = process.argv.slice(2);
const known = new Set(['--context-only', '--force']);
const bad = argv.filter((a) => !known.has(a));
if (bad.length > 0) {
  process.stderr.write(`npm run image -- [--context-only] [--force]\nunknown: ${bad.join(' ')}\n`);
  process.exit(2);
}
const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const r = await ensureImage({
  repo,
  contextOnly: argv.includes('--context-only'),
  force: argv.includes('--force'),
});
if (!('digest' in r)) {
  const version = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).version;
  process.stdout.write(
    [
      `context: ${r.context}`,
      'then:    docker build -f image/Dockerfile \\',
      `           --build-arg VERSION=${version} --build-arg REVISION=$(git rev-parse HEAD) \\`,
      '           --build-arg SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) \\',
      `           -t heraldlb:${version} ${r.context}`,
      '',
    ].join('\n'),
  );
} else {
  const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  const lines = [
    `image:          ${r.reference}${r.reused ? ' (inputs unchanged: reused)' : ''}`,
    `digest:         ${r.digest}`,
    `image id:       ${r.configDigest}`,
    `OCI layout:     ${r.ociReference}`,
    `docker-archive: ${r.dockerArchive}`,
    `context:        ${r.context}`,
    `native addon:   ${r.nativeAddon ? 'included' : 'ABSENT (npm run build:native)'}`,
    ...r.layers.map(
      (l, i) =>
        `layer ${i + 1}:        ${mib(l.size)} compressed, ${mib(l.uncompressed)} unpacked (${l.digest.slice(0, 19)})`,
    ),
    `took:           ${r.seconds.toFixed(1)} s`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (!r.nativeAddon) {
    process.stderr.write(
      `\n${'!'.repeat(78)}\n!! WARNING: no native addon in this image: the speaker cannot run from it\n${'!'.repeat(78)}\n`,
    );
  }
}
