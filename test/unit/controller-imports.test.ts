import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// Static imports that load code at run time (`import type` and `import { type X }`-only lines
// are erased by the compiler). Multi-line import lists are joined first.
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

/** Every module `entry` loads at start, as repo-relative paths, plus the packages. */
function graph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const todo = [resolve(entry)];
  while (todo.length > 0) {
    const f = todo.pop() as string;
    if (files.has(f)) continue;
    files.add(f);
    for (const spec of runtimeImports(f)) {
      if (spec.startsWith('.')) todo.push(join(dirname(f), spec).replace(/\.js$/, '.ts'));
      else packages.add(spec);
    }
  }
  return { files, packages };
}

describe('the controller process imports', () => {
  it('never loads @kubernetes/client-node at start (it alone costs ~80 MiB of RSS)', () => {
    const { files, packages } = graph('controller/main.ts');
    expect(files.size).toBeGreaterThan(10); // the walk really followed the graph
    expect(packages).toContain('pino');
    expect([...packages].filter((p) => p.startsWith('@kubernetes/'))).toEqual([]);
  });

  it('the walker sees a runtime import when there is one', () => {
    // lab/kube-clients.ts is the tests' and the lab's entry: it does load client-node.
    expect(graph('lab/kube-clients.ts').packages).toContain('@kubernetes/client-node');
  });
});
