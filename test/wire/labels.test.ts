import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CLUSTER_LABEL,
  clusterOfLabels,
  formatLabel,
  labelsFromMap,
  labelsFromModel,
  labelString,
  parseLabel,
  parseLabelString,
  type Label,
} from '../../src/wire/index.js';

describe('labels', () => {
  const parse: [string, Label][] = [
    ['k8s:app=web', { source: 'k8s', key: 'app', value: 'web' }],
    ['app=web', { source: 'unspec', key: 'app', value: 'web' }],
    ['k8s:a=b=c', { source: 'k8s', key: 'a', value: 'b=c' }],
    ['reserved:host', { source: 'reserved', key: 'host', value: '' }],
    ['reserved:host=', { source: 'reserved', key: 'host', value: '' }],
    ['$host', { source: 'reserved', key: 'host', value: '' }],
    ['reserved.world', { source: 'reserved', key: 'world', value: '' }],
    ['reserved:=init', { source: 'reserved', key: 'init', value: '' }],
    ['k8s:io.kubernetes.pod.namespace=shop', { source: 'k8s', key: 'io.kubernetes.pod.namespace', value: 'shop' }],
    ['cidr:10.0.0.0/8', { source: 'cidr', key: '10.0.0.0/8', value: '' }],
  ];
  for (const [text, label] of parse) {
    it(`parses ${JSON.stringify(text)} as Cilium does`, () => {
      assert.deepEqual(parseLabel(text), label);
    });
  }

  it('formats labels in the human and kvstore forms', () => {
    assert.equal(formatLabel({ source: 'k8s', key: 'app', value: 'web' }), 'k8s:app=web');
    assert.equal(formatLabel({ source: 'reserved', key: 'host', value: '' }), 'reserved:host');
    assert.equal(labelString([{ source: 'reserved', key: 'host', value: '' }]), 'reserved:host=;');
  });

  it('sorts by key (not by source), keeps one label per key and ends every label with ";"', () => {
    const labels = labelsFromModel(['k8s:zeta=1', 'container:alpha=2', 'k8s:Beta=3', 'k8s:alpha=4']);
    assert.equal(labelString(labels), 'k8s:Beta=3;k8s:alpha=4;k8s:zeta=1;');
    assert.equal(labelString([]), '');
  });

  it('sorts in Go byte order, also for non-ASCII keys', () => {
    // U+FF5E (UTF-8 ef bd 9e) sorts before U+1F600 (UTF-8 f0 9f 98 80) in Go, after it in UTF-16.
    const s = labelString([
      { source: 'k8s', key: '\u{1F600}', value: '' },
      { source: 'k8s', key: '\uFF5E', value: '' },
    ]);
    assert.equal(s, 'k8s:\uFF5E=;k8s:\u{1F600}=;');
  });

  it('parses a label string back to the same labels', () => {
    const s = 'k8s:app=baz;k8s:io.cilium.k8s.policy.cluster=cluster3;k8s:io.kubernetes.pod.namespace=bar;';
    const labels = parseLabelString(s);
    assert.equal(labels.length, 3);
    assert.equal(labelString(labels), s);
    assert.equal(clusterOfLabels(labels), 'cluster3');
  });

  it('builds labels from a security-labels map, defaulting the source to unspec', () => {
    const labels = labelsFromMap({ 'k8s:app': 'web', team: 'x', [`k8s:${CLUSTER_LABEL}`]: 'east' });
    assert.equal(labelString(labels), 'k8s:app=web;k8s:io.cilium.k8s.policy.cluster=east;unspec:team=x;');
    assert.equal(clusterOfLabels(labels), 'east');
    assert.equal(clusterOfLabels(labelsFromModel([`container:${CLUSTER_LABEL}=east`])), undefined);
  });
});
