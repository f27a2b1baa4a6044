import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { Agent } from '../../src/agent/agent.js';
import { AgentClient } from '../../src/agent/api/api-client.js';
import { AgentApiServer } from '../../src/agent/api/api-server.js';
import type {
  ClusterMeshHandle,
  RemoteClusterSink,
  RemoteClusterStatus,
} from '../../src/agent/remote/remote-cluster-types.js';
import { LocalClusterSource } from '../../src/k8s/local-source.js';
import { ObjectStore } from '../../src/k8s/object-store.js';
import { registry } from '../../src/observe/metrics.js';
import { TestEtcd } from '../harness/etcd.js';
import { ciliumEndpoint, ciliumIdentity, ciliumNode, clusterService, service, slice } from './fixtures.js';

const WAIT_LIMIT_MS = 20_000;

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** Stands in for the remote side: feeds cluster c2's state into the sink, as a validated remote would. */
class FakeClusterMesh implements ClusterMeshHandle {
  started = false;
  stopped = false;
  constructor(readonly sink: RemoteClusterSink) {}

  start(): void {
    this.started = true;
    this.sink.upsertService('c2', clusterService('c2', 2, 'echo', ['10.2.0.5']));
    this.sink.upsertIpcache('c2', '10.2.0.5', {
      IP: '10.2.0.5',
      HostIP: '172.16.16.1',
      ID: 131073,
      Key: 0,
      Metadata: '',
      K8sNamespace: 'test',
      K8sPodName: 'echo-c2',
    });
    this.sink.upsertIdentity('c2', 131073, [
      { source: 'k8s', key: 'app', value: 'echo' },
      { source: 'k8s', key: 'io.cilium.k8s.policy.cluster', value: 'c2' },
    ]);
  }

  synced(): Promise<void> {
    return Promise.resolve();
  }

  status(): RemoteClusterStatus[] {
    return [
      {
        name: 'c2',
        ready: true,
        connected: true,
        status: 'connected',
        numNodes: 0,
        numEndpoints: 1,
        numIdentities: 1,
        numSharedServices: 1,
        numFailures: 0,
        lastFailure: null,
        lastFailureMessage: null,
        config: {
          clusterID: 2,
          maxConnectedClusters: 255,
          syncedCanaries: true,
          serviceExportsEnabled: null,
          cached: false,
        },
        synced: { nodes: true, services: true, serviceExports: null, identities: true, endpoints: true },
        invalidEntries: 0,
      },
    ];
  }

  stop(): Promise<void> {
    this.stopped = true;
    return Promise.resolve();
  }
}

