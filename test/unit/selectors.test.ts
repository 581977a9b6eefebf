import { describe, expect, it } from 'vitest';
import type { LabelSelector } from '../../api/crd-types.js';
import { matchesAny, matchesSelector, sameLabels, selectorProblem } from '../../api/selectors.js';

// The schema admits only four operators; the pure layer still refuses others (objects
// written before the schema, or by a client that skipped validation).
const BOGUS_OPERATOR = 'Near' as unknown as 'In';

const labels = { app: 'web', tier: 'lan' };

describe('label selectors', () => {
  it.each<[LabelSelector, boolean]>([
    [{}, true],
    [{ matchLabels: { app: 'web' } }, true],
    [{ matchLabels: { app: 'web', tier: 'wan' } }, false],
    [{ matchExpressions: [{ key: 'app', operator: 'In', values: ['web', 'api'] }] }, true],
    [{ matchExpressions: [{ key: 'app', operator: 'In', values: ['api'] }] }, false],
    [{ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, true],
    [{ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['lan'] }] }, false],
    [{ matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, true],
    [{ matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }, false],
    [{ matchLabels: { app: 'web' }, matchExpressions: [{ key: 'zone', operator: 'Exists' }] }, false],
    [{ matchExpressions: [{ key: 'toString', operator: 'Exists' }] }, false],
  ])('%j -> %s', (sel, want) => {
    expect(matchesSelector(sel, labels)).toBe(want);
  });

  it('ORs a list; an empty list matches nothing', () => {
    expect(matchesAny([{ matchLabels: { app: 'x' } }, { matchLabels: { tier: 'lan' } }], labels)).toBe(true);
    expect(matchesAny([], labels)).toBe(false);
  });

  it.each<[LabelSelector, RegExp | undefined]>([
    [{ matchExpressions: [{ key: 'a', operator: 'In', values: ['x'] }] }, undefined],
    [{ matchExpressions: [{ key: 'a', operator: BOGUS_OPERATOR, values: ['x'] }] }, /unknown operator/],
    [{ matchExpressions: [{ key: 'a', operator: 'In' }] }, /at least one value/],
    [{ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }, /takes no values/],
    [{ matchExpressions: [{ key: '', operator: 'Exists' }] }, /without a key/],
  ])('validates %j', (sel, want) => {
    const p = selectorProblem(sel);
    if (want) expect(p).toMatch(want);
    else expect(p).toBeUndefined();
  });

  it('compares label maps regardless of key order', () => {
    expect(sameLabels({ a: '1', b: '2' }, { b: '2', a: '1' })).toBe(true);
    expect(sameLabels({ a: '1' }, { a: '1', b: '2' })).toBe(false);
    expect(sameLabels({}, {})).toBe(true);
  });
});
