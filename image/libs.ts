// Which shared objects a binary loads, from `ldd`: the official Node build links glibc
// (≥ 2.28), libstdc++ and libgcc_s dynamically, so those exact files go into the image at
// the paths the loader will look for them.
import { execFileSync } from 'node:child_process';

/**
 * The absolute paths in `ldd` output: `name => /path (addr)` lines and the interpreter's
 * own `/path (addr)` line. The vDSO (no file) is skipped; a `not found` library is an error,
 * since the image would not start.
 */
export function parseLdd(output: string): string[] {
  const paths: string[] = [];
  for (const raw of output.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('linux-vdso') || line.startsWith('linux-gate')) continue;
    if (line.includes('=> not found')) throw new Error(`ldd: ${line}`, { cause: { code: 'ELIBMISSING' } });
    if (line === 'statically linked') continue;
    const m = /^(?:\S+\s+=>\s+)?(\/\S+)\s+\(0x[0-9a-f]+\)$/.exec(line);
    if (!m?.[1])
      throw new Error(`ldd: unexpected line ${JSON.stringify(line)}`, { cause: { code: 'ELDDPARSE' } });
    paths.push(m[1]);
  }
  return [...new Set(paths)].sort();
}

export function sharedLibraries(binary: string): string[] {
  return parseLdd(execFileSync('ldd', [binary], { encoding: 'utf8' }));
}

/** The Debian package that ships a file, so its copyright file can travel with it; '' if unknown. */
export function owningPackage(...candidates: string[]): string {
  // With merged /usr, dpkg knows a file by one of its names only (/lib/… or /usr/lib/…).
  for (const file of candidates) {
    try {
      const out = execFileSync('dpkg', ['-S', file], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      const pkg = out.split(':')[0]?.trim();
      if (pkg) return pkg;
    } catch {
      // not this name, or no dpkg: try the next
    }
  }
  return '';
}
