/**
 * Kubernetes label selectors: the structured form (matchLabels + matchExpressions) compiled into a matcher, and
 * the string form `cmesh get -l` takes (`app=web,tier!=db,env in (a,b),!legacy`).
 */
import { checkCiliumLabelKey, checkLabelValue, checkQualifiedName } from './names.js';
import type { LabelSelector, LabelSelectorRequirement } from './types.js';

export type Labels = Readonly<Record<string, string>>;
export type LabelMatcher = (labels: Labels | undefined) => boolean;

export class LabelSelectorError extends Error {
  override name = 'LabelSelectorError';
  constructor(
    message: string,
    /** Where in the selector: `matchExpressions[1].values`, or a character offset in the string form. */
    readonly path: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface SelectorOptions {
  /** Accept Cilium source-prefixed keys (`k8s:app`), as in policy endpointSelectors. */
  ciliumKeys?: boolean;
}

const OPERATORS = new Set(['In', 'NotIn', 'Exists', 'DoesNotExist']);

/** Every problem in a structured selector as {path, message}; empty when it is valid. */
export function selectorIssues(
  sel: unknown,
  opts: SelectorOptions = {},
): { path: (string | number)[]; message: string }[] {
  const issues: { path: (string | number)[]; message: string }[] = [];
  const checkKey = opts.ciliumKeys ? checkCiliumLabelKey : checkQualifiedName;
  if (typeof sel !== 'object' || sel === null || Array.isArray(sel)) {
    return [{ path: [], message: 'must be an object with matchLabels and/or matchExpressions' }];
  }
  const { matchLabels, matchExpressions } = sel as Record<string, unknown>;
  if (matchLabels !== undefined && matchLabels !== null) {
    if (typeof matchLabels !== 'object' || Array.isArray(matchLabels)) {
      issues.push({ path: ['matchLabels'], message: 'must be a map of label keys to values' });
    } else {
      for (const [k, v] of Object.entries(matchLabels)) {
        const badKey = checkKey(k);
        if (badKey) issues.push({ path: ['matchLabels', k], message: `invalid label key: ${badKey}` });
        if (typeof v !== 'string') issues.push({ path: ['matchLabels', k], message: 'value must be a string' });
        else {
          const badVal = checkLabelValue(v);
          if (badVal) issues.push({ path: ['matchLabels', k], message: `invalid label value: ${badVal}` });
        }
      }
    }
  }
  if (matchExpressions !== undefined && matchExpressions !== null) {
    if (!Array.isArray(matchExpressions)) {
      issues.push({ path: ['matchExpressions'], message: 'must be a list of requirements' });
    } else {
      matchExpressions.forEach((req: unknown, i) => {
        issues.push(
          ...requirementIssues(req, checkKey).map((x) => ({
            path: ['matchExpressions', i, ...x.path],
            message: x.message,
          })),
        );
      });
    }
  }
  return issues;
}

function requirementIssues(
  req: unknown,
  checkKey: (s: string) => string | undefined,
): { path: (string | number)[]; message: string }[] {
  if (typeof req !== 'object' || req === null || Array.isArray(req)) {
    return [{ path: [], message: 'must be an object with key, operator and values' }];
  }
  const { key, operator, values } = req as Record<string, unknown>;
  const issues: { path: (string | number)[]; message: string }[] = [];
  if (typeof key !== 'string') issues.push({ path: ['key'], message: 'must be a string' });
  else {
    const bad = checkKey(key);
    if (bad) issues.push({ path: ['key'], message: `invalid label key: ${bad}` });
  }
  if (typeof operator !== 'string' || !OPERATORS.has(operator)) {
    issues.push({
      path: ['operator'],
      message: `must be one of In, NotIn, Exists, DoesNotExist (got ${JSON.stringify(operator)})`,
    });
    return issues;
  }
  if (values !== undefined && values !== null && !Array.isArray(values)) {
    issues.push({ path: ['values'], message: 'must be a list of strings' });
    return issues;
  }
  const vals = (values ?? []) as unknown[];
  if ((operator === 'In' || operator === 'NotIn') && vals.length === 0) {
    issues.push({ path: ['values'], message: `must be non-empty when operator is ${operator}` });
  }
  if ((operator === 'Exists' || operator === 'DoesNotExist') && vals.length > 0) {
    issues.push({ path: ['values'], message: `must be empty when operator is ${operator}` });
  }
  vals.forEach((v, i) => {
    if (typeof v !== 'string') issues.push({ path: ['values', i], message: 'must be a string' });
    else {
      const bad = checkLabelValue(v);
      if (bad) issues.push({ path: ['values', i], message: `invalid label value: ${bad}` });
    }
  });
  return issues;
}

function formatPath(path: readonly (string | number)[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? p : `.${p}`;
  return s;
}

/**
 * Compiles a selector into a matcher. An empty selector (`{}`) matches everything, as in Kubernetes; callers
 * decide what an absent selector means. Throws LabelSelectorError naming the first bad field.
 */
export function compileSelector(sel: LabelSelector, opts: SelectorOptions = {}): LabelMatcher {
  const issues = selectorIssues(sel, opts);
  const first = issues[0];
  if (first) {
    const where = formatPath(first.path);
    throw new LabelSelectorError(`label selector ${where ? `${where}: ` : ''}${first.message}`, where);
  }
  const tests: ((labels: Labels) => boolean)[] = [];
  const eq = Object.entries(sel.matchLabels ?? {});
  for (const req of sel.matchExpressions ?? []) tests.push(requirementTest(req));
  if (eq.length === 0 && tests.length === 0) return () => true;
  return (labels) => {
    const l = labels ?? {};
    for (const [k, v] of eq) if (!Object.hasOwn(l, k) || l[k] !== v) return false;
    for (const t of tests) if (!t(l)) return false;
    return true;
  };
}

function requirementTest(req: LabelSelectorRequirement): (labels: Labels) => boolean {
  const { key } = req;
  const values = req.values ?? [];
  switch (req.operator) {
    case 'In': {
      if (values.length === 1) {
        const only = values[0];
        return (l) => Object.hasOwn(l, key) && l[key] === only;
      }
      const set = new Set(values);
      return (l) => Object.hasOwn(l, key) && set.has(l[key]!);
    }
    case 'NotIn': {
      const set = new Set(values);
      // Kubernetes: a missing key satisfies NotIn.
      return (l) => !Object.hasOwn(l, key) || !set.has(l[key]!);
    }
    case 'Exists':
      return (l) => Object.hasOwn(l, key);
    case 'DoesNotExist':
      return (l) => !Object.hasOwn(l, key);
  }
}

// ---- the string form ----

type Token =
  | { t: 'ident'; v: string; at: number }
  | { t: 'op'; v: '=' | '==' | '!=' | '!' | '(' | ')' | ','; at: number }
  | { t: 'end'; at: number };

const IDENT_CHARS = /[A-Za-z0-9\-_./:]/;

function tokenize(s: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === ' ' || c === '\t') {
      i++;
    } else if (c === '=' || c === '!') {
      if (s[i + 1] === '=') {
        out.push({ t: 'op', v: c === '=' ? '==' : '!=', at: i });
        i += 2;
      } else {
        out.push({ t: 'op', v: c, at: i });
        i++;
      }
    } else if (c === '(' || c === ')' || c === ',') {
      out.push({ t: 'op', v: c, at: i });
      i++;
    } else if (IDENT_CHARS.test(c)) {
      const start = i;
      while (i < s.length && IDENT_CHARS.test(s[i]!)) i++;
      out.push({ t: 'ident', v: s.slice(start, i), at: start });
    } else {
      throw new LabelSelectorError(`label selector "${s}": unexpected character '${c}' at position ${i}`, String(i));
    }
  }
  out.push({ t: 'end', at: s.length });
  return out;
}

/**
 * Parses `app=web,tier!=db,env in (a,b),env notin (c),release,!legacy` into a LabelSelector (all requirements as
 * matchExpressions; `a=b` is `a In (b)`, `a!=b` is `a NotIn (b)`). Throws LabelSelectorError on bad syntax or
 * invalid keys/values. An empty string selects everything.
 */
export function parseSelector(s: string, opts: SelectorOptions = {}): LabelSelector {
  const toks = tokenize(s);
  let pos = 0;
  const peek = (): Token => toks[pos]!;
  const fail = (msg: string, at: number): never => {
    throw new LabelSelectorError(`label selector "${s}": ${msg} at position ${at}`, String(at));
  };
  const ident = (what: string): string => {
    const tok = peek();
    if (tok.t !== 'ident') return fail(`expected ${what}`, tok.at);
    pos++;
    return tok.v;
  };
  const reqs: LabelSelectorRequirement[] = [];
  if (peek().t === 'end') return { matchExpressions: [] };
  for (;;) {
    const tok = peek();
    if (tok.t === 'op' && tok.v === '!') {
      pos++;
      reqs.push({ key: ident('a label key after "!"'), operator: 'DoesNotExist' });
    } else {
      const key = ident('a label key');
      const next = peek();
      if (next.t === 'op' && (next.v === '=' || next.v === '==' || next.v === '!=')) {
        pos++;
        // `key=` selects an empty value, as in Kubernetes.
        const v = peek();
        let value = '';
        if (v.t === 'ident') {
          value = v.v;
          pos++;
        }
        reqs.push({ key, operator: next.v === '!=' ? 'NotIn' : 'In', values: [value] });
      } else if (next.t === 'ident' && (next.v === 'in' || next.v === 'notin')) {
        pos++;
        const open = peek();
        if (!(open.t === 'op' && open.v === '(')) fail(`expected "(" after ${next.v}`, open.at);
        pos++;
        const values: string[] = [];
        for (;;) {
          const v = peek();
          if (v.t === 'ident') {
            values.push(v.v);
            pos++;
          } else if (v.t === 'op' && (v.v === ',' || v.v === ')')) {
            // an empty value between separators, as in `in (a,,b)` or `in ()`: allowed by Kubernetes as ""
            values.push('');
          } else {
            fail('expected a value', v.at);
          }
          const sep = peek();
          if (sep.t === 'op' && sep.v === ',') {
            pos++;
            continue;
          }
          if (sep.t === 'op' && sep.v === ')') {
            pos++;
            break;
          }
          fail('expected "," or ")"', sep.at);
        }
        reqs.push({ key, operator: next.v === 'in' ? 'In' : 'NotIn', values });
      } else {
        reqs.push({ key, operator: 'Exists' });
      }
    }
    const sep = peek();
    if (sep.t === 'end') break;
    if (sep.t === 'op' && sep.v === ',') {
      pos++;
      continue;
    }
    fail('expected "," or the end', sep.at);
  }
  const sel: LabelSelector = { matchExpressions: reqs };
  const issues = selectorIssues(sel, opts);
  const first = issues[0];
  if (first) {
    const idx = first.path[1] as number;
    const req = reqs[idx]!;
    throw new LabelSelectorError(`label selector "${s}": requirement on "${req.key}": ${first.message}`, String(idx));
  }
  return sel;
}

/** Kubernetes string form of a selector (for display). */
export function formatSelector(sel: LabelSelector): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) parts.push(`${k}=${v}`);
  for (const r of sel.matchExpressions ?? []) {
    const values = r.values ?? [];
    switch (r.operator) {
      case 'In':
        parts.push(values.length === 1 ? `${r.key}=${values[0]!}` : `${r.key} in (${values.join(',')})`);
        break;
      case 'NotIn':
        parts.push(values.length === 1 ? `${r.key}!=${values[0]!}` : `${r.key} notin (${values.join(',')})`);
        break;
      case 'Exists':
        parts.push(r.key);
        break;
      case 'DoesNotExist':
        parts.push(`!${r.key}`);
        break;
    }
  }
  return parts.join(',');
}

/** Parses (string form) or validates (structured form) and compiles in one step. */
export function toMatcher(sel: string | LabelSelector | undefined, opts: SelectorOptions = {}): LabelMatcher {
  if (sel === undefined) return () => true;
  return compileSelector(typeof sel === 'string' ? parseSelector(sel, opts) : sel, opts);
}
