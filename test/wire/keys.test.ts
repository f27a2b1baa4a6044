import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  cacheKey,
  clusterConfigKey,
  HEARTBEAT_KEY,
  identityKey,
  identityValueKey,
  initLockKey,
  ipcacheKey,
  keySuffix,
  MESH_RESOURCES,
  mirrorPrefixes,
  nodeKey,
  nodeRegisterKey,
  rebaseKey,
  requireKeySuffix,
  resourceWatchPrefix,
  serviceExportKey,
  serviceKey,
  splitIpcacheSuffix,
  splitNamespacedName,
  stateToCachePrefix,
  syncedCanaryKey,
} from '../../src/wire/index.js';

describe('keys', () => {
  it('builds every key of the spec', () => {
    assert.equal(HEARTBEAT_KEY, 'cilium/.heartbeat');
    assert.equal(clusterConfigKey('c'), 'cilium/cluster-config/c');
    assert.equal(nodeKey('c', 'n1'), 'cilium/state/nodes/v1/c/n1');
    assert.equal(serviceKey('c', 'ns', 'svc'), 'cilium/state/services/v1/c/ns/svc');
    assert.equal(serviceExportKey('c', 'ns', 'svc'), 'cilium/state/serviceexports/v1/c/ns/svc');
    assert.equal(ipcacheKey('10.0.0.1'), 'cilium/state/ip/v1/default/10.0.0.1');
    assert.equal(ipcacheKey('10.0.0.0', 24), 'cilium/state/ip/v1/default/10.0.0.0/24');
    assert.equal(ipcacheKey('fd00::1'), 'cilium/state/ip/v1/default/fd00::1');
    assert.equal(identityKey(459001), 'cilium/state/identities/v1/id/459001');
    assert.equal(identityValueKey('k8s:a=b;', '10.0.0.1'), 'cilium/state/identities/v1/value/k8s:a=b;/10.0.0.1');
    assert.equal(nodeRegisterKey('vm1'), 'cilium/state/noderegister/v1/vm1');
    assert.equal(initLockKey('x'), 'cilium/.initlock/x');
  });

  it('builds the canary keys an apiserver and a kvstoremesh write', () => {
    assert.deepEqual(
      MESH_RESOURCES.map((r) => syncedCanaryKey('c', r)),
      [
        'cilium/synced/c/cilium/state/nodes/v1',
        'cilium/synced/c/cilium/state/services/v1',
        'cilium/synced/c/cilium/state/serviceexports/v1',
        'cilium/synced/c/cilium/state/identities/v1',
        'cilium/synced/c/cilium/state/ip/v1',
      ],
    );
    assert.equal(syncedCanaryKey('r', 'ip', true), 'cilium/synced/r/cilium/cache/ip/v1');
  });

  const watch: [(typeof MESH_RESOURCES)[number], string, string][] = [
    ['nodes', 'cilium/state/nodes/v1/r/', 'cilium/cache/nodes/v1/r/'],
    ['services', 'cilium/state/services/v1/r/', 'cilium/cache/services/v1/r/'],
    ['serviceexports', 'cilium/state/serviceexports/v1/r/', 'cilium/cache/serviceexports/v1/r/'],
    ['identities', 'cilium/state/identities/v1/id/', 'cilium/cache/identities/v1/r/id/'],
    ['ip', 'cilium/state/ip/v1/default/', 'cilium/cache/ip/v1/r/'],
  ];
  for (const [resource, state, cache] of watch) {
    it(`watches ${resource} at ${state} or, cached, at ${cache}`, () => {
      assert.equal(resourceWatchPrefix(resource, 'r'), state);
      assert.equal(resourceWatchPrefix(resource, 'r', true), cache);
      assert.deepEqual(mirrorPrefixes(resource, 'r'), { source: state, target: cache });
    });
  }

  it('maps a state key to its cache copy, keeping the suffix', () => {
    const { source, target } = mirrorPrefixes('ip', 'east');
    assert.equal(
      rebaseKey('cilium/state/ip/v1/default/10.0.0.0/24', source, target),
      'cilium/cache/ip/v1/east/10.0.0.0/24',
    );
    const ids = mirrorPrefixes('identities', 'east');
    assert.equal(rebaseKey(identityKey(459001), ids.source, ids.target), 'cilium/cache/identities/v1/east/id/459001');
    assert.equal(cacheKey('nodes', 'east', 'worker-a'), 'cilium/cache/nodes/v1/east/worker-a');
    assert.equal(stateToCachePrefix('cilium/state/ip/v1'), 'cilium/cache/ip/v1');
    assert.equal(stateToCachePrefix('cilium/cluster-config'), 'cilium/cluster-config');
  });

  it('extracts suffixes only from keys strictly under the prefix', () => {
    assert.equal(keySuffix('cilium/state/nodes/v1/r/n1', 'cilium/state/nodes/v1/r'), 'n1');
    assert.equal(keySuffix('cilium/state/nodes/v1/r/n1', 'cilium/state/nodes/v1/r/'), 'n1');
    assert.equal(keySuffix('cilium/state/nodes/v1/rr/n1', 'cilium/state/nodes/v1/r'), undefined);
    assert.equal(keySuffix('cilium/state/nodes/v1/r/', 'cilium/state/nodes/v1/r'), undefined);
    assert.throws(
      () => requireKeySuffix('other/key', 'cilium/state'),
      /key "other\/key" is not under prefix "cilium\/state\/"/,
    );
  });

  it('splits service and ipcache suffixes', () => {
    assert.deepEqual(splitNamespacedName('shop/cart'), { namespace: 'shop', name: 'cart' });
    for (const bad of ['shop', '/cart', 'shop/', 'a/b/c']) assert.equal(splitNamespacedName(bad), undefined, bad);
    assert.deepEqual(splitIpcacheSuffix('fd00::1'), { ip: 'fd00::1' });
    assert.deepEqual(splitIpcacheSuffix('fd00::/64'), { ip: 'fd00::', prefixLen: 64 });
  });
});
