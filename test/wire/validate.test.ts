import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeIdentityEntry,
  ValidationError,
  validateRemoteIdentity,
  validateRemoteIpcacheEntry,
  validateRemoteNode,
  validateRemoteService,
  validateRemoteServiceExport,
  type ClusterService,
  type IPIdentityPair,
  type Node,
  type RemoteClusterIdentity,
  type ServiceExport,
} from '../../src/wire/index.js';

const EAST: RemoteClusterIdentity = { name: 'east', id: 7, maxConnectedClusters: 255 };

function rejects(fn: () => unknown, message: string): void {
  assert.throws(fn, (e: unknown) => e instanceof ValidationError && e.message === message);
}

describe('validating remote nodes', () => {
  const node = { Name: 'worker-a', Cluster: 'east', ClusterID: 7 } as Node;
  it('accepts a node of the remote under its own name', () => {
    assert.equal(validateRemoteNode('worker-a', node, EAST), node);
  });
  it('rejects a node claiming another cluster', () => {
    rejects(
      () => validateRemoteNode('worker-a', { ...node, Cluster: 'west' }, EAST),
      'node "worker-a" has Cluster "west", expected remote cluster "east"',
    );
  });
  it('rejects a key/value mismatch', () => {
    rejects(() => validateRemoteNode('a', { ...node, Name: 'b' }, EAST), 'node key suffix "a" does not match Name "b"');
  });
  it('rejects a wrong cluster ID', () => {
    rejects(
      () => validateRemoteNode('worker-a', { ...node, ClusterID: 8 }, EAST),
      'node "worker-a" has ClusterID 8, expected 7 of cluster "east"',
    );
  });
});

describe('validating remote services and exports', () => {
  const svc = { cluster: 'east', namespace: 'shop', name: 'cart', clusterID: 7 } as ClusterService;
  it('accepts a matching service', () => {
    assert.equal(validateRemoteService('shop/cart', svc, EAST), svc);
  });
  it('rejects wrong cluster, key mismatch and wrong cluster ID', () => {
    rejects(
      () => validateRemoteService('shop/cart', { ...svc, cluster: 'west' }, EAST),
      'service "shop/cart" has cluster "west", expected remote cluster "east"',
    );
    rejects(
      () => validateRemoteService('shop/other', svc, EAST),
      'service key suffix "shop/other" does not match namespace/name "shop/cart"',
    );
    rejects(
      () => validateRemoteService('shop/cart', { ...svc, clusterID: 0 }, EAST),
      'service "shop/cart" has clusterID 0, expected 7 of cluster "east"',
    );
  });
  const se = { cluster: 'east', namespace: 'shop', name: 'cart' } as ServiceExport;
  it('checks exports the same way', () => {
    assert.equal(validateRemoteServiceExport('shop/cart', se, EAST), se);
    rejects(
      () => validateRemoteServiceExport('shop/cart', { ...se, cluster: 'x' }, EAST),
      'service export "shop/cart" has cluster "x", expected remote cluster "east"',
    );
    rejects(
      () => validateRemoteServiceExport('x/cart', se, EAST),
      'service export key suffix "x/cart" does not match namespace/name "shop/cart"',
    );
  });
});

describe('validating remote ipcache entries', () => {
  const pair: IPIdentityPair = { IP: '10.70.3.21', HostIP: '172.20.0.4', ID: 459001, Key: 0, Metadata: '' };
  const cases: [string, number, RemoteClusterIdentity, number | string][] = [
    ['an identity of the remote', 459001, EAST, 459001],
    ['the first identity of the range', 458752, EAST, 458752],
    ['the last identity of the range', 524287, EAST, 524287],
    ['a reserved identity', 2, EAST, 2],
    ['a user-reserved identity', 255, EAST, 255],
    ['host, turned into remote-node', 1, EAST, 6],
    [
      'an identity of another cluster',
      70000,
      EAST,
      'ipcache entry "10.70.3.21" has identity 70000, outside cluster 7\'s range 458752..524287 and not reserved (< 256)',
    ],
    ['the identity just after the range', 524288, EAST, 'outside'],
    ['256', 256, EAST, 'outside'],
    ['a 511-mode identity of cluster 7', 229400, { ...EAST, maxConnectedClusters: 511 }, 229400],
    ['a 255-mode identity under 511 mode', 459001, { ...EAST, maxConnectedClusters: 511 }, 'outside'],
  ];
  for (const [what, id, remote, expected] of cases) {
    it(`${typeof expected === 'number' ? 'accepts' : 'rejects'} ${what}`, () => {
      const p = { ...pair, ID: id };
      if (typeof expected === 'number') {
        assert.equal(validateRemoteIpcacheEntry('10.70.3.21', p, remote).ID, expected);
      } else {
        assert.throws(
          () => validateRemoteIpcacheEntry('10.70.3.21', p, remote),
          (e: unknown) => e instanceof ValidationError && e.message.includes(expected),
        );
      }
    });
  }
  it('does not mutate the entry it normalises', () => {
    const hostEntry = { ...pair, ID: 1 };
    validateRemoteIpcacheEntry('10.70.3.21', hostEntry, EAST);
    assert.equal(hostEntry.ID, 1);
  });
  it('rejects a key that does not match the address', () => {
    rejects(
      () => validateRemoteIpcacheEntry('10.70.3.22', pair, EAST),
      'ipcache key suffix "10.70.3.22" does not match the value\'s address "10.70.3.21"',
    );
  });
});

describe('validating remote identities', () => {
  const labels = 'k8s:app=web;k8s:io.cilium.k8s.policy.cluster=east;';
  it('accepts an identity in range labelled with the remote', () => {
    assert.equal(validateRemoteIdentity(decodeIdentityEntry('459001', labels), EAST).id, 459001);
  });
  it('rejects an identity outside the range', () => {
    rejects(
      () => validateRemoteIdentity(decodeIdentityEntry('70000', labels), EAST),
      "identity 70000 is outside cluster 7's range 458752..524287",
    );
  });
  it('rejects an identity labelled with another cluster or none', () => {
    rejects(
      () =>
        validateRemoteIdentity(
          decodeIdentityEntry('459001', 'k8s:app=web;k8s:io.cilium.k8s.policy.cluster=west;'),
          EAST,
        ),
      'identity 459001 has label k8s:io.cilium.k8s.policy.cluster=west, expected "east"',
    );
    rejects(
      () => validateRemoteIdentity(decodeIdentityEntry('459001', 'k8s:app=web;'), EAST),
      'identity 459001 has no k8s:io.cilium.k8s.policy.cluster label, expected "east"',
    );
  });
});
