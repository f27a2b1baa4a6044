import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Etcd3 } from 'etcd3';
import type { KVStoreMesh } from '../../src/kvstoremesh/kvstoremesh.js';
import { registry } from '../../src/observe/metrics.js';
import { encodeServiceExport, serviceExportKey, type ServiceExport } from '../../src/wire/index.js';
import { TestEtcd } from '../harness/etcd.js';
import {
  ConfigDir,
  FakeRemote,
  clusterIdentity,
  directMapping,
  getKey,
  makeKVStoreMesh,
  makeNode,
  readPrefix,
  readSuffixes,
  sleepMs,
  waitFor,
  waitForAsync,
} from './helpers.js';

const IDENTITY_VALUE_KEY = 'cilium/state/identities/v1/value/k8s:app=cart;k8s:io.cilium.k8s.policy.cluster=c2;/node1';

function serviceExport(cluster: string, name: string): ServiceExport {
  return {
    cluster,
    name,
    namespace: 'shop',
    annotations: {},
    labels: {},
    exportCreationTimestamp: '2024-01-01T00:00:00Z',
    ports: [{ name: 'grpc', protocol: 'TCP', port: 9000 }],
    type: 'ClusterSetIP',
    sessionAffinity: 'None',
  };
}

describe('KVStoreMesh: copying remote clusters into the local cache', () => {
  let local: TestEtcd;
  let lc: Etcd3;
  let dir: ConfigDir;
  let km: KVStoreMesh;
  const remotes: FakeRemote[] = [];

  before(async () => {
    local = await TestEtcd.start();
    lc = await local.client();
    dir = await ConfigDir.create();
  });
  after(async () => {
    await km.stop();
    for (const r of remotes) await r.stop();
    await local.stop();
    await dir.cleanup();
  });

  it('copies every resource byte for byte, with canaries, a cached cluster config and its lease', async () => {
    const c2 = await FakeRemote.start('c2', 2);
    remotes.push(c2);
    await c2.populate();
    await c2.client.put(IDENTITY_VALUE_KEY).value(String(clusterIdentity(2, 1)));
    await c2.putAllCanaries();
    await c2.putConfig();
    await c2.heartbeat();
    await dir.write('c2', c2.etcd.endpoint);

    km = makeKVStoreMesh(lc, dir.dir);
    await km.start();
    await km.synced();
    assert.equal(km.ready(), true);

    for (const [source, target] of directMapping('c2')) {
      const want = await readSuffixes(c2.client, source);
      assert.ok(want.size > 0, `fixture has keys under ${source}`);
      assert.deepEqual(await readSuffixes(lc, target), want, `${source} -> ${target}`);
    }
    // Byte for byte: the identity master key is copied, bytes unchanged; the slave key is not (Cilium copies `id/`
    // only).
    const idCopy = await lc.get(`cilium/cache/identities/v1/c2/id/${clusterIdentity(2, 1)}`).buffer();
    const idSource = await c2.client.get(`cilium/state/identities/v1/id/${clusterIdentity(2, 1)}`).buffer();
    assert.ok(idCopy && idSource && idCopy.equals(idSource), 'identity master key copied byte for byte');
    assert.deepEqual(
      [...(await readPrefix(lc, 'cilium/cache/identities/v1/c2/')).keys()].filter((k) => !k.includes('/c2/id/')),
      [],
      'nothing but id/ copied',
    );

    const canaries = await readPrefix(lc, 'cilium/synced/c2/');
    assert.deepEqual(
      [...canaries.keys()].sort(),
      [
        'cilium/synced/c2/cilium/cache/endpointslices/v1',
        'cilium/synced/c2/cilium/cache/identities/v1',
        'cilium/synced/c2/cilium/cache/ip/v1',
        'cilium/synced/c2/cilium/cache/nodes/v1',
        'cilium/synced/c2/cilium/cache/serviceexports/v1',
        'cilium/synced/c2/cilium/cache/services/v1',
      ],
      'all six cache canaries, those of the reflectors that are off (service exports, endpoint slices) included',
    );
    for (const [, v] of canaries) assert.match(v.value.toString(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    assert.equal(
      await getKey(lc, 'cilium/cluster-config/c2'),
      '{"id":2,"capabilities":{"syncedCanaries":true,"cached":true,"maxConnectedClusters":255}}',
    );

    // Every key written (copies, canaries, config) carries kvstoremesh's one lease.
    const written = new Map([
      ...(await readPrefix(lc, 'cilium/cache/')),
      ...canaries,
      ...(await readPrefix(lc, 'cilium/cluster-config/c2')),
    ]);
    const leases = new Set([...written.values()].map((v) => v.lease));
    assert.equal(leases.size, 1, `one lease: ${[...leases].join(',')}`);
    assert.notEqual([...leases][0], '0');

    const st = km.status();
    assert.equal(st.ready, true);
    const r = st.remotes.find((x) => x.name === 'c2');
    assert.ok(r);
    assert.equal(r.ready, true, r.status);
    assert.equal(r.synced, true);
    assert.equal(r.config?.clusterID, 2);
    assert.equal(r.resources.nodes?.entries, 2);
    assert.equal(r.resources.identities?.entries, 2, 'master keys only');
    assert.equal(r.resources.serviceexports, undefined, 'service exports off: no active reflector');

    const metrics = await registry.metrics();
    assert.match(metrics, /cilium_kvstoremesh_remote_clusters 1/);
    assert.match(metrics, /cilium_kvstoremesh_remote_cluster_readiness_status\{target_cluster="c2"\} 1/);
    assert.match(metrics, /cilium_kvstoremesh_remote_cluster_failures\{target_cluster="c2"\} 0/);
  });

  it('follows updates and deletes', async () => {
    const c2 = remotes[0]!;
    await c2.putNode(makeNode('c2', 2, 'n3', '172.20.0.9'));
    await c2.putNode(makeNode('c2', 2, 'n1', '172.20.0.42'));
    await c2.delete('nodes', 'n2');
    await c2.client.delete().key(IDENTITY_VALUE_KEY);
    await waitForAsync('node changes copied', async () => {
      const got = await readSuffixes(lc, 'cilium/cache/nodes/v1/c2/');
      const want = await readSuffixes(c2.client, 'cilium/state/nodes/v1/c2/');
      return JSON.stringify([...got].sort()) === JSON.stringify([...want].sort()) && got.has('n3') && !got.has('n2');
    });
    await waitForAsync(
      'identity slave key deleted',
      async () => (await readPrefix(lc, 'cilium/cache/identities/v1/c2/value/')).size === 0,
    );
    assert.match((await getKey(lc, 'cilium/cache/nodes/v1/c2/n1')) ?? '', /172\.20\.0\.42/);
  });

  it('gates each resource on its canary, and copies service exports only from a remote that supports them', async () => {
    const c3 = await FakeRemote.start('c3', 3);
    remotes.push(c3);
    await c3.populate();
    await c3.client.put(serviceExportKey('c3', 'shop', 'cart')).value(encodeServiceExport(serviceExport('c3', 'cart')));
    await c3.putConfig({ serviceExportsEnabled: true });
    await c3.heartbeat();
    await dir.write('c3', c3.etcd.endpoint);

    await waitFor('c3 connected', () => km.status().remotes.some((r) => r.name === 'c3' && r.connected));
    await sleepMs(500);
    assert.equal((await readPrefix(lc, 'cilium/cache/nodes/v1/c3/')).size, 0, 'no canary, no copy');
    assert.equal(km.status().remotes.find((r) => r.name === 'c3')?.ready, false);

    await c3.putCanary('nodes');
    await waitForAsync('nodes copied', async () => (await readPrefix(lc, 'cilium/cache/nodes/v1/c3/')).size === 2);
    assert.ok(await getKey(lc, 'cilium/synced/c3/cilium/cache/nodes/v1'));
    assert.equal((await readPrefix(lc, 'cilium/cache/services/v1/c3/')).size, 0, 'services still gated');
    assert.equal(await getKey(lc, 'cilium/synced/c3/cilium/cache/services/v1'), undefined);

    await c3.putAllCanaries();
    await c3.putCanary('serviceexports');
    await waitFor('c3 ready', () => km.status().remotes.find((r) => r.name === 'c3')?.ready === true);
    assert.deepEqual(
      await readSuffixes(lc, 'cilium/cache/serviceexports/v1/c3/'),
      await readSuffixes(c3.client, 'cilium/state/serviceexports/v1/c3/'),
    );
    assert.ok(await getKey(lc, 'cilium/synced/c3/cilium/cache/serviceexports/v1'));
    assert.equal(
      await getKey(lc, 'cilium/cluster-config/c3'),
      '{"id":3,"capabilities":{"syncedCanaries":true,"cached":true,"maxConnectedClusters":255,"serviceExportsEnabled":true}}',
    );
    // c2 does not support exports: nothing of them in its cache, but their canary (a disabled reflector's).
    assert.equal((await readPrefix(lc, 'cilium/cache/serviceexports/v1/c2/')).size, 0, 'no c2 export copies');
    assert.ok(await getKey(lc, 'cilium/synced/c2/cilium/cache/serviceexports/v1'), 'c2 export canary written');
  });

  it('drops the copied service exports when the remote stops supporting them (their canary stays)', async () => {
    const c3 = remotes[1]!;
    await c3.putConfig(); // no serviceExportsEnabled: an older remote
    await waitForAsync(
      'service export copies removed, canary kept',
      async () =>
        (await readPrefix(lc, 'cilium/cache/serviceexports/v1/c3/')).size === 0 &&
        (await getKey(lc, 'cilium/synced/c3/cilium/cache/serviceexports/v1')) !== undefined,
    );
    await waitForAsync(
      'cluster config follows',
      async () =>
        (await getKey(lc, 'cilium/cluster-config/c3')) ===
        '{"id":3,"capabilities":{"syncedCanaries":true,"cached":true,"maxConnectedClusters":255}}',
    );
    assert.equal((await readPrefix(lc, 'cilium/cache/nodes/v1/c3/')).size, 2, 'the rest stays');
  });

  it('in front of a remote without serviceExportsEnabled, writes all six cache canaries within a second of connecting', async () => {
    const c5 = await FakeRemote.start('c5', 5);
    remotes.push(c5);
    await c5.populate();
    await c5.putAllCanaries();
    await c5.putConfig(); // no serviceExportsEnabled, no endpointSlicesExportMode
    await c5.heartbeat();
    await dir.write('c5', c5.etcd.endpoint);
    await waitFor('c5 connected', () => km.status().remotes.some((r) => r.name === 'c5' && r.connected));
    const connectedAt = Date.now();
    const want = ['endpointslices', 'identities', 'ip', 'nodes', 'serviceexports', 'services'].map(
      (r) => `cilium/synced/c5/cilium/cache/${r}/v1`,
    );
    let have: string[] = [];
    while (Date.now() - connectedAt < 1_000) {
      have = [...(await readPrefix(lc, 'cilium/synced/c5/')).keys()].sort();
      if (have.length === want.length) break;
      await sleepMs(20);
    }
    assert.deepEqual(have, want, 'all six cache canaries within a second of connecting');
    assert.equal(
      await getKey(lc, 'cilium/cluster-config/c5'),
      '{"id":5,"capabilities":{"syncedCanaries":true,"cached":true,"maxConnectedClusters":255}}',
      'the cached config',
    );
  });
});
