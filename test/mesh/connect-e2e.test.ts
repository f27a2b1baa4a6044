/**
 * Two real local clusters (state etcd, operator, TLS clustermesh etcd, apiserver, one agent each; daemons run from
 * dist/, so `npm run build` first): enable, connect, status --wait, troubleshoot, rotate-certs, disconnect.
 */
import assert from 'node:assert/strict';
import { readFile, rm, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createEtcdClient } from '../../src/kvstore/client.js';
import { enableClustermesh } from '../../src/mesh/clustermesh.js';
import { connectClusters, disconnectClusters, rotateClusterCertificates } from '../../src/mesh/connect.js';
import { clusterPaths } from '../../src/mesh/home.js';
import { mkdir } from 'node:fs/promises';
import { writeClusterRecord, type ClusterRecord } from '../../src/k8s/local-cluster-record.js';
import { freePort } from '../../src/mesh/etcd-process.js';
import { lockClusterIds } from '../harness/loopback-lock.js';
import { deleteCluster, startAgents, stateEtcdProcess, validateNewCluster } from '../../src/mesh/local-cluster.js';
import { PrerequisiteError } from '../../src/mesh/prerequisites.js';
import { clustermeshStatus, waitForClustermesh } from '../../src/mesh/status.js';
import { troubleshootClustermesh } from '../../src/mesh/troubleshoot.js';

const WAIT_MS = 40_000;

/**
 * A local cluster with its state etcd and agents but no operator: what ClusterMesh needs (the apiserver publishes
 * an empty cluster with its canaries), at a fraction of the start-up cost.
 */
async function createMinimalCluster(name: string, id: number, home: string): Promise<void> {
  const v = await validateNewCluster({ name, id, nodes: 1 }, home);
  const paths = clusterPaths(name, home);
  const record: ClusterRecord = {
    name,
    id,
    maxConnectedClusters: 255,
    podCidr: v.podCidr,
    serviceCidr: v.serviceCidr,
    nodes: 1,
    createdAt: new Date().toISOString(),
    ports: {
      stateEtcdClient: await freePort(),
      stateEtcdPeer: await freePort(),
      stateEtcdMetrics: await freePort(),
      operatorHealth: await freePort(),
      kubeApiserver: await freePort(),
    },
  };
  for (const d of [paths.dir, paths.certs, paths.logs, paths.run, paths.clustermeshConfig, paths.nodes]) {
    await mkdir(d, { recursive: true, mode: 0o700 });
  }
  await writeClusterRecord(paths.record, record);
  await stateEtcdProcess(record, paths).start();
  await startAgents(record, paths);
}

describe('connecting two local clusters over mutual TLS', { timeout: 120_000 }, () => {
  let home: string;
  const names = ['east', 'west'];
  // Cluster IDs of this file: their default loopback ranges are locked against other test files.
  const FIRST_ID = 51;
  let release: () => Promise<void>;

  before(async () => {
    release = await lockClusterIds(names.map((_, i) => FIRST_ID + i));
    home = await mkdtemp(path.join(tmpdir(), 'cmesh-test-home-'));
    for (const [i, n] of names.entries()) await createMinimalCluster(n, FIRST_ID + i, home);
  });

  after(async () => {
    for (const n of names) await deleteCluster(n, home).catch(() => undefined);
    await rm(home, { recursive: true, force: true });
    await release();
  });

  it('enable serves the clustermesh etcd only to clients with a certificate of the cluster CA', async () => {
    await Promise.all(names.map((n) => enableClustermesh(n, {}, home)));
    // Idempotent: enabling again changes nothing and does not fail (users exist, auth already on).
    const rec = await enableClustermesh('east', {}, home);
    assert.equal(rec.clustermesh?.tls, true);
    const endpoint = `https://127.0.0.1:${rec.ports.clustermeshEtcdClient ?? 0}`;
    const certs = clusterPaths('east', home).certs;
    const anon = createEtcdClient({
      endpoints: [endpoint],
      tls: { ca: path.join(certs, 'ca.crt') },
      requestTimeoutMs: 3_000,
    });
    await assert.rejects(anon.get('cilium/cluster-config/east').string());
    anon.close();
    const remote = createEtcdClient({
      endpoints: [endpoint],
      tls: {
        ca: path.join(certs, 'ca.crt'),
        cert: path.join(certs, 'remote-east.crt'),
        key: path.join(certs, 'remote-east.key'),
      },
      requestTimeoutMs: 3_000,
    });
    try {
      const cfg = JSON.parse((await remote.get('cilium/cluster-config/east').string()) ?? 'null') as { id: number };
      assert.equal(cfg.id, FIRST_ID);
      await assert.rejects(remote.put('cilium/state/nodes/v1/east/evil').value('{}').exec(), /permission denied/);
    } finally {
      remote.close();
    }
  });

  it('refuses to connect a cluster to itself', async () => {
    await assert.rejects(connectClusters('east', 'east', home), PrerequisiteError);
  });

  it('connect makes every agent of both clusters ready for the other', async () => {
    await connectClusters('east', 'west', home);
    for (const n of names) {
      const res = await waitForClustermesh(n, { timeoutMs: WAIT_MS, pollMs: 300, home });
      assert.equal(res.ready, true, JSON.stringify(res.status.remotes));
      const other = names.find((x) => x !== n);
      assert.deepEqual(
        res.status.remotes.map((r) => [r.cluster, r.connected, r.ready, r.readyAgents]),
        [[other, true, true, 1]],
      );
    }
    const report = await troubleshootClustermesh('east', home);
    assert.equal(report.ok, true, JSON.stringify(report, null, 2));
    assert.deepEqual(
      report.remotes[0]?.checks.map((c) => c.name),
      ['config', 'certificates', 'dns', 'tcp', 'tls', 'auth', 'cluster-config', 'canaries'],
    );
  });

  it('rotate-certs issues new certificates that etcd accepts, without breaking the connection', async () => {
    const westPaths = clusterPaths('west', home);
    const before = await readFile(path.join(westPaths.certs, 'remote-west.crt'), 'utf8');
    const res = await rotateClusterCertificates('west', home);
    assert.deepEqual(res.updatedClusters, ['east']);
    const installed = await readFile(
      path.join(clusterPaths('east', home).certs, 'remotes', 'west', 'client.crt'),
      'utf8',
    );
    assert.notEqual(installed, before);
    assert.equal(installed, await readFile(path.join(westPaths.certs, 'remote-west.crt'), 'utf8'));
    // A fresh connection with the new files (troubleshoot dials anew) passes TLS and auth...
    const report = await troubleshootClustermesh('east', home);
    assert.equal(report.ok, true, JSON.stringify(report, null, 2));
    // ...and the agents stay connected.
    const st = await clustermeshStatus('east', home);
    assert.equal(st.ready, true, JSON.stringify(st.remotes));
  });

  it('disconnect removes the remote from both clusters', async () => {
    await disconnectClusters('east', 'west', home);
    for (const n of names) {
      const deadline = Date.now() + WAIT_MS;
      let st = await clustermeshStatus(n, home);
      while (st.remotes.length > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 300));
        st = await clustermeshStatus(n, home);
      }
      assert.deepEqual(st.configured, []);
      assert.deepEqual(st.remotes, []);
    }
    await assert.rejects(disconnectClusters('east', 'west', home), /not connected/);
  });
});
