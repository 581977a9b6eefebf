/**
 * Kubernetes label selectors (metav1.LabelSelector semantics), pure.
 *
 * Exported API:
 *   type Labels = Readonly<Record<string, string>>
 *   selectorProblem(sel) -> string | undefined     // why a selector is invalid, for pool problems
 *   matchesSelector(sel, labels) -> boolean         // all matchLabels AND all expressions; {} matches all
 *   matchesAny(sels, labels) -> boolean             // OR over a list; an empty list matches nothing
 *   sameLabels(a, b) -> boolean                     // equal as maps (key order irrelevant)
 */
import type { LabelSelector, LabelSelectorRequirement } from './crd-types.js';

export type Labels = Readonly<Record<string, string>>;

const OPERATORS = new Set(['In', 'NotIn', 'Exists', 'DoesNotExist']);

function requirementProblem(r: LabelSelectorRequirement): string | undefined {
  if (!r.key) return 'matchExpressions entry without a key';
  if (!OPERATORS.has(r.operator)) return `unknown operator "${r.operator}" for key "${r.key}"`;
  const n = r.values?.length ?? 0;
  if ((r.operator === 'In' || r.operator === 'NotIn') && n === 0) {
    return `operator ${r.operator} for key "${r.key}" needs at least one value`;
  }
  if ((r.operator === 'Exists' || r.operator === 'DoesNotExist') && n > 0) {
    return `operator ${r.operator} for key "${r.key}" takes no values`;
  }
  return undefined;
}

/** Mirrors apimachinery's LabelSelectorAsSelector validation for what we evaluate. */
export function selectorProblem(sel: LabelSelector): string | undefined {
  for (const r of sel.matchExpressions ?? []) {
    const p = requirementProblem(r);
    if (p) return p;
  }
  return undefined;
}

function matchesRequirement(r: LabelSelectorRequirement, labels: Labels): boolean {
  const has = Object.hasOwn(labels, r.key);
  switch (r.operator) {
    case 'In':
      return has && (r.values ?? []).includes(labels[r.key] as string);
    case 'NotIn':
      return !has || !(r.values ?? []).includes(labels[r.key] as string);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    default:
      return false; // invalid selectors never match (and are reported by selectorProblem)
  }
}

export function matchesSelector(sel: LabelSelector, labels: Labels): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) {
    if (!Object.hasOwn(labels, k) || labels[k] !== v) return false;
  }
  return (sel.matchExpressions ?? []).every((r) => matchesRequirement(r, labels));
}

export const matchesAny = (sels: readonly LabelSelector[], labels: Labels): boolean =>
  sels.some((s) => matchesSelector(s, labels));

export function sameLabels(a: Labels, b: Labels): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && b[k] === a[k]);
}
