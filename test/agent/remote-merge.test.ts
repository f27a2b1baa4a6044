/**
 * The whole agent path against real etcds: a remote cluster's etcd written with Cilium-format values (as a real
 * Cilium clustermesh-apiserver would), the agent's real ClusterMesh reading it, and the local cluster's state in its
 * own etcd; checked through the agent's service list, as `cmesh service list` shows it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Agent } from '../../src/agent/agent.js';
import { ClusterMesh } from '../../src/agent/remote/cluster-mesh.js';
import { LocalClusterSource } from '../../src/k8s/local-source.js';
import { ObjectStore } from '../../src/k8s/object-store.js';
import type { AnyObject } from '../../src/k8s/types.js';
import type { ClusterService } from '../../src/wire/index.js';
import { TestEtcd } from '../harness/etcd.js';
import { ConfigDir, FAST, FakeRemote, clusterIdentity, identityLabels, makeIpcache } from './remote/helpers.js';

const LOCAL = { name: 'local', id: 1 };
const WAIT_MS = 20_000;

function remoteService(cluster: string, id: number, backends: string[], shared = true): ClusterService {
  return {
    cluster,
    namespace: 'shop',
    name: 'cart',
    frontends: { '10.96.40.2': { grpc: { Protocol: 'TCP', Port: 9000 } } },
    backends: Object.fromEntries(backends.map((ip) => [ip, { grpc: { Protocol: 'TCP', Port: 9090 } }])),
    labels: {},
    selector: { app: 'cart' },
    includeExternal: true,
    shared,
    clusterID: id,
  };
}

function localService(affinity?: string, global = true): AnyObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: 'cart',
      namespace: 'shop',
      annotations: {
        ...(global ? { 'service.cilium.io/global': 'true' } : {}),
        ...(affinity ? { 'service.cilium.io/affinity': affinity } : {}),
      },
    },
    spec: { clusterIP: '10.96.0.20', ports: [{ name: 'grpc', port: 9000, protocol: 'TCP', targetPort: 9090 }] },
  };
}

function localSlice(ips: string[]): AnyObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'cart-1', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'cart' } },
    addressType: 'IPv4',
    endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
    ports: [{ name: 'grpc', port: 9090, protocol: 'TCP' }],
  };
}

type Row = { address: string; cluster: string; state: string; selected: boolean };

describe('agent: remote clusters merged into the local service table (real etcds)', () => {
  let state: TestEtcd;
  let store: ObjectStore;
  let r2: FakeRemote;
  let r3: FakeRemote;
  let dir: ConfigDir;
  let agent: Agent;
  let source: LocalClusterSource;

  const backends = (): Row[] =>
    (agent.serviceList().find((s) => s.service === 'shop/cart')?.backends ?? []).map((b) => ({
      address: b.address,
      cluster: b.cluster,
      state: b.state,
      selected: b.selected,
    }));
  const selected = (): string[] =>
    backends()
      .filter((b) => b.selected)
      .map((b) => `${b.cluster}:${b.address}`)
      .sort();
  async function until(what: string, cond: () => boolean): Promise<void> {
    const deadline = Date.now() + WAIT_MS;
    while (!cond()) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; backends: ${JSON.stringify(backends())}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  before(async () => {
    state = await TestEtcd.start();
    store = new ObjectStore(await state.client());
    [r2, r3] = await Promise.all([FakeRemote.start('c2', 2), FakeRemote.start('c3', 3)]);
    for (const r of [r2, r3]) {
      await r.putConfig();
      await r.heartbeat();
      await r.putService(remoteService(r.name, r.id, [`10.${r.id}.0.1`, `10.${r.id}.0.2`]));
      await r.putIpcache(makeIpcache(`10.${r.id}.0.1`, clusterIdentity(r.id, 1)));
      await r.putIdentity(clusterIdentity(r.id, 1), identityLabels(r.name, 'cart'));
      await r.putAllCanaries();
    }
    await store.applyAll([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } },
      localService(),
      localSlice(['10.1.0.1']),
    ]);
    dir = await ConfigDir.create();
    await dir.write('c2', r2.etcd.endpoint);
    await dir.write('c3', r3.etcd.endpoint);
    source = new LocalClusterSource(await state.client());
    agent = new Agent({
      clusterName: LOCAL.name,
      clusterId: LOCAL.id,
      nodeName: 'local-node-1',
      source,
      clusterMesh: (sink) =>
        new ClusterMesh(
          {
            localClusterName: LOCAL.name,
            localClusterId: LOCAL.id,
            localMaxConnectedClusters: 255,
            configDir: dir.dir,
            sink,
            syncTimeoutMs: WAIT_MS,
          },
          FAST,
        ),
    });
    agent.start();
    await agent.synced();
  });

  after(async () => {
    await agent.stop();
    await source.close();
    await Promise.all([state.stop(), r2.stop(), r3.stop()]);
    await dir.cleanup();
  });

  it('merges the local global service with the shared ClusterServices of every remote', async () => {
    await until('5 backends', () => backends().length === 5);
    assert.deepEqual(selected(), ['c2:10.2.0.1', 'c2:10.2.0.2', 'c3:10.3.0.1', 'c3:10.3.0.2', 'local:10.1.0.1']);
    assert.ok(agent.ipcache.lookup('10.2.0.1'), 'remote endpoint in the ipcache');
  });

  it('affinity local: remote backends only while there is no active local backend', async () => {
    await store.apply(localService('local'));
    await until('only local selected', () => selected().join() === 'local:10.1.0.1');
    await store.apply(localSlice([]));
    await until('remotes take over', () => selected().length === 4 && selected().every((s) => !s.startsWith('local')));
    await store.apply(localSlice(['10.1.0.1', '10.1.0.2']));
    await until('local back', () => selected().join() === 'local:10.1.0.1,local:10.1.0.2');
  });

  it('affinity remote: local backends only while there is no healthy remote backend; none: all', async () => {
    await store.apply(localService('remote'));
    await until(
      'only remotes selected',
      () => selected().length === 4 && selected().every((s) => !s.startsWith('local')),
    );
    await store.apply(localService());
    await until('all selected', () => selected().length === 6);
  });

  it('a remote deleting its service withdraws its backends; re-adding brings them back; shared=false contributes nothing', async () => {
    await r3.delete('services', 'shop/cart');
    await until('c3 gone', () => backends().every((b) => b.cluster !== 'c3'));
    await r3.putService(remoteService('c3', 3, ['10.3.0.9']));
    await until('c3 back', () => backends().some((b) => b.address === '10.3.0.9'));
    await r3.putService(remoteService('c3', 3, ['10.3.0.9'], false));
    await until('non-shared ignored', () => backends().every((b) => b.cluster !== 'c3'));
  });

  it('a non-global local service ignores every remote', async () => {
    await store.apply(localService(undefined, false));
    await until('local only', () => backends().length === 2 && backends().every((b) => b.cluster === 'local'));
    await store.apply(localService());
    await until('global again', () => backends().some((b) => b.cluster === 'c2'));
  });

  it('invalid entries from a remote are skipped (wrong cluster, key mismatch, identity out of range)', async () => {
    await r2.putService(remoteService('c3', 3, ['10.9.9.9']), 'shop/evil'); // claims to be c3, lives in c2's etcd
    await r2.putIpcache(makeIpcache('10.2.7.7', clusterIdentity(5, 1))); // identity of cluster 5
    await r2.putIpcache(makeIpcache('10.2.7.8', clusterIdentity(2, 1)), '10.2.7.99'); // key and value disagree
    await r2.putIpcache(makeIpcache('10.2.7.9', clusterIdentity(2, 2)));
    await until('valid entry arrives', () => agent.ipcache.lookup('10.2.7.9') !== undefined);
    assert.equal(agent.ipcache.lookup('10.2.7.7'), undefined);
    assert.equal(agent.ipcache.lookup('10.2.7.99'), undefined);
    assert.equal(agent.ipcache.lookup('10.2.7.8'), undefined);
    assert.ok(
      backends().every((b) => b.address !== '10.9.9.9'),
      'the forged service is not merged',
    );
    const st = agent.remoteClusters().find((r) => r.name === 'c2');
    assert.ok((st?.invalidEntries ?? 0) >= 3, `c2 invalid entries counted: ${st?.invalidEntries}`);
  });

  it('etcd of a remote killed: its backends become unreachable and unselected at once; back after restart, with stale GC', async () => {
    await r2.etcd.kill();
    await until('c2 unreachable', () =>
      backends()
        .filter((b) => b.cluster === 'c2')
        .every((b) => b.state === 'unreachable' && !b.selected),
    );
    assert.ok(
      backends().some((b) => b.cluster === 'c2'),
      'unreachable backends are kept for instant recovery',
    );
    await r2.etcd.start();
    const fresh = await r2.etcd.client();
    await fresh.delete().key('cilium/state/ip/v1/default/10.2.7.9'); // deleted while the agent was away
    await fresh.put('cilium/.heartbeat').value(new Date().toISOString().replace(/\.\d+Z$/, 'Z'));
    await until('c2 active again', () =>
      backends()
        .filter((b) => b.cluster === 'c2')
        .every((b) => b.state === 'active' && b.selected),
    );
    await until('stale entry collected', () => agent.ipcache.lookup('10.2.7.9') === undefined);
  });

  it('removing a remote config file drains everything learned from it', async () => {
    await dir.remove('c2');
    await until('c2 drained', () => backends().every((b) => b.cluster !== 'c2'));
    assert.equal(agent.ipcache.lookup('10.2.0.1'), undefined);
  });
});
