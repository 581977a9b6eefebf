// The addon's trimMemory() on a real process: memory glibc keeps after frees is given back.
// No root needed; Linux with glibc (the image's C library) is.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { addonCandidates, packageRoot } from '../../speaker/link.js';

const run = promisify(execFile);

// 64 MiB of native (malloc'd) Buffer stores, one in 64 kept so the freed rest sits in the
// middle of the heap where glibc's own top-trimming cannot return it.
const SCRIPT = `
const addon = require(process.argv[1]);
const anon = () => Number(/RssAnon:\\s+(\\d+)/.exec(require('node:fs').readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
let bufs = [];
for (let i = 0; i < 4096; i++) bufs.push(Buffer.allocUnsafeSlow(16384).fill(1));
const kept = bufs.filter((_, i) => i % 64 === 63);
bufs = null;
globalThis.gc(); globalThis.gc();
setTimeout(() => {
  globalThis.gc();
  const before = anon();
  const released = addon.trimMemory();
  const after = anon();
  console.log(JSON.stringify({ before, after, released, kept: kept.length }));
}, 200);
`;

describe('trimMemory (glibc malloc_trim)', () => {
  it('gives freed native memory back to the kernel', async () => {
    const addon = addonCandidates(packageRoot()).find((p) => p.includes('prebuilds')) as string;
    const { stdout } = await run(process.execPath, ['--expose-gc', '-e', SCRIPT, addon]);
    const r = JSON.parse(stdout) as { before: number; after: number; released: boolean };
    expect(r.released).toBe(true);
    expect(r.before - r.after).toBeGreaterThan(30); // MiB of the ~63 freed
  });
});
