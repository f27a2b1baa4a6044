import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ClusterMesh } from '../../src/agent/remote/cluster-mesh.js';
import type { KVStoreMesh } from '../../src/kvstoremesh/kvstoremesh.js';
import { cacheReachabilityKey } from '../../src/wire/index.js';
import { TestEtcd } from '../harness/etcd.js';
import { FAST } from '../agent/remote/helpers.js';
import { ConfigDir, FakeRemote, RecordingSink, getKey, makeKVStoreMesh, waitFor } from './helpers.js';

/**
 * Agents reading a KVStoreMesh cache cannot see the remote's etcd die: their connection is to the local etcd. The
 * reachability marker KVStoreMesh keeps per remote carries that: deleted on loss, written again once re-synced.
 */
describe('KVStoreMesh: a lost remote is unreachable for the agents reading the cache', () => {
  let remote: FakeRemote;
  let local: TestEtcd;
  let km: KVStoreMesh;
  let agent: ClusterMesh;
  const dirs: ConfigDir[] = [];
  after(async () => {
    await agent.stop();
    await km.stop();
    await remote.stop();
    await local.stop();
    for (const d of dirs) await d.cleanup();
  });

  it('marks the remote, drops the mark when it dies, and the agents follow both ways', async () => {
    remote = await FakeRemote.start('c2', 2);
    await remote.populate();
    await remote.putConfig();
    await remote.heartbeat();
    await remote.putAllCanaries();
    local = await TestEtcd.start();
    const lc = await local.client();
    const kmDir = await ConfigDir.create();
    const agentDir = await ConfigDir.create();
    dirs.push(kmDir, agentDir);
    await kmDir.write('c2', remote.etcd.endpoint);
    km = makeKVStoreMesh(lc, kmDir.dir);
    await km.start();
    await km.synced();
    assert.ok(await getKey(lc, cacheReachabilityKey('c2')), 'kvstoremesh marks c2 reachable once copied');

    const sink = new RecordingSink();
    await agentDir.write('c2', local.endpoint);
    agent = new ClusterMesh(
      {
        localClusterName: 'c1',
        localClusterId: 1,
        localMaxConnectedClusters: 255,
        configDir: agentDir.dir,
        sink,
        syncTimeoutMs: 20_000,
      },
      FAST,
    );
    agent.start();
    await agent.synced();
    assert.equal(agent.status()[0]?.config?.cached, true, 'the agent reads the cache');
    assert.ok(sink.size('c2') > 0, 'entries arrived through the cache');

    await remote.etcd.kill();
    await waitFor(
      'agent marks c2 unreachable',
      () => sink.reachable('c2') === false,
      () => agent.status(),
    );
    assert.equal(await getKey(lc, cacheReachabilityKey('c2')), undefined, 'marker deleted');
    assert.ok(sink.size('c2') > 0, 'the cached entries are kept (unreachable, not drained)');

    await remote.etcd.start();
    await waitFor(
      'agent marks c2 reachable again',
      () => sink.reachable('c2') === true,
      () => agent.status(),
      30_000,
    );
    assert.ok(await getKey(lc, cacheReachabilityKey('c2')), 'marker back');
  });
});
