/**
 * Issue 25, hole 7: a compromised remote claims addresses it does not own. The remote (a real etcd filled with
 * wire-exact values) announces a node with pod CIDR 10.2.1.0/24 and publishes ipcache entries inside it, for
 * 8.8.8.8, and for the local cluster's node IP and a local pod IP. Only the first is admitted into the agent's
 * ipcache; the others are refused and counted. An entry that arrives before its node is admitted once the node
 * arrives, and withdrawn when the node goes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ClusterMesh } from '../../src/agent/remote/cluster-mesh.js';
import { AgentTables } from '../../src/agent/tables/tables.js';
import { registry } from '../../src/observe/metrics.js';
import { cidrToWire, newNode } from '../../src/wire/index.js';
import { ConfigDir, FAST, FakeRemote, clusterIdentity, makeIpcache, waitFor } from '../agent/remote/helpers.js';

const LOCAL = { name: 'c1', id: 1 };
const LOCAL_NODE_IP = '10.1.0.10';
const LOCAL_POD_IP = '10.1.1.7';

async function rejected(reason: string): Promise<number> {
  const m = (await registry.getSingleMetric('cmesh_clustermesh_remote_cluster_rejected_ipcache_entries_total')?.get())
    ?.values;
  return (m ?? [])
    .filter((v) => v.labels.target_cluster === 'c2' && v.labels.reason === reason)
    .reduce((n, v) => n + v.value, 0);
}

describe('security: a remote cluster claims only the addresses it announces (hole 7)', () => {
  let remote: FakeRemote;
  let dir: ConfigDir;
  let mesh: ClusterMesh;
  let tables: AgentTables;

  before(async () => {
    remote = await FakeRemote.start('c2', 2);
    await remote.putConfig();
    await remote.heartbeat();
    await remote.putAllCanaries();
    tables = new AgentTables({ clusterName: LOCAL.name, clusterId: LOCAL.id, maxConnectedClusters: 255 });
    // The local cluster: a node with its address and pod CIDR, and a pod.
    tables.nodes.upsert(
      newNode('c1-node-1', {
        Cluster: LOCAL.name,
        ClusterID: LOCAL.id,
        IPAddresses: [{ Type: 'InternalIP', IP: LOCAL_NODE_IP }],
        IPv4AllocCIDR: cidrToWire('10.1.1.0/24'),
      }),
    );
    tables.ipcache.upsertLocal('default/web', [makeIpcache(LOCAL_POD_IP, clusterIdentity(1, 1))]);
    dir = await ConfigDir.create();
    await dir.write('c2', remote.etcd.endpoint);
    mesh = new ClusterMesh(
      {
        localClusterName: LOCAL.name,
        localClusterId: LOCAL.id,
        localMaxConnectedClusters: 255,
        configDir: dir.dir,
        sink: tables,
      },
      FAST,
    );
  });

  after(async () => {
    await mesh.stop();
    await remote.stop();
    await dir.cleanup();
  });

  it('admits 10.2.1.5 (in the node pod CIDR) and refuses 8.8.8.8, a local node IP and a local pod IP', async () => {
    const before = {
      outside: await rejected('outside-announced-cidrs'),
      node: await rejected('local-node-ip'),
      pod: await rejected('local-pod-ip'),
    };
    await remote.putNode(
      newNode('n1', {
        Cluster: 'c2',
        ClusterID: 2,
        IPAddresses: [{ Type: 'InternalIP', IP: '172.30.0.4' }],
        IPv4AllocCIDR: cidrToWire('10.2.1.0/24'),
      }),
    );
    const id = clusterIdentity(2, 1);
    for (const ip of ['10.2.1.5', '8.8.8.8', LOCAL_NODE_IP, LOCAL_POD_IP]) await remote.putIpcache(makeIpcache(ip, id));
    // The remote node's own address is legitimate too (as host, 1 -> remote-node, 6).
    await remote.putIpcache(makeIpcache('172.30.0.4', 1));
    mesh.start();
    await mesh.synced();
    await waitFor(
      'the remote entries admitted',
      () => tables.ipcache.get('10.2.1.5')?.cluster === 'c2' && tables.ipcache.get('172.30.0.4') !== undefined,
      () => tables.ipcache.list(),
    );
    assert.equal(tables.ipcache.get('10.2.1.5')?.identity, id, '10.2.1.5 is admitted with its identity');
    assert.equal(tables.ipcache.get('172.30.0.4')?.identity, 6, "the remote node's own IP is admitted");
    assert.equal(tables.ipcache.get('8.8.8.8'), undefined, '8.8.8.8 is not in the local ipcache');
    assert.equal(tables.ipcache.get(LOCAL_NODE_IP), undefined, 'the local node IP is not claimed by the remote');
    const pod = tables.ipcache.claims(LOCAL_POD_IP);
    assert.deepEqual(
      pod.map((c) => c.source),
      ['local'],
      'the local pod IP has only its local claim, none from the remote',
    );
    assert.equal(await rejected('outside-announced-cidrs'), before.outside + 1, '8.8.8.8 is counted');
    assert.equal(await rejected('local-node-ip'), before.node + 1, 'the local node IP is counted');
    assert.equal(await rejected('local-pod-ip'), before.pod + 1, 'the local pod IP is counted');
  });

  it('holds an entry that arrives before its node, admits it when the node arrives, withdraws it when the node goes', async () => {
    const id = clusterIdentity(2, 2);
    await remote.putIpcache(makeIpcache('10.2.9.9', id));
    await remote.putIpcache(makeIpcache('10.2.1.6', id)); // a marker that the first one was processed
    await waitFor('the marker entry', () => tables.ipcache.get('10.2.1.6') !== undefined);
    assert.equal(tables.ipcache.get('10.2.9.9'), undefined, 'held while no node announces 10.2.9.0/24');

    await remote.putNode(newNode('n2', { Cluster: 'c2', ClusterID: 2, IPv4AllocCIDR: cidrToWire('10.2.9.0/24') }));
    await waitFor(
      'the held entry admitted once its node arrived',
      () => tables.ipcache.get('10.2.9.9')?.identity === id,
      () => tables.ipcache.list(),
    );

    await remote.delete('nodes', 'n2');
    await waitFor(
      'the entry withdrawn with its node',
      () => tables.ipcache.get('10.2.9.9') === undefined,
      () => tables.ipcache.list(),
    );
    assert.ok(tables.ipcache.get('10.2.1.5'), 'entries of the other node stay');
  });
});
