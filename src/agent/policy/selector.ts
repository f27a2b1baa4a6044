/**
 * Label selectors as Cilium evaluates them against identity labels. Identity labels carry a source
 * (`k8s:app=web`, `reserved:host`); a selector key without a source means any source (Cilium's `any:` prefix), so
 * `app: web` matches `k8s:app=web` and `container:app=web` alike, while `k8s:app: web` matches only the former.
 */
import { compileSelector, selectorIssues, type LabelMatcher, type Labels } from '../../k8s/label-selector.js';
import type { LabelSelector, LabelSelectorRequirement } from '../../k8s/types.js';
import { parseLabel, type Label } from '../../wire/index.js';

export const ANY_SOURCE = 'any';
export const K8S_SOURCE = 'k8s';
export const RESERVED_SOURCE = 'reserved';

/** A set of identity labels in the form selectors test: `source:key` and `any:key` -> value. */
export type LabelRecord = Labels;

/** Builds the lookup record selectors run against. */
export function labelRecord(labels: Iterable<Label | string>): LabelRecord {
  const out: Record<string, string> = {};
  for (const raw of labels) {
    const l = typeof raw === 'string' ? parseLabel(raw) : raw;
    if (l.key === '') continue;
    out[`${l.source}:${l.key}`] = l.value;
    out[`${ANY_SOURCE}:${l.key}`] ??= l.value;
  }
  return out;
}

/** `app` -> `any:app`; `k8s:app` stays; `$host` -> `reserved:host` (Cilium's GetExtendedKeyFrom). */
export function extendedKey(key: string): string {
  if (key.startsWith('$')) return `${RESERVED_SOURCE}:${key.slice(1)}`;
  const colon = key.indexOf(':');
  if (colon > 0) return key;
  if (key.startsWith(`${RESERVED_SOURCE}.`)) return `${RESERVED_SOURCE}:${key.slice(RESERVED_SOURCE.length + 1)}`;
  return `${ANY_SOURCE}:${key}`;
}

/** A selector with every key in extended form, values and requirements in a canonical order. */
export interface NormalSelector {
  matchLabels: Record<string, string>;
  matchExpressions: LabelSelectorRequirement[];
}

export class SelectorError extends Error {
  override name = 'SelectorError';
  constructor(
    message: string,
    readonly path: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Validates a selector from a policy and brings its keys to extended form. */
export function normalizeSelector(sel: unknown): NormalSelector {
  const issues = selectorIssues(sel, { ciliumKeys: true });
  const first = issues[0];
  if (first) {
    const where = first.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('');
    throw new SelectorError(first.message, where.startsWith('.') ? where.slice(1) : where);
  }
  const s = sel as LabelSelector;
  const matchLabels: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.matchLabels ?? {})) matchLabels[extendedKey(k)] = v;
  const matchExpressions = (s.matchExpressions ?? []).map((r) => {
    const req: LabelSelectorRequirement = { key: extendedKey(r.key), operator: r.operator };
    if (r.operator === 'In' || r.operator === 'NotIn') req.values = [...new Set(r.values ?? [])].sort();
    return req;
  });
  return { matchLabels, matchExpressions };
}

/** Whether the selector constrains `key` (given in extended form) under its own source or `any:`. */
export function selectorHasKey(sel: NormalSelector, key: string): boolean {
  const colon = key.indexOf(':');
  const bare = key.slice(colon + 1);
  const forms = [key, `${ANY_SOURCE}:${bare}`];
  return forms.some((k) => Object.hasOwn(sel.matchLabels, k) || sel.matchExpressions.some((r) => r.key === k));
}

/** Whether any key of the selector (extended form) starts with one of `prefixes`. */
export function selectorHasKeyPrefix(sel: NormalSelector, ...prefixes: string[]): boolean {
  const keys = [...Object.keys(sel.matchLabels), ...sel.matchExpressions.map((r) => r.key)];
  return keys.some((k) => prefixes.some((f) => k.startsWith(f)));
}

export function isEmptySelector(sel: NormalSelector): boolean {
  return Object.keys(sel.matchLabels).length === 0 && sel.matchExpressions.length === 0;
}

/** A stable text form: two selectors with the same key select the same identities. */
export function selectorKey(sel: NormalSelector): string {
  const labels = Object.entries(sel.matchLabels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const exprs = sel.matchExpressions
    .map((r) => `${r.key} ${r.operator} (${(r.values ?? []).join(',')})`)
    .sort()
    .filter((e, i, a) => i === 0 || a[i - 1] !== e);
  return [...labels.map(([k, v]) => `${k}=${v}`), ...exprs].join(', ') || '<all>';
}

export function compileNormal(sel: NormalSelector): LabelMatcher {
  return compileSelector(sel, { ciliumKeys: true });
}

export function selectorFromLabels(labels: readonly string[]): NormalSelector {
  const matchLabels: Record<string, string> = {};
  for (const raw of labels) {
    const l = parseLabel(raw);
    matchLabels[`${l.source}:${l.key}`] = l.value;
  }
  return { matchLabels, matchExpressions: [] };
}
