import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort } from '../../src/mesh/etcd-process.js';
import { TestEtcd } from '../harness/etcd.js';
import { eventually } from '../harness/eventually.js';

const REPO = path.resolve(import.meta.dirname, '../..');

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
    const script =
      "import { Command } from '@commander-js/extra-typings';" +
      "import { apiserverCommand } from './src/apiserver/main.ts';" +
      'await new Command().addCommand(apiserverCommand()).parseAsync(process.argv);';
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        script,
        'x',
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
      ],
      { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, CMESH_LOG_LEVEL: 'warn' } },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    });

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

    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
  });
});
