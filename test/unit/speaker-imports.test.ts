import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// The speaker's pure core: no I/O, no clock, no controller code, no client library at run time.
const CORE = [
  'wire-addresses',
  'ethernet',
  'arp',
  'ndp',
  'frame',
  'model',
  'translate',
  'eligibility',
  'election',
  'hold-down',
  'plan',
  'garp-schedule',
];

/** The modules a file loads at run time (`import type` and type-only lists are erased). */
function runtimeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^(import|export)\s+([^;]*?)\s+from\s+'([^']+)'/gms)) {
    const clause = m[2] ?? '';
    if (/^type\s/.test(clause)) continue;
    const names = /\{([^}]*)\}/.exec(clause)?.[1];
    const bare = clause.replace(/\{[^}]*\}/, '').replace(/[,\s]/g, '');
    if (names !== undefined && bare === '' && names.split(',').every((n) => /^\s*(type\s|$)/.test(n)))
      continue;
    out.push(m[3] as string);
  }
  return out;
}

describe('the speaker core', () => {
  it.each(CORE)('%s.ts loads only api/, speaker/ and node:crypto', (name) => {
    const bad = runtimeImports(`speaker/${name}.ts`).filter(
      (s) => !/^\.\/[a-z-]+\.js$/.test(s) && !/^\.\.\/api\/[a-z-]+\.js$/.test(s) && s !== 'node:crypto',
    );
    expect(bad).toEqual([]);
  });

  it('sees the imports it checks (the scan works)', () => {
    expect(runtimeImports('speaker/translate.ts')).toContain('../api/selectors.js');
    expect(runtimeImports('speaker/translate.ts')).not.toContain('@kubernetes/client-node');
    expect(runtimeImports('speaker/election.ts')).toEqual(['node:crypto']);
  });

  it.each(CORE)('%s.ts reads no clock and starts no timer', (name) => {
    const text = readFileSync(`speaker/${name}.ts`, 'utf8').replace(/^\s*(\/\/|\*).*$/gm, '');
    expect(text).not.toMatch(
      /Date\.now|performance\.now|new Date\(|setTimeout|setInterval|process\.hrtime|process\.env/,
    );
  });
});
