/**
 * A cmesh agent's remote-cluster reader in front of a cache laid out exactly as Cilium 1.20's KVStoreMesh writes it:
 * the forced cached config, the six cache canaries, copies of the golden values, and none of cmesh's own keys (no
 * `cilium/cache/.reachable/...`). It must become ready and merge the remote's data, as Cilium's agents do.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { ClusterMesh } from '../../../src/agent/remote/cluster-mesh.js';
import { CACHE_REACHABILITY_WRITER_KEY, cacheReachabilityKey } from '../../../src/wire/index.js';
import { ConfigDir, FAST, FakeRemote, RecordingSink, sleepMs, waitFor } from './helpers.js';

const GOLDEN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'wire', 'golden');
const golden = (name: string): { expect: Record<string, unknown> } =>
  JSON.parse(readFileSync(path.join(GOLDEN, `${name}.json`), 'utf8')) as { expect: Record<string, unknown> };

/** Where Cilium's kvstoremesh puts the copy of a `cilium/state/...` key of cluster `east`. */
function cacheKeyOf(stateKey: string): string {
  return stateKey
    .replace(/^cilium\/state\/identities\/v1\/id\//, 'cilium/cache/identities/v1/east/id/')
    .replace(/^cilium\/state\/ip\/v1\/default\//, 'cilium/cache/ip/v1/east/')
    .replace(/^cilium\/state\//, 'cilium/cache/');
}

/** Cilium 1.20.2's KVStoreMesh cached copy of its apiserver's default config (spec §2.1). */
const CACHED_CONFIG =
  '{"id":7,"capabilities":{"syncedCanaries":true,"cached":true,"maxConnectedClusters":255,"serviceExportsEnabled":false,"endpointSlicesExportMode":"services-and-endpointslices"}}';
const SIX = ['nodes', 'services', 'serviceexports', 'endpointslices', 'identities', 'ip'];

describe("ClusterMesh reading a Cilium 1.20 KVStoreMesh's cache", () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  async function ciliumCache(): Promise<FakeRemote> {
    // The local clustermesh etcd a Cilium KVStoreMesh fills (FakeRemote only provides the etcd and its client).
    const etcd = await FakeRemote.start('east', 7, { cached: true });
    cleanups.push(() => etcd.stop());
    const c = etcd.client;
    for (const g of ['node', 'service', 'identity', 'ipcache']) {
      for (const [key, value] of Object.entries(golden(g).expect)) {
        await c.put(cacheKeyOf(key)).value(typeof value === 'string' ? value : JSON.stringify(value));
      }
    }
    for (const r of SIX) await c.put(`cilium/synced/east/cilium/cache/${r}/v1`).value('2026-12-04T10:00:00Z');
    await c.put('cilium/cluster-config/east').value(CACHED_CONFIG);
    await c.put('cilium/.heartbeat').value(new Date().toISOString().replace(/\.\d+Z$/, 'Z'));
    return etcd;
  }

  async function agent(remote: FakeRemote): Promise<{ mesh: ClusterMesh; sink: RecordingSink }> {
    const dir = await ConfigDir.create();
    cleanups.push(() => dir.cleanup());
    await dir.write('east', remote.etcd.endpoint);
    const sink = new RecordingSink();
    const mesh = new ClusterMesh(
      { localClusterName: 'c1', localClusterId: 1, localMaxConnectedClusters: 255, configDir: dir.dir, sink },
      FAST,
    );
    cleanups.push(() => mesh.stop());
    mesh.start();
    return { mesh, sink };
  }

  it('becomes ready without any reachability marker and merges backends, ipcache, nodes and identities', async () => {
    const cache = await ciliumCache();
    const keys = await cache.client.getAll().prefix('cilium/cache/.reachable/').keys();
    assert.deepEqual(keys, [], 'the layout has no cmesh key');
    const { mesh, sink } = await agent(cache);
    await waitFor(
      'east ready',
      () => mesh.status().find((s) => s.name === 'east')?.ready === true,
      () => mesh.status(),
    );
    const st = mesh.status().find((s) => s.name === 'east');
    assert.equal(st?.config?.cached, true, 'read as a cache');
    assert.equal(st.invalidEntries, 0, 'every golden value accepted');
    const view = sink.view('east');
    assert.deepEqual(
      Object.keys(view.services.get('shop/cart')?.backends ?? {}),
      ['10.70.3.30'],
      'the service backends merged',
    );
    assert.deepEqual([...view.ipcache.keys()].sort(), ['10.70.3.21', 'fd00:10:70:3::e1'], 'the ipcache merged');
    assert.deepEqual([...view.nodes.keys()], ['worker-a'], 'the node merged');
    assert.deepEqual([...view.identities.keys()], [459001], 'the identity merged');
    // Stays ready: no reconnect loop for want of a key Cilium does not write.
    await sleepMs(1_000);
    assert.deepEqual(
      sink.reachability.filter((r) => r.cluster === 'east').map((r) => r.reachable),
      [true],
      'reachable once, never lost',
    );
  });

  it('behind a cmesh KVStoreMesh (its writer key present), the per-remote marker is still required', async () => {
    const cache = await ciliumCache();
    await cache.client.put(CACHE_REACHABILITY_WRITER_KEY).value('cmesh-kvstoremesh');
    const { mesh, sink } = await agent(cache);
    await sleepMs(1_500);
    assert.notEqual(mesh.status().find((s) => s.name === 'east')?.ready, true, 'not ready without the marker');
    await cache.client.put(cacheReachabilityKey('east')).value(new Date().toISOString());
    await waitFor(
      'east ready',
      () => mesh.status().find((s) => s.name === 'east')?.ready === true,
      () => mesh.status(),
    );
    await cache.client.delete().key(cacheReachabilityKey('east'));
    await waitFor('east unreachable once the marker goes', () => sink.reachable('east') === false);
  });
});
