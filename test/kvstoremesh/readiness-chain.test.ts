import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { ClusterMesh } from '../../src/agent/remote/cluster-mesh.js';
import type { KVStoreMesh } from '../../src/kvstoremesh/kvstoremesh.js';
import { freePort } from '../../src/mesh/etcd-process.js';
import { TestEtcd } from '../harness/etcd.js';
import { FAST } from '../agent/remote/helpers.js';
import {
  ConfigDir,
  FakeRemote,
  RecordingSink,
  clusterIdentity,
  directMapping,
  getKey,
  makeKVStoreMesh,
  readSuffixes,
  waitFor,
} from './helpers.js';

describe('KVStoreMesh: readiness, chaining through another cache, agents reading the cache', () => {
  const meshes: KVStoreMesh[] = [];
  const agents: ClusterMesh[] = [];
  const etcds: TestEtcd[] = [];
  const remotes: FakeRemote[] = [];
  const dirs: ConfigDir[] = [];
  after(async () => {
    for (const a of agents) await a.stop();
    for (const m of meshes) await m.stop();
    for (const r of remotes) await r.stop();
    for (const e of etcds) await e.stop();
    for (const d of dirs) await d.cleanup();
  });

  async function localEtcd(): Promise<Etcd3> {
    const e = await TestEtcd.start();
    etcds.push(e);
    return e.client();
  }
  async function configDir(): Promise<ConfigDir> {
    const d = await ConfigDir.create();
    dirs.push(d);
    return d;
  }

  it('a remote that never connects stops blocking readiness after the per-cluster timeout', async () => {
    const lc = await localEtcd();
    const dir = await configDir();
    await dir.write('c7', `http://127.0.0.1:${await freePort()}`); // nothing listens there
    const km = makeKVStoreMesh(lc, dir.dir, { perClusterReadyTimeoutMs: 2_000 });
    meshes.push(km);
    await km.start();
    assert.equal(km.ready(), false, 'blocked while the remote may still connect');
    await km.synced();
    assert.equal(km.ready(), true);
    const st = km.status().remotes[0];
    assert.equal(st?.connected, false);
    assert.equal(st.synced, false);
  });

  it('a remote that connects but never syncs blocks until the global timeout', async () => {
    const lc = await localEtcd();
    const dir = await configDir();
    const c8 = await FakeRemote.start('c8', 8);
    remotes.push(c8);
    await c8.populate();
    await c8.putConfig(); // canaries never written
    await c8.heartbeat();
    await dir.write('c8', c8.etcd.endpoint);
    const km = makeKVStoreMesh(lc, dir.dir, { perClusterReadyTimeoutMs: 200, globalReadyTimeoutMs: 2_500 });
    meshes.push(km);
    await km.start();
    await waitFor('c8 connected', () => km.status().remotes[0]?.connected === true);
    await new Promise((r) => setTimeout(r, 400)); // past the per-cluster timeout
    assert.equal(km.ready(), false, 'connected in time, so it keeps blocking');
    await km.synced();
    assert.equal(km.ready(), true);
    assert.equal(km.status().remotes[0]?.synced, false);
  });

  it('chains: a kvstoremesh reads another one cache, and an agent reads the result', async () => {
    // c2 (direct) -> kvstoremesh of c1 -> L1 cache -> kvstoremesh of c5 -> L5 cache -> agent of c5.
    const c2 = await FakeRemote.start('c2', 2);
    remotes.push(c2);
    await c2.populate();
    await c2.client.put('cilium/state/identities/v1/value/k8s:app=x;/n1').value(String(clusterIdentity(2, 1)));
    await c2.putAllCanaries();
    await c2.putConfig();
    await c2.heartbeat();

    const l1 = await localEtcd();
    const dir1 = await configDir();
    await dir1.write('c2', c2.etcd.endpoint);
    const km1 = makeKVStoreMesh(l1, dir1.dir);
    meshes.push(km1);
    await km1.start();
    await km1.synced();
    await l1.put('cilium/.heartbeat').value(new Date().toISOString().replace(/\.\d+Z$/, 'Z'));

    const l5 = await localEtcd();
    const dir5 = await configDir();
    await dir5.write('c2', etcds.at(-2)!.endpoint);
    const km5 = makeKVStoreMesh(l5, dir5.dir, { clusterName: 'c5', clusterId: 5 });
    meshes.push(km5);
    await km5.start();
    await km5.synced();
    const st = km5.status().remotes[0];
    assert.equal(st?.ready, true, st?.status);
    assert.equal(st.config?.cached, true, 'read from a cache');

    for (const [source, target] of directMapping('c2')) {
      assert.deepEqual(await readSuffixes(l5, target), await readSuffixes(c2.client, source), `${source} -> ${target}`);
    }
    assert.equal(
      await getKey(l5, 'cilium/cluster-config/c2'),
      '{"id":2,"capabilities":{"syncedCanaries":true,"cached":true,"maxConnectedClusters":255}}',
    );
    for (const r of ['nodes', 'services', 'identities', 'ip']) {
      assert.ok(await getKey(l5, `cilium/synced/c2/cilium/cache/${r}/v1`), `${r} canary`);
    }

    // An agent of c5 pointed at its local clustermesh etcd reads c2 through the cache.
    await l5.put('cilium/.heartbeat').value(new Date().toISOString().replace(/\.\d+Z$/, 'Z'));
    const agentDir = await configDir();
    await agentDir.write('c2', etcds.at(-1)!.endpoint);
    const sink = new RecordingSink();
    const agent = new ClusterMesh(
      { localClusterName: 'c5', localClusterId: 5, localMaxConnectedClusters: 255, configDir: agentDir.dir, sink },
      FAST,
    );
    agents.push(agent);
    agent.start();
    await agent.synced();
    const as = agent.status()[0];
    assert.equal(as?.ready, true, as?.status);
    assert.equal(as.config?.cached, true);
    assert.equal(as.invalidEntries, 0);
    const view = sink.view('c2');
    assert.deepEqual([...view.nodes.keys()].sort(), ['n1', 'n2']);
    assert.deepEqual([...view.services.keys()].sort(), ['shop/cart', 'shop/private']);
    assert.deepEqual([...view.ipcache.keys()].sort(), ['10.70.3.30', '10.70.3.31']);
    assert.deepEqual([...view.identities.keys()].sort(), [clusterIdentity(2, 1), clusterIdentity(2, 2)]);

    // A change at the source travels both caches to the agent.
    await c2.delete('nodes', 'n2');
    await waitFor('agent sees the delete', () => !sink.view('c2').nodes.has('n2'));
  });
});
