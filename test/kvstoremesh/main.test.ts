import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parseDuration } from '../../src/observe/duration.js';
import { freePort } from '../../src/mesh/etcd-process.js';
import { writeTestClusterRecord } from '../harness/cluster-record.js';
import { spawnDaemon } from '../harness/daemon.js';
import { TestEtcd } from '../harness/etcd.js';
import { FakeRemote, getKey, waitForAsync } from './helpers.js';

describe('cmesh kvstoremesh (the command)', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('parses Go-style durations', () => {
    assert.equal(parseDuration('15s'), 15_000);
    assert.equal(parseDuration('10m'), 600_000);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('1m30s'), 90_000);
    assert.equal(parseDuration('0'), 0);
    assert.throws(() => parseDuration('15', '--x'), /--x must be a duration such as 0, 500ms, 30s/);
  });

  it('runs from --cluster-dir: copies, serves /readyz with per-remote detail and /metrics, stops on SIGTERM', async () => {
    const local = await TestEtcd.start();
    cleanups.push(() => local.stop());
    const c2 = await FakeRemote.start('c2', 2);
    cleanups.push(() => c2.stop());
    await c2.populate();
    await c2.putAllCanaries();
    await c2.putConfig();
    await c2.heartbeat();

    const clusterDir = await mkdtemp(path.join(tmpdir(), 'cmesh-test-km-'));
    cleanups.push(() => rm(clusterDir, { recursive: true, force: true }));
    const healthPort = await freePort();
    const clientPort = Number(new URL(local.endpoint).port);
    await writeTestClusterRecord(clusterDir, {
      ports: { kvstoremeshHealth: healthPort, clustermeshEtcdClient: clientPort },
    });
    await mkdir(path.join(clusterDir, 'kvstoremesh'));
    await writeFile(path.join(clusterDir, 'kvstoremesh', 'c2'), `endpoints:\n- ${c2.etcd.endpoint}\n`);

    const daemon = spawnDaemon('./src/cli/kvstoremesh-command.ts', 'kvstoremeshCommand', [
      'kvstoremesh',
      '--cluster-dir',
      clusterDir,
    ]);
    cleanups.push(() => daemon.kill());

    const lc = await local.client();
    const base = `http://127.0.0.1:${healthPort}`;
    type ReadyBody = { ready: boolean; detail: { cluster: string; remotes: { name: string; ready: boolean }[] } };
    let body: ReadyBody | undefined;
    await waitForAsync(
      'ready, with the remote ready',
      async () => {
        try {
          const res = await fetch(`${base}/readyz`);
          body = (await res.json()) as ReadyBody;
          return res.status === 200 && body.detail.remotes[0]?.ready === true;
        } catch {
          return false;
        }
      },
      30_000,
    );
    assert.ok(body);
    assert.equal(body.ready, true);
    assert.equal(body.detail.cluster, 'c1');
    assert.deepEqual(
      body.detail.remotes.map((r) => [r.name, r.ready]),
      [['c2', true]],
    );
    assert.ok(await getKey(lc, 'cilium/cache/nodes/v1/c2/n1'));
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /cilium_kvstoremesh_remote_clusters 1/);
    assert.match(metrics, /cilium_kvstoremesh_bootstrap_seconds\{source_cluster="c1"\}/);
    // The kvstore layer's metrics carry kvstoremesh's name, as Cilium's do.
    assert.match(metrics, /cilium_kvstoremesh_kvstore_operations_duration_seconds_count\{/);
    assert.doesNotMatch(metrics, /^cilium_kvstore_/m);

    daemon.signal('SIGTERM');
    assert.equal(await daemon.exited, 0, daemon.stderr());
  });
});
