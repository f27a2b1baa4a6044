import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ClusterMesh } from '../../../src/agent/remote/cluster-mesh.js';
import type { ClusterMeshOptions } from '../../../src/agent/remote/remote-cluster-types.js';
import { TcpProxy } from '../../k8s/tcp-proxy.js';
import { ConfigDir, FAST, FakeRemote, RecordingSink, makeNode, sleepMs, waitFor } from './helpers.js';

describe('ClusterMesh: connection loss', () => {
  const remotes: FakeRemote[] = [];
  const meshes: ClusterMesh[] = [];
  const dirs: ConfigDir[] = [];
  const proxies: TcpProxy[] = [];
  after(async () => {
    for (const m of meshes) await m.stop();
    for (const p of proxies) await p.stop();
    for (const r of remotes) await r.stop();
    for (const d of dirs) await d.cleanup();
  });

  async function connected(
    opts: Partial<ClusterMeshOptions> & { viaProxy?: boolean } = {},
  ): Promise<{ remote: FakeRemote; mesh: ClusterMesh; sink: RecordingSink; proxy?: TcpProxy }> {
    const remote = await FakeRemote.start('c2', 2);
    remotes.push(remote);
    await remote.populate();
    await remote.putAllCanaries();
    await remote.putConfig();
    await remote.heartbeat();
    let proxy: TcpProxy | undefined;
    if (opts.viaProxy) {
      proxy = await TcpProxy.start(remote.etcd.endpoint);
      proxies.push(proxy);
    }
    const dir = await ConfigDir.create();
    dirs.push(dir);
    await dir.write('c2', proxy ? proxy.url : remote.etcd.endpoint);
    const sink = new RecordingSink();
    const { viaProxy: _, ...rest } = opts;
    const mesh = new ClusterMesh(
      { localClusterName: 'c1', localClusterId: 1, localMaxConnectedClusters: 255, configDir: dir.dir, sink, ...rest },
      FAST,
    );
    meshes.push(mesh);
    mesh.start();
    await mesh.synced();
    assert.equal(mesh.status()[0]?.ready, true);
    assert.equal(sink.reachable('c2'), true);
    return { remote, mesh, sink, ...(proxy ? { proxy } : {}) };
  }

  it('etcd kill -9: unreachable at once, entries kept, failure counted; reachable again after restart', async () => {
    const { remote, mesh, sink } = await connected();
    await remote.etcd.kill();
    await waitFor(
      'unreachable',
      () => sink.reachable('c2') === false,
      () => mesh.status()[0],
    );
    const st = mesh.status()[0];
    assert.ok(st);
    assert.equal(st.ready, false);
    assert.equal(st.connected, false);
    assert.equal(st.numFailures, 1);
    assert.ok(st.lastFailure !== null && !Number.isNaN(Date.parse(st.lastFailure)));
    assert.match(st.lastFailureMessage ?? '', /^unreachable: /);
    assert.equal(sink.size('c2'), 8, 'entries stay while the remote is away');
    await waitFor(
      'a reconnection attempt failed',
      () => (mesh.status()[0]?.lastFailureMessage ?? '').startsWith('cannot reach etcd'),
      () => mesh.status()[0],
    );
    assert.equal(mesh.status()[0]?.numFailures, 1, 'the loss counts once, not every failed reconnection attempt');

    await remote.etcd.start();
    await waitFor('reachable again', () => sink.reachable('c2') === true && mesh.status()[0]?.ready === true);
    assert.equal(sink.size('c2'), 8);
    assert.equal(mesh.status()[0]?.numFailures, 1);
    assert.deepEqual(
      sink.reachability.map((r) => r.reachable),
      [true, false, true],
    );
  });

  it('partition: changes made meanwhile are reconciled after reconnecting (stale entries deleted)', async () => {
    const { remote, mesh, sink, proxy } = await connected({ viaProxy: true });
    assert.ok(proxy);
    proxy.cut();
    await waitFor(
      'unreachable',
      () => sink.reachable('c2') === false,
      () => mesh.status()[0],
    );
    await remote.delete('nodes', 'n2');
    await remote.delete('services', 'shop/cart');
    await remote.delete('ip', '10.70.3.31');
    await remote.putNode(makeNode('c2', 2, 'n3'));
    await remote.heartbeat();
    await sleepMs(300);
    const v = sink.view('c2');
    assert.ok(v.nodes.has('n2') && v.services.has('shop/cart'), 'nothing changes while partitioned');

    proxy.restore();
    await waitFor(
      'reachable again',
      () => sink.reachable('c2') === true,
      () => mesh.status()[0],
    );
    assert.deepEqual([...v.nodes.keys()].sort(), ['n1', 'n3']);
    assert.deepEqual([...v.services.keys()], ['shop/private']);
    assert.deepEqual([...v.ipcache.keys()], ['10.70.3.30']);
    assert.equal(v.identities.size, 2);
    assert.equal(mesh.status()[0]?.numNodes, 2);
  });

  it('a stale heartbeat marks the remote unreachable; fresh heartbeats bring it back', async () => {
    const { remote, mesh, sink } = await connected({ heartbeatStaleMs: 1_500 });
    await waitFor(
      'stale',
      () => sink.reachable('c2') === false,
      () => mesh.status()[0],
    );
    assert.match(mesh.status()[0]?.lastFailureMessage ?? '', /heartbeat stale/);
    assert.equal(sink.size('c2'), 8);

    const beat = setInterval(() => void remote.heartbeat(), 200);
    try {
      await waitFor('reachable again', () => sink.reachable('c2') === true && mesh.status()[0]?.ready === true);
    } finally {
      clearInterval(beat);
    }
  });

  it('revokes a disconnected remote’s entries after the cache TTL, and restores them on reconnect', async () => {
    const { mesh, sink, proxy } = await connected({ viaProxy: true, cacheTtlMs: 1_000 });
    assert.ok(proxy);
    proxy.cut();
    await waitFor('unreachable', () => sink.reachable('c2') === false);
    await waitFor(
      'revoked',
      () => sink.size('c2') === 0,
      () => mesh.status()[0],
    );
    assert.match(mesh.status()[0]?.status ?? '', /cache revoked|connecting|cannot reach|unreachable/);

    proxy.restore();
    await waitFor(
      'restored',
      () => sink.size('c2') === 8 && sink.reachable('c2') === true,
      () => mesh.status()[0],
    );
  });

  it('stop() keeps the entries (an agent restart must not drop connections)', async () => {
    const { mesh, sink } = await connected();
    await mesh.stop();
    assert.equal(sink.size('c2'), 8);
    assert.ok(!sink.calls.some((c) => c.startsWith('delete')));
  });
});
