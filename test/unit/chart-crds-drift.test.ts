import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ChartCrdError,
  chartCrds,
  chartCrdTemplate,
  readChartCrds,
  readCrdFiles,
} from '../../lab/gen-chart-crds.js';

const root = resolve(import.meta.dirname, '..', '..');

describe('charts/heraldlb/templates/crds', () => {
  it('is exactly what lab/gen-chart-crds.ts makes of crds/ (run `npm run gen:chart-crds`)', () => {
    const expected = chartCrds(readCrdFiles(resolve(root, 'crds')));
    const committed = readChartCrds(resolve(root, 'charts', 'heraldlb', 'templates', 'crds'));
    // Names first: a CRD added to or removed from crds/ shows up as a file list difference.
    expect([...committed.keys()]).toEqual([...expected.keys()]);
    for (const [name, text] of expected) expect(committed.get(name), name).toBe(text);
  });
});

describe('chartCrdTemplate', () => {
  const crd = (meta: string, rest = '') =>
    `# a comment\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n${meta}spec:\n  group: x.io\n${rest}`;

  it('adds the keep policy and labels under metadata, inside the crds.enabled guard', () => {
    const out = chartCrdTemplate('x.yaml', crd('  name: things.x.io\n'));
    expect(out).toContain('{{- if .Values.crds.enabled }}\n# a comment\n');
    expect(out).toContain(
      'metadata:\n  annotations:\n    # Uninstalling the chart must not delete the CRDs, and with them every pool and advert.\n    helm.sh/resource-policy: keep\n  labels:\n    {{- include "heraldlb.labels" . | nindent 4 }}\n  name: things.x.io\n',
    );
    expect(out.endsWith('  group: x.io\n{{- end }}\n')).toBe(true);
  });

  it('passes `{{` in the CRD text through to the API server unevaluated', () => {
    const out = chartCrdTemplate('x.yaml', crd('  name: t\n', '  description: "use {{ name }}"\n'));
    expect(out).toContain('description: "use {{ "{{" }} name }}"');
  });

  it.each(['annotations', 'labels'])('refuses a CRD whose metadata already has %s', (key) => {
    expect(() => chartCrdTemplate('x.yaml', crd(`  name: t\n  ${key}:\n    a: b\n`))).toThrow(ChartCrdError);
  });

  it('refuses a file with no top-level metadata', () => {
    expect(() => chartCrdTemplate('x.yaml', 'kind: CustomResourceDefinition\n')).toThrow(/no top-level/);
  });

  it('orders the output by file name, whatever the input order', () => {
    const files = new Map([
      ['b.yaml', crd('  name: b\n')],
      ['a.yaml', crd('  name: a\n')],
    ]);
    expect([...chartCrds(files).keys()]).toEqual(['a.yaml', 'b.yaml']);
  });
});
