import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { refuseOrWarn } from '../support/prerequisites.js';

// The chart's alerts and dashboard: every metric they name exists, and promtool (built by
// lab/bin/promtool.sh, named by $HERALDLB_PROMTOOL) finds the rules valid and their unit
// tests in test/prometheus/ passing.
const root = resolve(import.meta.dirname, '..', '..');
const RULES = join(root, 'charts', 'heraldlb', 'files', 'prometheus-rules.yaml');
const DASHBOARD = join(root, 'charts', 'heraldlb', 'files', 'grafana-dashboard.json');
const RULE_TESTS = join(root, 'test', 'prometheus', 'heraldlb-rules.test.yaml');

/** The heraldlb_* series a program registers (its metrics.ts names each in a `name:` field). */
function registeredNames(program: 'controller' | 'speaker'): string[] {
  const src = readFileSync(join(root, program, 'metrics.ts'), 'utf8');
  return [...src.matchAll(/name: '(heraldlb_\w+)'/g)].map((m) => m[1]!);
}

/** heraldlb_* names used in a text, with a histogram's _bucket/_sum/_count suffix dropped. */
function namesUsed(text: string, histograms: readonly string[]): string[] {
  const used = new Set<string>();
  for (const [name] of text.matchAll(/heraldlb_\w+/g)) {
    const base = name.replace(/_(bucket|sum|count)$/, '');
    used.add(histograms.includes(base) ? base : name);
  }
  return [...used].sort();
}

describe('chart monitoring names only metrics that exist', () => {
  const known = [...registeredNames('controller'), ...registeredNames('speaker')];
  const histograms = ['heraldlb_reconcile_duration_seconds', 'heraldlb_speaker_heartbeat_rtt_seconds'];

  it.each([
    ['alerting rules', RULES],
    ['Grafana dashboard', DASHBOARD],
  ])('%s', (_what, file) => {
    const used = namesUsed(readFileSync(file, 'utf8'), histograms);
    expect(used.length).toBeGreaterThan(3);
    expect(used.filter((n) => !known.includes(n))).toEqual([]);
  });

  it('every alert the rules define has a promtool unit test', () => {
    const alerts = [...readFileSync(RULES, 'utf8').matchAll(/- alert: (\w+)/g)].map((m) => m[1]!);
    const tested = new Set(
      [...readFileSync(RULE_TESTS, 'utf8').matchAll(/alertname: (\w+)/g)].map((m) => m[1]),
    );
    expect(alerts.filter((a) => !tested.has(a))).toEqual([]);
  });
});

function promtool(): string | undefined {
  const bin = process.env.HERALDLB_PROMTOOL ?? '';
  const problems: string[] = [];
  if (!bin)
    problems.push('HERALDLB_PROMTOOL is not set (export HERALDLB_PROMTOOL="$(bash lab/bin/promtool.sh)")');
  else {
    try {
      accessSync(bin, constants.X_OK);
    } catch {
      problems.push(`HERALDLB_PROMTOOL=${bin} is not an executable file`);
    }
  }
  return refuseOrWarn('promtool', problems) ? bin : undefined;
}

const bin = promtool();

describe.runIf(bin)('promtool', () => {
  const run = (...args: string[]) => {
    const r = spawnSync(bin!, args, { encoding: 'utf8', timeout: 60_000 });
    return { code: r.status, out: `${r.stdout}${r.stderr}` };
  };

  it('check rules: the chart rules are valid', () => {
    const r = run('check', 'rules', RULES);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('test rules: every alert fires when it should and stays quiet when it should', () => {
    const r = run('test', 'rules', RULE_TESTS);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('SUCCESS');
  });
});
