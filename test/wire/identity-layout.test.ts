import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  assertIdentityInClusterRange,
  clusterIdOfIdentity,
  clusterIdShift,
  hasLocalScope,
  identityRange,
  IDENTITY_SCOPE_LOCAL,
  isIdentityValidForCluster,
  isReservedIdentity,
  isUserReservedIdentity,
  isWellKnownIdentity,
  parseNumericIdentity,
  ReservedIdentity,
  reservedIdentityId,
  reservedIdentityName,
} from '../../src/wire/index.js';

describe('numeric identity layout', () => {
  it('shifts the cluster ID by 16 (255 mode) or 15 (511 mode)', () => {
    assert.equal(clusterIdShift(255), 16);
    assert.equal(clusterIdShift(511), 15);
  });

  const ranges: [number, 255 | 511, number, number][] = [
    [3, 255, 196608, 262143],
    [7, 255, 458752, 524287],
    [1, 255, 65536, 131071],
    [255, 255, 16711680, 16777215],
    [1, 511, 32768, 65535],
    [3, 511, 98304, 131071],
    [511, 511, 16744448, 16777215],
    [0, 255, 256, 65535],
    [0, 511, 256, 32767],
  ];
  for (const [cluster, max, min, maxId] of ranges) {
    it(`cluster ${cluster} in ${max} mode allocates ${min}..${maxId}`, () => {
      assert.deepEqual(identityRange(cluster, max), { min, max: maxId });
      if (cluster > 0) {
        assert.equal(clusterIdOfIdentity(min, max), cluster);
        assert.equal(clusterIdOfIdentity(maxId, max), cluster);
        assert.notEqual(clusterIdOfIdentity(min - 1, max), cluster);
        assert.notEqual(clusterIdOfIdentity(maxId + 1, max), cluster);
      }
    });
  }

  it('accepts identities of the cluster and cluster-independent ones below 256 only', () => {
    assert.equal(isIdentityValidForCluster(459001, 7, 255), true);
    assert.equal(isIdentityValidForCluster(458752, 7, 255), true);
    assert.equal(isIdentityValidForCluster(458751, 7, 255), false);
    assert.equal(isIdentityValidForCluster(524288, 7, 255), false);
    assert.equal(isIdentityValidForCluster(255, 7, 255), true);
    assert.equal(isIdentityValidForCluster(256, 7, 255), false);
    assert.equal(isIdentityValidForCluster(0, 7, 511), true);
    assert.equal(isIdentityValidForCluster(IDENTITY_SCOPE_LOCAL | 5, 7, 255), false);
  });

  it('says which range an out-of-range identity missed', () => {
    assert.throws(
      () => {
        assertIdentityInClusterRange(70000, 7, 255);
      },
      {
        name: 'ValidationError',
        message: "identity 70000 is outside cluster 7's range 458752..524287",
      },
    );
    assert.doesNotThrow(() => {
      assertIdentityInClusterRange(524287, 7, 255);
    });
  });

  it('names the reserved identities both ways', () => {
    const expected = [
      'unknown',
      'host',
      'world',
      'unmanaged',
      'health',
      'init',
      'remote-node',
      'kube-apiserver',
      'ingress',
      'world-ipv4',
      'world-ipv6',
    ];
    expected.forEach((name, id) => {
      assert.equal(reservedIdentityName(id), name);
      assert.equal(reservedIdentityId(name), id);
      assert.equal(isReservedIdentity(id), true);
    });
    assert.equal(ReservedIdentity.RemoteNode, 6);
    assert.equal(isReservedIdentity(12), false);
    assert.equal(isReservedIdentity(100), false);
  });

  it('classifies well-known, user-reserved and local-scope identities', () => {
    assert.equal(isWellKnownIdentity(100), true);
    assert.equal(isWellKnownIdentity(115), true);
    assert.equal(isWellKnownIdentity(116), false);
    assert.equal(isUserReservedIdentity(127), false);
    assert.equal(isUserReservedIdentity(128), true);
    assert.equal(isUserReservedIdentity(255), true);
    assert.equal(isUserReservedIdentity(256), false);
    assert.equal(hasLocalScope(16777217), true);
    assert.equal(hasLocalScope(16777215), false);
  });

  it('parses decimal identities strictly', () => {
    assert.equal(parseNumericIdentity('459001'), 459001);
    assert.equal(parseNumericIdentity('0'), 0);
    assert.equal(parseNumericIdentity('4294967295'), 4294967295);
    for (const bad of ['', '-1', '01', '0x10', '1e3', '4294967296', 'abc', ' 1']) {
      assert.throws(() => parseNumericIdentity(bad), /is not a decimal number in 0..4294967295/, bad);
    }
  });
});
