import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManifestError, parseManifest } from '../../src/k8s/manifest.js';

describe('parseManifest', () => {
  it('parses multi-document YAML, skipping empty documents, with locations', () => {
    const text = [
      '# a leading comment',
      'apiVersion: v1',
      'kind: Namespace',
      'metadata: {name: shop}',
      '---',
      '---',
      '# only a comment',
      '---',
      'apiVersion: v1',
      'kind: Pod',
      'metadata:',
      '  name: web',
      '  namespace: shop',
      '',
    ].join('\n');
    const docs = parseManifest(text, 'shop.yaml');
    assert.deepEqual(
      docs.map((d) => [d.index, d.line, d.object.kind, d.location]),
      [
        [0, 2, 'Namespace', 'shop.yaml: document 1 (line 2)'],
        [3, 9, 'Pod', 'shop.yaml: document 4 (line 9)'],
      ],
    );
    assert.deepEqual(docs[1]!.object.metadata, { name: 'web', namespace: 'shop' });
  });

  it('expands kind: List into its items with their own lines', () => {
    const text = [
      'apiVersion: v1',
      'kind: List',
      'items:',
      '- apiVersion: v1',
      '  kind: Pod',
      '  metadata: {name: a, namespace: shop}',
      '- apiVersion: v1',
      '  kind: Pod',
      '  metadata: {name: b, namespace: shop}',
    ].join('\n');
    const docs = parseManifest(text);
    assert.deepEqual(
      docs.map((d) => [d.index, d.item, d.line, (d.object.metadata as { name: string }).name, d.location]),
      [
        [0, 0, 4, 'a', 'document 1, item 1 (line 4)'],
        [0, 1, 7, 'b', 'document 1, item 2 (line 7)'],
      ],
    );
  });

  it('accepts JSON and empty input', () => {
    assert.equal(parseManifest('{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}').length, 1);
    assert.deepEqual(parseManifest(''), []);
    assert.deepEqual(parseManifest('---\n# nothing\n'), []);
  });

  it('names every bad document with its index and line', () => {
    const text = [
      'apiVersion: v1', // 1
      'kind: Namespace', // 2
      'metadata: {name: ok}', // 3
      '---', // 4
      'metadata: [1, 2', // 5
      '---', // 6
      '- just', // 7
      '- a list', // 8
      '---', // 9
      'kind: List', // 10
      'items: 3', // 11
      '---', // 12
      'a: 1', // 13
      'a: 2', // 14
      '---', // 15
      'x: *undefined', // 16
    ].join('\n');
    let err: unknown;
    try {
      parseManifest(text, 'bad.yaml');
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof ManifestError);
    assert.deepEqual(
      err.issues.map((i) => i.index),
      [1, 2, 3, 4, 5],
    );
    const lines = err.message.split('\n');
    assert.match(lines[0]!, /^bad\.yaml: document 2 \(line \d+\): invalid YAML/);
    assert.equal(lines[1], 'bad.yaml: document 3 (line 7): must be a mapping with apiVersion, kind and metadata');
    assert.equal(lines[2], 'bad.yaml: document 4 (line 10): a List must have an items list');
    assert.match(lines[3]!, /^bad\.yaml: document 5 \(line 1[34]\): invalid YAML: Map keys must be unique/);
    assert.match(lines[4]!, /^bad\.yaml: document 6 \(line 16\): invalid YAML/);
  });

  it('refuses alias bombs', () => {
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]',
      'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]',
      'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]',
    ].join('\n');
    assert.throws(() => parseManifest(bomb), ManifestError);
  });
});
