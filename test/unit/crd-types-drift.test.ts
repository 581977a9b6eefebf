import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { generateTypes, readCrdTexts, type Schema } from '../../api/gen-types.js';

const root = resolve(import.meta.dirname, '..', '..');
const crdTexts = readCrdTexts(resolve(root, 'crds'));

/** Every sub-schema whose property name (or, for arrays, whose items' property name) matches. */
function schemasAt(s: Schema, match: (prop: string) => boolean, out: Schema[] = []): Schema[] {
  for (const [prop, sub] of Object.entries(s.properties ?? {})) {
    const target = sub.type === 'array' && sub.items ? sub.items : sub;
    if (match(prop)) out.push(target);
    schemasAt(target, match, out);
  }
  return out;
}

function rootSchemas(): Schema[] {
  return crdTexts.map((t) => {
    const crd = parse(t) as { spec: { versions: { schema: { openAPIV3Schema: Schema } }[] } };
    return crd.spec.versions[0]!.schema.openAPIV3Schema;
  });
}

describe('api/crd-types.ts', () => {
  it('is exactly what api/gen-types.ts generates from crds/ (run `npm run build && npm run gen:types`)', () => {
    const committed = readFileSync(resolve(root, 'api', 'crd-types.ts'), 'utf8');
    expect(committed).toBe(generateTypes(crdTexts));
  });

  it('does not depend on the order the CRD files are read in', () => {
    expect(generateTypes([...crdTexts].reverse())).toBe(generateTypes(crdTexts));
  });
});

// The selector and condition schemas are written out once per use in the CRD YAML; a fix
// applied to one copy only would make validation differ between fields.
describe('repeated CRD schema fragments', () => {
  it('every label selector has the same schema and validation', () => {
    const selectors = rootSchemas().flatMap((s) => schemasAt(s, (p) => p.endsWith('Selectors')));
    expect(selectors.length).toBe(4);
    for (const s of selectors) expect(s).toEqual(selectors[0]);
  });

  it('every conditions list has the same schema', () => {
    const conds = rootSchemas().flatMap((s) => schemasAt(s, (p) => p === 'conditions'));
    expect(conds.length).toBe(2);
    for (const c of conds) expect(c).toEqual(conds[0]);
  });
});

describe('generateTypes', () => {
  it('refuses an object schema it has no type name for', () => {
    const crd = `
spec:
  group: g.io
  names: { kind: Thing, plural: things }
  versions:
  - name: v1
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              nested: { type: object, properties: { a: { type: string } } }
`;
    expect(() => generateTypes([crd])).toThrow(/needs a type name/);
  });
});
