import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  LabelSelectorError,
  compileSelector,
  formatSelector,
  parseSelector,
  toMatcher,
} from '../../src/k8s/label-selector.js';
import type { LabelSelector } from '../../src/k8s/types.js';

const web = { app: 'web', tier: 'front', env: 'prod' };
const db = { app: 'db', tier: 'db', env: 'dev', legacy: 'true' };
const bare = {};

describe('compileSelector', () => {
  const cases: {
    name: string;
    sel: LabelSelector;
    matches: Record<string, string>[];
    rejects: Record<string, string>[];
  }[] = [
    { name: 'empty selector matches everything', sel: {}, matches: [web, db, bare], rejects: [] },
    { name: 'matchLabels', sel: { matchLabels: { app: 'web' } }, matches: [web], rejects: [db, bare] },
    {
      name: 'matchLabels with two keys is a conjunction',
      sel: { matchLabels: { app: 'web', env: 'dev' } },
      matches: [],
      rejects: [web, db],
    },
    {
      name: 'In',
      sel: { matchExpressions: [{ key: 'env', operator: 'In', values: ['prod', 'staging'] }] },
      matches: [web],
      rejects: [db, bare],
    },
    {
      name: 'In with one value',
      sel: { matchExpressions: [{ key: 'env', operator: 'In', values: ['dev'] }] },
      matches: [db],
      rejects: [web, bare],
    },
    {
      name: 'NotIn matches objects without the key',
      sel: { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] },
      matches: [db, bare],
      rejects: [web],
    },
    {
      name: 'Exists',
      sel: { matchExpressions: [{ key: 'legacy', operator: 'Exists' }] },
      matches: [db],
      rejects: [web, bare],
    },
    {
      name: 'DoesNotExist',
      sel: { matchExpressions: [{ key: 'legacy', operator: 'DoesNotExist' }] },
      matches: [web, bare],
      rejects: [db],
    },
    {
      name: 'matchLabels and expressions combine',
      sel: { matchLabels: { tier: 'front' }, matchExpressions: [{ key: 'env', operator: 'In', values: ['prod'] }] },
      matches: [web],
      rejects: [db, bare],
    },
    {
      name: 'prototype keys are not labels',
      sel: { matchExpressions: [{ key: 'constructor', operator: 'Exists' }] },
      matches: [],
      rejects: [web, bare],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const m = compileSelector(c.sel);
      for (const l of c.matches) assert.equal(m(l), true, `should match ${JSON.stringify(l)}`);
      for (const l of c.rejects) assert.equal(m(l), false, `should not match ${JSON.stringify(l)}`);
    });
  }

  it('treats undefined labels as no labels', () => {
    assert.equal(compileSelector({ matchExpressions: [{ key: 'a', operator: 'DoesNotExist' }] })(undefined), true);
    assert.equal(compileSelector({ matchLabels: { a: 'b' } })(undefined), false);
  });

  const invalid: { name: string; sel: unknown; message: RegExp }[] = [
    {
      name: 'unknown operator',
      sel: { matchExpressions: [{ key: 'a', operator: 'Equals', values: ['x'] }] },
      message: /matchExpressions\[0\]\.operator: must be one of In, NotIn, Exists, DoesNotExist \(got "Equals"\)/,
    },
    {
      name: 'In without values',
      sel: { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] },
      message: /matchExpressions\[0\]\.values: must be non-empty when operator is In/,
    },
    {
      name: 'Exists with values',
      sel: { matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] },
      message: /matchExpressions\[0\]\.values: must be empty when operator is Exists/,
    },
    {
      name: 'bad key',
      sel: { matchLabels: { '-bad': 'x' } },
      message: /matchLabels\.-bad: invalid label key/,
    },
    {
      name: 'bad value',
      sel: { matchExpressions: [{ key: 'a', operator: 'In', values: ['has space'] }] },
      message: /matchExpressions\[0\]\.values\[0\]: invalid label value: "has space"/,
    },
    {
      name: 'Cilium source prefix without ciliumKeys',
      sel: { matchLabels: { 'k8s:app': 'web' } },
      message: /invalid label key/,
    },
  ];
  for (const c of invalid) {
    it(`rejects ${c.name}`, () => {
      assert.throws(
        () => compileSelector(c.sel as LabelSelector),
        (e: unknown) => e instanceof LabelSelectorError && c.message.test(e.message),
      );
    });
  }

  it('accepts Cilium source-prefixed keys when asked', () => {
    const m = compileSelector({ matchLabels: { 'k8s:app': 'web' } }, { ciliumKeys: true });
    assert.equal(m({ 'k8s:app': 'web' }), true);
  });
});

describe('parseSelector', () => {
  const cases: { input: string; matches: Record<string, string>[]; rejects: Record<string, string>[] }[] = [
    { input: '', matches: [web, db, bare], rejects: [] },
    { input: 'app=web', matches: [web], rejects: [db, bare] },
    { input: 'app==web', matches: [web], rejects: [db] },
    { input: 'app!=web', matches: [db, bare], rejects: [web] },
    { input: 'app=web,tier!=db', matches: [web], rejects: [db] },
    { input: 'env in (prod, staging)', matches: [web], rejects: [db, bare] },
    { input: 'env notin (prod)', matches: [db, bare], rejects: [web] },
    { input: 'legacy', matches: [db], rejects: [web, bare] },
    { input: '!legacy', matches: [web, bare], rejects: [db] },
    { input: 'app=web,tier!=db,env in (prod,b),!legacy', matches: [web], rejects: [db, bare] },
    { input: '  app = web ,  !legacy ', matches: [web], rejects: [db] },
    { input: 'example.com/team=a', matches: [{ 'example.com/team': 'a' }], rejects: [web] },
    { input: 'app=', matches: [{ app: '' }], rejects: [web, bare] },
  ];
  for (const c of cases) {
    it(`"${c.input}"`, () => {
      const m = toMatcher(c.input);
      for (const l of c.matches) assert.equal(m(l), true, `should match ${JSON.stringify(l)}`);
      for (const l of c.rejects) assert.equal(m(l), false, `should not match ${JSON.stringify(l)}`);
    });
  }

  const bad: { input: string; message: RegExp }[] = [
    { input: 'app=web,', message: /expected a label key at position 8/ },
    { input: 'env in prod', message: /expected "\(" after in at position 7/ },
    { input: 'env in (a,b', message: /expected "," or "\)" at position 11/ },
    { input: 'a>1', message: /unexpected character '>' at position 1/ },
    { input: 'app web', message: /expected "," or the end at position 4/ },
    { input: '!', message: /expected a label key after "!"/ },
    { input: 'app=has~tilde', message: /unexpected character '~'/ },
    { input: '-app=x', message: /requirement on "-app": invalid label key/ },
  ];
  for (const c of bad) {
    it(`rejects "${c.input}"`, () => {
      assert.throws(
        () => parseSelector(c.input),
        (e: unknown) => e instanceof LabelSelectorError && c.message.test(e.message),
      );
    });
  }

  it('round-trips through formatSelector', () => {
    const s = 'app=web,tier!=db,env in (a,b),env notin (c,d),release,!legacy';
    assert.equal(formatSelector(parseSelector(s)), s);
  });
});
