import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ClusterMesh } from '../../../src/agent/remote/cluster-mesh.js';
import { registry } from '../../../src/observe/metrics.js';
import {
  ConfigDir,
  FAST,
  FakeRemote,
  RecordingSink,
  clusterIdentity,
  identityLabels,
  makeIpcache,
  makeNode,
  makeService,
  sleepMs,
  waitFor,
} from './helpers.js';

const LOCAL = { localClusterName: 'c1', localClusterId: 1, localMaxConnectedClusters: 255 as const };

describe('ClusterMesh: connecting to remote clusters', () => {
  const remotes: FakeRemote[] = [];
  const meshes: ClusterMesh[] = [];
  const dirs: ConfigDir[] = [];
  after(async () => {
    for (const m of meshes) await m.stop();
    for (const r of remotes) await r.stop();
    for (const d of dirs) await d.cleanup();
  });

  async function setup(
    remote: FakeRemote,
    opts: { syncTimeoutMs?: number } = {},
  ): Promise<{ mesh: ClusterMesh; sink: RecordingSink; dir: ConfigDir }> {
    const dir = await ConfigDir.create();
    dirs.push(dir);
    await dir.write(remote.name, remote.etcd.endpoint);
    const sink = new RecordingSink();
    const mesh = new ClusterMesh({ ...LOCAL, configDir: dir.dir, sink, ...opts }, FAST);
    meshes.push(mesh);
    mesh.start();
    return { mesh, sink, dir };
  }

  const statusOf = (mesh: ClusterMesh, name: string) => mesh.status().find((s) => s.name === name);

  it('connects, syncs and delivers validated entries; follows changes; reports status and metrics', async () => {
    const remote = await FakeRemote.start('c2', 2);
    remotes.push(remote);
    await remote.populate();
    await remote.putAllCanaries();
    await remote.putConfig();
    await remote.heartbeat();

    const { mesh, sink } = await setup(remote);
    await mesh.synced();
    const st = statusOf(mesh, 'c2');
    assert.ok(st);
    assert.equal(st.ready, true, st.status);
    assert.equal(st.connected, true);
    assert.equal(st.numNodes, 2);
    assert.equal(st.numEndpoints, 2);
    assert.equal(st.numIdentities, 2);
    assert.equal(st.numSharedServices, 1);
    assert.equal(st.numFailures, 0);
    assert.equal(st.invalidEntries, 0);
    assert.deepEqual(st.config, {
      clusterID: 2,
      maxConnectedClusters: 255,
      syncedCanaries: true,
      serviceExportsEnabled: null,
      cached: false,
    });
    assert.deepEqual(st.synced, {
      nodes: true,
      services: true,
      serviceExports: null,
      identities: true,
      endpoints: true,
    });

    const v = sink.view('c2');
    assert.deepEqual([...v.nodes.keys()].sort(), ['n1', 'n2']);
    assert.deepEqual([...v.services.keys()].sort(), ['shop/cart', 'shop/private']);
    assert.deepEqual([...v.ipcache.keys()].sort(), ['10.70.3.30', '10.70.3.31']);
    assert.deepEqual(
      [...v.identities.keys()].sort((a, b) => a - b),
      [clusterIdentity(2, 1), clusterIdentity(2, 2)],
    );
    assert.deepEqual(v.identities.get(clusterIdentity(2, 1)), identityLabels('c2', 'cart'));
    assert.equal(v.nodes.get('n2')?.IPAddresses?.[0]?.IP, '172.20.0.5');
    assert.equal(sink.reachable('c2'), true);

    // Live changes.
    await remote.putNode(makeNode('c2', 2, 'n3'));
    await remote.delete('services', 'shop/private');
    await remote.putIpcache(makeIpcache('172.20.0.4', 1)); // the remote's host: remote-node for us
    await waitFor(
      'live changes',
      () => v.nodes.has('n3') && !v.services.has('shop/private') && v.ipcache.has('172.20.0.4'),
      () => sink.calls.slice(-5),
    );
    assert.equal(v.ipcache.get('172.20.0.4')?.ID, 6);

    // Invalid entries are skipped and counted, and an entry turning invalid is withdrawn.
    await remote.putNode(makeNode('c3', 2, 'n9')); // wrong cluster
    await remote.putNode(makeNode('c2', 2, 'n8'), 'other-name'); // key does not match the name
    await remote.putService(makeService('c2', 3, 'shop', 'bad')); // wrong cluster ID
    await remote.putIpcache(makeIpcache('10.70.3.40', clusterIdentity(5, 1))); // identity of another cluster
    await remote.putIpcache(makeIpcache('10.70.3.41', clusterIdentity(2, 3)), '10.70.3.42'); // key mismatch
    await remote.putIdentity(clusterIdentity(5, 9), identityLabels('c2', 'x')); // out of range
    await remote.putIdentity(clusterIdentity(2, 9), identityLabels('c5', 'x')); // labels name another cluster
    await remote.putNode(makeNode('c2', 7, 'n1')); // n1 turns invalid: wrong ClusterID
    await remote.putNode(makeNode('c2', 2, 'n4')); // a valid one after them, to know they were all processed
    await waitFor('n4', () => v.nodes.has('n4'));
    await waitFor('identity checks', () => (statusOf(mesh, 'c2')?.invalidEntries ?? 0) >= 8);
    const after1 = statusOf(mesh, 'c2');
    assert.equal(after1?.invalidEntries, 8);
    assert.ok(!v.nodes.has('n9') && !v.nodes.has('n8') && !v.nodes.has('other-name'));
    assert.ok(!v.nodes.has('n1'), 'n1 withdrawn when its update became invalid');
    assert.ok(!v.services.has('shop/bad'));
    assert.ok(!v.ipcache.has('10.70.3.40') && !v.ipcache.has('10.70.3.42'));
    assert.ok(!v.identities.has(clusterIdentity(5, 9)) && !v.identities.has(clusterIdentity(2, 9)));

    const metrics = await registry.metrics();
    assert.match(
      metrics,
      /cilium_clustermesh_remote_cluster_readiness_status\{source_cluster="c1",source_node_name="test-node",target_cluster="c2"\} 1/,
    );
    assert.match(metrics, /cilium_clustermesh_remote_clusters\{source_cluster="c1",source_node_name="test-node"\} 1/);
    assert.match(metrics, /cilium_clustermesh_remote_cluster_nodes\{[^}]*target_cluster="c2"\} 3/);
  });

  it('with sync canaries, starts each store only once its canary exists', async () => {
    const remote = await FakeRemote.start('c2', 2);
    remotes.push(remote);
    await remote.populate();
    await remote.putConfig();
    await remote.heartbeat();
    const { mesh, sink } = await setup(remote);
    await waitFor(
      'waiting for canaries',
      () => (statusOf(mesh, 'c2')?.status ?? '').includes('waiting for sync canaries'),
      () => statusOf(mesh, 'c2')?.status,
    );
    await sleepMs(500);
    assert.equal(sink.size('c2'), 0, 'nothing delivered before the canaries');
    assert.equal(statusOf(mesh, 'c2')?.ready, false);

    await remote.putCanary('nodes');
    await waitFor('nodes', () => sink.view('c2').nodes.size === 2);
    await sleepMs(300);
    assert.equal(sink.view('c2').services.size, 0);
    assert.equal(sink.view('c2').ipcache.size, 0);
    assert.equal(statusOf(mesh, 'c2')?.ready, false);
    assert.equal(statusOf(mesh, 'c2')?.synced.nodes, true);

    await remote.putCanary('services');
    await remote.putCanary('identities');
    await remote.putCanary('ip');
    await mesh.synced();
    assert.equal(statusOf(mesh, 'c2')?.ready, true);
    assert.equal(sink.size('c2'), 8);
  });

  it('reads a kvstoremesh cache (cilium/cache/...) when the config says cached', async () => {
    const remote = await FakeRemote.start('c2', 2, { cached: true });
    remotes.push(remote);
    await remote.populate();
    await remote.putAllCanaries();
    await remote.putConfig({ serviceExportsEnabled: true });
    await remote.putCanary('serviceexports');
    await remote.heartbeat();
    // Decoys under cilium/state/...: a cached reader must not see them.
    await remote.client.put('cilium/state/nodes/v1/c2/decoy').value('{}');
    await remote.client.put('cilium/synced/c2/cilium/state/nodes/v1').value('x');

    const { mesh, sink } = await setup(remote);
    await mesh.synced();
    const st = statusOf(mesh, 'c2');
    assert.ok(st);
    assert.equal(st.ready, true);
    assert.equal(st.config?.cached, true);
    assert.equal(st.config.serviceExportsEnabled, true);
    assert.equal(st.synced.serviceExports, true);
    assert.equal(st.invalidEntries, 0);
    assert.deepEqual([...sink.view('c2').nodes.keys()].sort(), ['n1', 'n2']);
    assert.equal(sink.size('c2'), 8);
  });

  it('without canaries (an older remote), starts every store at once', async () => {
    const remote = await FakeRemote.start('c2', 2);
    remotes.push(remote);
    await remote.populate();
    await remote.putConfig({ syncedCanaries: false });
    await remote.heartbeat();
    const { mesh, sink } = await setup(remote);
    await mesh.synced();
    assert.equal(statusOf(mesh, 'c2')?.ready, true);
    assert.equal(sink.size('c2'), 8);
  });

  it('waits with a clear status while the cluster config is missing, then connects; removal drains', async () => {
    const remote = await FakeRemote.start('c2', 2);
    remotes.push(remote);
    await remote.populate();
    await remote.putAllCanaries();
    await remote.heartbeat();
    const { mesh, sink, dir } = await setup(remote, { syncTimeoutMs: 300 });
    // synced() gives up after the timeout rather than blocking the agent.
    await mesh.synced();
    await waitFor(
      'waiting status',
      () => (statusOf(mesh, 'c2')?.status ?? '').startsWith('waiting for cluster config'),
      () => statusOf(mesh, 'c2')?.status,
    );
    const st = statusOf(mesh, 'c2');
    assert.equal(
      st?.status,
      'waiting for cluster config: key cilium/cluster-config/c2 not found; is the clustermesh-apiserver of c2 running?',
    );
    assert.ok(st);
    assert.equal(st.ready, false);
    assert.equal(st.config, null);
    assert.equal(sink.size('c2'), 0);

    await remote.putConfig();
    await waitFor(
      'ready',
      () => statusOf(mesh, 'c2')?.ready === true,
      () => statusOf(mesh, 'c2'),
    );
    assert.equal(sink.size('c2'), 8);

    // A changed config file reconnects without losing entries.
    const callsBefore = sink.calls.length;
    await dir.write('c2', remote.etcd.endpoint, 'dial-timeout: 3s\n');
    await waitFor('reconnect', () => statusOf(mesh, 'c2')?.ready === false || sink.calls.length > callsBefore);
    await waitFor('ready again', () => statusOf(mesh, 'c2')?.ready === true);
    assert.ok(
      sink.calls.slice(callsBefore).every((c) => !c.startsWith('delete')),
      `no deletes on reconnect: ${sink.calls.slice(callsBefore).join(', ')}`,
    );

    await dir.remove('c2');
    await waitFor(
      'drained',
      () => sink.size('c2') === 0,
      () => sink.view('c2'),
    );
    await waitFor('forgotten', () => statusOf(mesh, 'c2') === undefined);
    const deletes = sink.calls.filter((c) => c.startsWith('delete'));
    assert.equal(deletes.length, 8);
  });
});
