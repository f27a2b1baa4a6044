import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  cachedClusterConfig,
  decodeClusterConfig,
  effectiveMaxConnectedClusters,
  encodeClusterConfig,
  localClusterConfig,
  validateClusterId,
  validateClusterInfo,
  validateClusterName,
  validateMaxConnectedClusters,
  validateRemoteClusterConfig,
  ValidationError,
  WireFormatError,
  type ClusterConfig,
} from '../../src/wire/index.js';

describe('cluster names', () => {
  for (const ok of ['a', 'cluster3', 'east-1', 'a'.repeat(32), '0', 'default']) {
    it(`accepts ${JSON.stringify(ok)}`, () => {
      assert.equal(validateClusterName(ok), ok);
    });
  }
  const bad: [string, RegExp][] = [
    ['', /must not be empty/],
    ['East', /"East" is invalid.*lower case/],
    ['-east', /"-east" is invalid/],
    ['east-', /"east-" is invalid/],
    ['ea_st', /"ea_st" is invalid/],
    ['a'.repeat(33), /is 33 characters long, at most 32 allowed/],
  ];
  for (const [name, msg] of bad) {
    it(`rejects ${JSON.stringify(name)}`, () => {
      assert.throws(
        () => validateClusterName(name),
        (e: unknown) => e instanceof ValidationError && msg.test(e.message),
      );
    });
  }
  it('rejects "default" with a non-zero cluster ID but allows it with 0', () => {
    assert.throws(() => validateClusterName('default', 4), /"default" cannot be used with cluster ID 4/);
    assert.equal(validateClusterName('default', 0), 'default');
  });
});

describe('cluster IDs and max-connected-clusters', () => {
  const cases: [number, 255 | 511, string | null][] = [
    [0, 255, 'cluster ID 0 is reserved: expected 1..255'],
    [0, 511, 'cluster ID 0 is reserved: expected 1..511'],
    [1, 255, null],
    [255, 255, null],
    [256, 255, 'cluster ID 256 is outside 1..255 (max-connected-clusters 255)'],
    [256, 511, null],
    [511, 511, null],
    [512, 511, 'cluster ID 512 is outside 1..511 (max-connected-clusters 511)'],
    [1.5, 255, 'cluster ID 1.5 is not a non-negative integer'],
  ];
  for (const [id, max, err] of cases) {
    it(`${id} in ${max} mode: ${err ?? 'ok'}`, () => {
      if (err === null) assert.equal(validateClusterId(id, max), id);
      else assert.throws(() => validateClusterId(id, max), { name: 'ValidationError', message: err });
    });
  }
  it('accepts only 255 and 511', () => {
    assert.equal(validateMaxConnectedClusters(255), 255);
    assert.equal(validateMaxConnectedClusters(511), 511);
    for (const bad of [0, 256, 1023, '255']) {
      assert.throws(() => validateMaxConnectedClusters(bad), /supported values are 255 and 511/);
    }
  });
  it('validates a whole cluster info', () => {
    assert.throws(() => validateClusterInfo({ name: 'default', id: 3, maxConnectedClusters: 255 }), /"default"/);
    assert.throws(() => validateClusterInfo({ name: 'east', id: 300, maxConnectedClusters: 255 }), /300/);
    assert.deepEqual(validateClusterInfo({ name: 'east', id: 300, maxConnectedClusters: 511 }).id, 300);
  });
});

describe('cluster config codec', () => {
  it('omits empty fields the way Go omitempty does, keeping capabilities', () => {
    const empty: ClusterConfig = {
      id: 0,
      capabilities: { syncedCanaries: false, cached: false, maxConnectedClusters: 0 },
    };
    assert.equal(encodeClusterConfig(empty), '{"capabilities":{}}');
    assert.equal(
      encodeClusterConfig(cachedClusterConfig(localClusterConfig(5, 511, true))),
      '{"id":5,"capabilities":{"syncedCanaries":true,"cached":true,"maxConnectedClusters":511,"serviceExportsEnabled":true}}',
    );
    assert.equal(
      encodeClusterConfig(localClusterConfig(5, 255)),
      '{"id":5,"capabilities":{"syncedCanaries":true,"maxConnectedClusters":255}}',
    );
  });
  it('decodes old and new configs, tolerating unknown fields', () => {
    const old = decodeClusterConfig('{"id":2}');
    assert.deepEqual(old, { id: 2, capabilities: { syncedCanaries: false, cached: false, maxConnectedClusters: 0 } });
    assert.equal(effectiveMaxConnectedClusters(old), 255);
    const future = decodeClusterConfig(
      Buffer.from(
        '{"id":9,"capabilities":{"syncedCanaries":true,"cached":true,"maxConnectedClusters":511,"serviceExportsEnabled":false,"newThing":1},"extra":[]}',
      ),
    );
    assert.equal(future.capabilities.serviceExportsEnabled, false);
    assert.equal(
      encodeClusterConfig(future),
      '{"id":9,"capabilities":{"syncedCanaries":true,"cached":true,"maxConnectedClusters":511,"serviceExportsEnabled":false}}',
    );
  });
  it('rejects malformed configs with the field named', () => {
    assert.throws(
      () => decodeClusterConfig('{"id":'),
      (e: unknown) => e instanceof WireFormatError && e.message.includes('not valid JSON'),
    );
    assert.throws(() => decodeClusterConfig('[1]'), /must be a JSON object, got an array/);
    assert.throws(() => decodeClusterConfig('{"id":"3"}'), /field "id" must be an integer in 0..4294967295, got "3"/);
    assert.throws(
      () => decodeClusterConfig('{"id":3,"capabilities":{"cached":"yes"}}'),
      /field "cached" must be a boolean, got "yes"/,
    );
  });
});

describe('remote cluster config validation', () => {
  const local = { localId: 1, localMaxConnectedClusters: 255 as const, otherRemoteIds: new Map([[4, 'west']]) };
  const cfg = (id: number, max = 255): ClusterConfig => localClusterConfig(id, max as 255);
  it('accepts a fresh ID', () => {
    assert.equal(validateRemoteClusterConfig('east', cfg(7), local).id, 7);
  });
  it('accepts the ID this same remote already had', () => {
    assert.equal(validateRemoteClusterConfig('west', cfg(4), local).id, 4);
  });
  const rejections: [string, ClusterConfig, RegExp][] = [
    ['ID 0', cfg(0), /"east" has cluster ID 0 \(missing or incomplete cluster configuration\)/],
    ['the local ID', cfg(1), /cluster ID 1, the same as the local cluster/],
    ['an ID used by another remote', cfg(4), /cluster ID 4, already used by remote cluster "west"/],
    ['an ID above the local maximum', cfg(300, 511), /cluster ID 300, outside 1..255 supported locally/],
  ];
  for (const [what, c, msg] of rejections) {
    it(`rejects ${what}`, () => {
      assert.throws(() => validateRemoteClusterConfig('east', c, local), msg);
    });
  }
  it('requires matching MaxConnectedClusters only when the local cluster runs with 511', () => {
    const local511 = { ...local, localMaxConnectedClusters: 511 as const };
    assert.throws(
      () => validateRemoteClusterConfig('east', cfg(7, 255), local511),
      /mismatched MaxConnectedClusters: local=511, remote=255/,
    );
    assert.throws(
      () => validateRemoteClusterConfig('east', decodeClusterConfig('{"id":7}'), local511),
      /local=511, remote=0/,
    );
    assert.equal(validateRemoteClusterConfig('east', cfg(300, 511), local511).id, 300);
    assert.equal(validateRemoteClusterConfig('east', cfg(7, 511), local).id, 7);
  });
});