describe('Agent with a real state etcd and its API socket', () => {
  let etcd: TestEtcd;
  let writer: Etcd3;
  let reader: Etcd3;
  let store: ObjectStore;
  let source: LocalClusterSource;
  let agent: Agent;
  let mesh: FakeClusterMesh | undefined;
  let api: AgentApiServer;
  let client: AgentClient;
  let dir: string;

  before(async () => {
    etcd = await TestEtcd.start();
    writer = await etcd.client();
    reader = await etcd.client();
    store = new ObjectStore(writer);
    await store.create(service('echo', { global: true, affinity: 'local' }));
    await store.create(slice('echo-a', 'echo', ['10.1.0.5']));
    await store.create(ciliumEndpoint('echo-c1', '10.1.0.5', 65537));
    await store.create(ciliumIdentity(65537, { 'k8s:app': 'echo', 'k8s:io.cilium.k8s.policy.cluster': 'c1' }));
    await store.create(ciliumNode('c1-node-1', '10.1.0.0/24', '172.16.8.1'));
    source = new LocalClusterSource(reader);
    agent = new Agent({
      clusterName: 'c1',
      clusterId: 1,
      nodeName: 'c1-node-1',
      source,
      clusterMesh: (sink) => (mesh = new FakeClusterMesh(sink)),
    });
    dir = await mkdtemp(path.join(tmpdir(), 'cmesh-agent-'));
    api = new AgentApiServer(agent, path.join(dir, 'nodes', 'c1-node-1', 'agent.sock'));
    client = new AgentClient(api.socketPath);
    agent.start();
    await api.listen();
    await agent.synced();
  });

  after(async () => {
    await api.close();
    await agent.stop();
    await source.close();
    await etcd.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the merged services in the exact JSON shape', async () => {
    // Affinity local with an active local backend: the remote one is listed but not selected.
    assert.deepEqual(await client.services(), [
      {
        frontend: '10.96.0.10:80/TCP',
        type: 'ClusterIP',
        service: 'test/echo',
        backends: [
          {
            address: '10.1.0.5',
            port: 8080,
            protocol: 'TCP',
            cluster: 'c1',
            clusterID: 1,
            state: 'active',
            selected: true,
          },
          {
            address: '10.2.0.5',
            port: 9090,
            protocol: 'TCP',
            cluster: 'c2',
            clusterID: 2,
            state: 'active',
            selected: false,
          },
        ],
      },
    ]);
    const lb = await client.lb();
    assert.deepEqual(
      lb.map((e) => [e.frontend, e.backends.map((b) => `${b.address}:${b.port}`)]),
      [['10.96.0.10:80/TCP', ['10.1.0.5:8080']]],
    );
  });

  it('follows local changes: local backends gone -> remote selected; unreachable -> kept, unselected', async () => {
    await store.delete('EndpointSlice', 'test', 'echo-a');
    const remoteOnly = await waitFor('the remote backend to be selected', async () => {
      const s = await client.services();
      const b = s[0]?.backends;
      return b?.length === 1 && b[0]?.selected ? b : undefined;
    });
    assert.equal(remoteOnly[0]?.cluster, 'c2');
    mesh!.sink.setReachable('c2', false);
    const svc = await client.services();
    assert.deepEqual(
      svc[0]?.backends.map((b) => [b.cluster, b.state, b.selected]),
      [['c2', 'unreachable', false]],
    );
    mesh!.sink.setReachable('c2', true);
    await store.create(slice('echo-b', 'echo', ['10.1.0.7']));
    await waitFor('the new local backend to take over', async () => {
      const b = (await client.services())[0]?.backends ?? [];
      return b.some((x) => x.address === '10.1.0.7' && x.selected) && b.some((x) => x.cluster === 'c2' && !x.selected)
        ? true
        : undefined;
    });
  });

  it('serves ipcache, identities, nodes and endpoints from local and remote state', async () => {
    const ipc = await client.ipcache();
    assert.deepEqual(
      ipc.map((e) => [e.prefix, e.identity, e.cluster, e.clusterID, e.source]),
      [
        ['10.1.0.5/32', 65537, 'c1', 1, 'local'],
        ['10.2.0.5/32', 131073, 'c2', 2, 'remote'],
      ],
    );
    const ids = await client.identities();
    assert.deepEqual(ids.find((i) => i.id === 65537)?.cluster, 'c1');
    assert.deepEqual(ids.find((i) => i.id === 131073)?.labels, ['k8s:app=echo', 'k8s:io.cilium.k8s.policy.cluster=c2']);
    const nodes = await client.nodes();
    assert.deepEqual(
      nodes.map((n) => [n.cluster, n.name, n.ipv4AllocCIDR, n.source]),
      [['c1', 'c1-node-1', '10.1.0.0/24', 'local']],
    );
    const eps = await client.endpoints();
    assert.deepEqual(
      eps.map((e) => [e.namespace, e.name, e.identity, e.ipv4]),
      [['test', 'echo-c1', 65537, '10.1.0.5']],
    );
  });

  it('reports status with the ClusterMesh section and exports the global services metric', async () => {
    const st = await client.status();
    assert.equal(st.synced, true);
    assert.equal(st.cluster.name, 'c1');
    assert.equal(st.clusterMesh.enabled, true);
    assert.equal(st.clusterMesh.globalServices, 1);
    assert.equal(st.clusterMesh.numReady, 1);
    assert.equal(st.clusterMesh.remotes[0]?.name, 'c2');
    assert.ok(Object.values(st.localSync).every(Boolean));
    assert.deepEqual(await client.healthz(), { ok: true, synced: true });
    const text = await registry.getSingleMetricAsString('cilium_clustermesh_global_services');
    assert.match(text, /cilium_clustermesh_global_services\{source_cluster="c1",source_node_name="c1-node-1"\} 1/);
    await assert.rejects(client.get('/v1/nope'), /HTTP 404/);
  });

  it('refuses a second server on a live socket, and the client explains a missing one', async () => {
    const second = new AgentApiServer(agent, api.socketPath);
    await assert.rejects(second.listen(), /another agent is serving/);
    await assert.rejects(new AgentClient(path.join(dir, 'none.sock')).status(), /is the agent running/);
  });
});
