import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ClusterMesh } from '../../../src/agent/remote/cluster-mesh.js';
import {
  clusterConfigKey,
  encodeClusterConfig,
  encodeIdentityLabels,
  encodeNode,
  resourceWatchPrefix,
} from '../../../src/wire/index.js';
import {
  ConfigDir,
  FAST,
  FakeRemote,
  RecordingSink,
  clusterIdentity,
  identityLabels,
  makeNode,
  sleepMs,
  waitFor,
} from './helpers.js';

describe('ClusterMesh: cluster IDs', () => {
  const remotes: FakeRemote[] = [];
  const meshes: ClusterMesh[] = [];
  const dirs: ConfigDir[] = [];
  after(async () => {
    for (const m of meshes) await m.stop();
    for (const r of remotes) await r.stop();
    for (const d of dirs) await d.cleanup();
  });

  async function remote(name: string, id: number, cfgId = id, maxConnectedClusters = 255): Promise<FakeRemote> {
    const r = await FakeRemote.start(name, id);
    remotes.push(r);
    await r.populate();
    await r.putAllCanaries();
    await r.putConfig({ maxConnectedClusters }, cfgId);
    await r.heartbeat();
    return r;
  }

  async function mesh(
    sink: RecordingSink,
    local: { id: number; max: 255 | 511 } = { id: 1, max: 255 },
  ): Promise<{ mesh: ClusterMesh; dir: ConfigDir }> {
    const dir = await ConfigDir.create();
    dirs.push(dir);
    const m = new ClusterMesh(
      {
        localClusterName: 'c1',
        localClusterId: local.id,
        localMaxConnectedClusters: local.max,
        configDir: dir.dir,
        sink,
      },
      FAST,
    );
    meshes.push(m);
    m.start();
    return { mesh: m, dir };
  }

  const statusOf = (m: ClusterMesh, name: string) => m.status().find((s) => s.name === name);

  it('refuses a remote whose ID another remote holds, until that one leaves', async () => {
    const c2 = await remote('c2', 2);
    const c3 = await remote('c3', 2);
    const sink = new RecordingSink();
    const { mesh: m, dir } = await mesh(sink);
    await dir.write('c2', c2.etcd.endpoint);
    await waitFor('c2 ready', () => statusOf(m, 'c2')?.ready === true);

    await dir.write('c3', c3.etcd.endpoint);
    await waitFor(
      'c3 refused',
      () => (statusOf(m, 'c3')?.status ?? '').includes('already used by remote cluster "c2"'),
      () => statusOf(m, 'c3'),
    );
    const st = statusOf(m, 'c3');
    assert.ok(st);
    assert.equal(st.ready, false);
    assert.match(
      st.lastFailureMessage ?? '',
      /invalid cluster config: .*cluster ID 2, already used by remote cluster "c2"/,
    );
    await sleepMs(300);
    assert.equal(statusOf(m, 'c3')?.numFailures, 0, 'a refused attempt is not a lost connection (as in Cilium)');
    assert.equal(sink.size('c3'), 0);
    assert.equal(statusOf(m, 'c2')?.ready, true, 'the first holder keeps its ID');

    await dir.remove('c2');
    await waitFor('c2 drained', () => sink.size('c2') === 0);
    await waitFor(
      'c3 ready once the conflict is gone',
      () => statusOf(m, 'c3')?.ready === true,
      () => statusOf(m, 'c3'),
    );
    assert.equal(sink.size('c3'), 8);
  });

  it('refuses the local ID, ID 0 and (in 511 mode) a different MaxConnectedClusters', async () => {
    const own = await remote('c4', 1);
    const zero = await remote('c5', 5, 0);
    const sink = new RecordingSink();
    const { mesh: m, dir } = await mesh(sink);
    await dir.write('c4', own.etcd.endpoint);
    await dir.write('c5', zero.etcd.endpoint);
    await waitFor('own ID refused', () => (statusOf(m, 'c4')?.status ?? '').includes('the same as the local cluster'));
    await waitFor('ID 0 refused', () => (statusOf(m, 'c5')?.status ?? '').includes('cluster ID 0'));

    const sink511 = new RecordingSink();
    const mixed = await remote('c6', 6, 6, 255);
    const { mesh: m511, dir: dir511 } = await mesh(sink511, { id: 1, max: 511 });
    await dir511.write('c6', mixed.etcd.endpoint);
    await waitFor(
      'MaxConnectedClusters mismatch refused',
      () => (statusOf(m511, 'c6')?.status ?? '').includes('mismatched MaxConnectedClusters: local=511, remote=255'),
      () => statusOf(m511, 'c6'),
    );
    await sleepMs(300);
    assert.equal(sink.size('c4') + sink.size('c5') + sink511.size('c6'), 0);
    for (const st of [statusOf(m, 'c4'), statusOf(m, 'c5'), statusOf(m511, 'c6')]) assert.equal(st?.ready, false);
  });

  it('drains everything learned from a remote whose cluster ID changed, then syncs it again', async () => {
    const c2 = await remote('c2', 2);
    const sink = new RecordingSink();
    const { mesh: m, dir } = await mesh(sink);
    await dir.write('c2', c2.etcd.endpoint);
    await waitFor('ready', () => statusOf(m, 'c2')?.ready === true);
    const oldIds = [...sink.view('c2').identities.keys()];
    assert.deepEqual(
      oldIds.sort((a, b) => a - b),
      [clusterIdentity(2, 1), clusterIdentity(2, 2)],
    );
    const mark = sink.calls.length;

    // The remote is redeployed with ID 4: its config and data change in one transaction.
    const put = (key: string, value: string) => ({ request_put: { key: Buffer.from(key), value: Buffer.from(value) } });
    const del = (key: string) => ({ request_delete_range: { key: Buffer.from(key) } });
    const nodes = resourceWatchPrefix('nodes', 'c2');
    const ids = resourceWatchPrefix('identities', 'c2');
    await c2.client.kv.txn({
      compare: [],
      success: [
        put(
          clusterConfigKey('c2'),
          encodeClusterConfig({
            id: 4,
            capabilities: { syncedCanaries: true, cached: false, maxConnectedClusters: 255 },
          }),
        ),
        put(nodes + 'n1', encodeNode(makeNode('c2', 4, 'n1'))),
        del(nodes + 'n2'),
        del(ids + String(clusterIdentity(2, 1))),
        del(ids + String(clusterIdentity(2, 2))),
        put(ids + String(clusterIdentity(4, 1)), encodeIdentityLabels(identityLabels('c2', 'cart'))),
        // Endpoints and services are left with the old ID: they are now invalid.
      ],
      failure: [],
    });

    await waitFor(
      'resynced with the new ID',
      () => statusOf(m, 'c2')?.ready === true && statusOf(m, 'c2')?.config?.clusterID === 4,
      () => statusOf(m, 'c2'),
    );
    const v = sink.view('c2');
    assert.deepEqual([...v.nodes.keys()], ['n1']);
    assert.equal(v.nodes.get('n1')?.ClusterID, 4);
    assert.deepEqual([...v.identities.keys()], [clusterIdentity(4, 1)]);
    assert.equal(v.ipcache.size, 0, 'endpoints with identities of the old ID are rejected');
    assert.equal(v.services.size, 0, 'services with the old cluster ID are rejected');

    // Every old entry was deleted before anything of the new ID arrived.
    const later = sink.calls.slice(mark);
    const firstNewUpsert = later.findIndex((c) => c === `upsertIdentity c2 ${clusterIdentity(4, 1)}`);
    assert.ok(firstNewUpsert > 0, later.join(', '));
    for (const expected of [
      'deleteNode c2 n1',
      'deleteNode c2 n2',
      `deleteIdentity c2 ${clusterIdentity(2, 1)}`,
      'deleteService c2 shop/cart',
      'deleteIpcache c2 10.70.3.30',
    ]) {
      const i = later.indexOf(expected);
      assert.ok(i >= 0 && i < firstNewUpsert, `${expected} before the new upserts: ${later.join(', ')}`);
    }
  });
});
