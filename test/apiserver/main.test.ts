import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { apiserverRunOptions } from '../../src/apiserver/main.js';
import { apiserverCommand } from '../../src/cli/apiserver-command.js';
import { freePort } from '../../src/mesh/etcd-process.js';
import { writeTestClusterRecord } from '../harness/cluster-record.js';
import { spawnDaemon } from '../harness/daemon.js';
import { TestEtcd } from '../harness/etcd.js';
import { eventually } from '../harness/eventually.js';

describe('cmesh apiserver (the daemon)', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('serves /readyz once synced and /metrics under Cilium names, and stops on SIGTERM', async () => {
    const [state, mesh] = await Promise.all([TestEtcd.start(), TestEtcd.start()]);
    cleanups.push(
      () => state.stop(),
      () => mesh.stop(),
    );
    const healthPort = await freePort();
    const daemon = spawnDaemon('./src/cli/apiserver-command.ts', 'apiserverCommand', [
      'apiserver',
      '--cluster-name',
      'c1',
      '--cluster-id',
      '1',
      '--state-etcd',
      state.endpoint,
      '--kvstore',
      mesh.endpoint,
      '--health-port',
      String(healthPort),
    ]);
    cleanups.push(() => daemon.kill());

    const base = `http://127.0.0.1:${healthPort}`;
    await eventually(
      async () => {
        try {
          return (await fetch(`${base}/readyz`)).status;
        } catch {
          return 0;
        }
      },
      (status) => status === 200,
      'apiserver ready',
    );
    const metrics = await (await fetch(`${base}/metrics`)).text();
    // Cilium's clustermesh-apiserver names its kvstore metrics after itself, not cilium_kvstore_*.
    assert.match(metrics, /^cilium_clustermesh_apiserver_kvstore_operations_duration_seconds_count\{/m);
    assert.match(
      metrics,
      /^cilium_clustermesh_apiserver_kvstore_initial_sync_completed\{[^}]*scope="ip\/v1"[^}]*\} 1$/m,
    );
    assert.doesNotMatch(metrics, /^cilium_kvstore_/m);

    daemon.signal('SIGTERM');
    assert.equal(await daemon.exited, 0, daemon.stderr());
  });
});

describe('cmesh apiserver flags', () => {
  const dirs: string[] = [];
  after(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('takes its settings from --cluster-dir, and a flag given wins over the record', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cmesh-test-apiserver-flags-'));
    dirs.push(dir);
    await writeTestClusterRecord(dir, {
      ports: { stateEtcdClient: 2379, apiserverHealth: 9880, clustermeshEtcdClient: 2380 },
      clustermesh: {
        enabled: true,
        kvstoremesh: false,
        tls: false,
        serviceExports: true,
        defaultGlobalNamespace: false,
      },
    });
    const fromRecord = await apiserverRunOptions({ clusterDir: dir });
    assert.equal(fromRecord.clusterName, 'c1');
    assert.deepEqual(fromRecord.stateEtcd.endpoints, ['http://127.0.0.1:2379']);
    assert.deepEqual(fromRecord.kvstore.endpoints, ['http://127.0.0.1:2380']);
    assert.equal(fromRecord.healthPort, 9880);
    assert.equal(fromRecord.defaultGlobalNamespace, false, "the record's setting");
    assert.equal(fromRecord.enableServiceExports, true);
    const flagged = await apiserverRunOptions({
      clusterDir: dir,
      clustermeshDefaultGlobalNamespace: true,
      healthPort: 1234,
      stateEtcd: 'http://127.0.0.1:1',
    });
    assert.equal(flagged.defaultGlobalNamespace, true, 'the flag wins over the record');
    assert.equal(flagged.healthPort, 1234);
    assert.deepEqual(flagged.stateEtcd.endpoints, ['http://127.0.0.1:1']);
  });

  it('refuses a missing setting or a value that is not a boolean, naming the flag', async () => {
    await assert.rejects(
      apiserverRunOptions({ clusterName: 'c1', kvstore: 'http://127.0.0.1:1' }),
      /missing --cluster-id, --state-etcd \(or pass --cluster-dir of a local cluster\)/,
    );
    const cmd = apiserverCommand().exitOverride();
    await assert.rejects(
      cmd.parseAsync(['--clustermesh-default-global-namespace', 'yes'], { from: 'user' }),
      /--clustermesh-default-global-namespace must be true or false, got "yes"/,
    );
    await assert.rejects(
      apiserverCommand().exitOverride().parseAsync(['--cluster-id', 'seven'], { from: 'user' }),
      /--cluster-id must be a non-negative integer, got "seven"/,
    );
  });
});
