import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { addonCandidates, packageRoot } from '../../speaker/link.js';

// The committed prebuilds must come from the committed C sources: `npm run prebuilds:native`
// records both hashes in native/prebuilds/SOURCES, and this fails when either drifts.
const native = join(packageRoot(), 'native');
const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');
const recorded = new Map(
  readFileSync(join(native, 'prebuilds', 'SOURCES'), 'utf8')
    .split('\n')
    .filter((l) => /^[0-9a-f]{64} {2}/.test(l))
    .map((l) => [l.slice(66), l.slice(0, 64)] as const),
);

describe('committed prebuilds', () => {
  for (const src of ['link.c', 'answer.c', 'answer.h'])
    it(`were compiled from the current native/src/${src}`, () => {
      expect(recorded.get(`src/${src}`), 'rerun `npm run prebuilds:native`').toBe(
        sha256(join(native, 'src', src)),
      );
    });

  for (const arch of ['x64', 'arm64'])
    it(`linux-${arch} is the file SOURCES names`, () => {
      const rel = `prebuilds/linux-${arch}/heraldlb_link.node`;
      expect(recorded.get(rel)).toBe(sha256(join(native, rel)));
    });

  it('are what the loader looks for first', () => {
    expect(addonCandidates('/r', 'arm64')[0]).toBe('/r/native/prebuilds/linux-arm64/heraldlb_link.node');
    expect(addonCandidates('/r', 'x64')[1]).toBe('/r/native/build/Release/heraldlb_link.node');
  });
});
