import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { AgentClient } from '../../src/agent/api/api-client.js';
import { agentRunOptions, runAgent, type AgentRunOptions } from '../../src/agent/main.js';
import { ObjectStore } from '../../src/k8s/object-store.js';
import { writeTestClusterRecord } from '../harness/cluster-record.js';
import { TestEtcd } from '../harness/etcd.js';
import { service, slice } from './fixtures.js';

const run = promisify(execFile);
const WAIT_LIMIT_MS = 20_000;
const REPO = path.resolve(import.meta.dirname, '../..');

/** Runs the agent view commands as the CLI would, in a child process with CMESH_HOME set. */
async function cli(home: string, ...args: string[]): Promise<string> {
  const script =
    "import { Command } from '@commander-js/extra-typings';" +
    "import { agentViewCommands } from './src/cli/agent-views.ts';" +
    "const p = new Command('cmesh'); for (const c of agentViewCommands()) p.addCommand(c);" +
    'await p.parseAsync(process.argv.slice(1), { from: "user" });';
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, ...args], {
    cwd: REPO,
    env: { ...process.env, CMESH_HOME: home, CMESH_LOG_LEVEL: 'silent' },
  });
  return stdout;
}

describe('cmesh agent (runAgent) and the CLI views', () => {
  let etcd: TestEtcd;
  let home: string;
  let clusterDir: string;
  let opts: AgentRunOptions;
  let stop: () => void = () => undefined;
  let running: Promise<void> | undefined;

  before(async () => {
    etcd = await TestEtcd.start();
    home = await mkdtemp(path.join(tmpdir(), 'cmesh-home-'));
    clusterDir = path.join(home, 'clusters', 'c1');
    await mkdir(path.join(clusterDir, 'clustermesh'), { recursive: true });
    const port = Number(new URL(etcd.endpoint).port);
    await writeTestClusterRecord(clusterDir, { nodes: 2, ports: { stateEtcdClient: port } });
    const store = new ObjectStore(await etcd.client());
    await store.create(service('echo', { global: true }));
    await store.create(slice('echo-a', 'echo', ['10.1.0.5', '10.1.0.6']));
  });

  after(async () => {
    stop();
    await running;
    await etcd.stop();
    await rm(home, { recursive: true, force: true });
  });

  it('takes its settings from a local cluster folder', async () => {
    opts = await agentRunOptions({
      clusterDir,
      node: 'c1-node-1',
      clustermeshCacheTtl: '0',
      clustermeshSyncTimeout: '1m30s',
    });
    assert.deepEqual(opts, {
      clusterName: 'c1',
      clusterId: 1,
      maxConnectedClusters: 255,
      nodeName: 'c1-node-1',
      stateEtcd: `http://127.0.0.1:${new URL(etcd.endpoint).port}`,
      clustermeshConfig: path.join(clusterDir, 'clustermesh'),
      apiSocket: path.join(clusterDir, 'nodes', 'c1-node-1', 'agent.sock'),
      cacheTtlMs: 0,
      syncTimeoutMs: 90_000,
      policyDefaultLocalCluster: true,
      lbAlgorithm: 'maglev',
      serviceCidr: '10.96.0.0/16',
    });
    await assert.rejects(
      agentRunOptions({ clusterName: 'c1', clustermeshCacheTtl: '0', clustermeshSyncTimeout: '1m' }),
      /missing --cluster-id, --node, --state-etcd, --api-socket/,
    );
    await assert.rejects(
      agentRunOptions({ clusterDir, node: 'n', clustermeshCacheTtl: '5 min', clustermeshSyncTimeout: '1m' }),
      /--clustermesh-cache-ttl must be a duration/,
    );
  });

  it('serves the local cluster on its socket; the CLI views read it', async () => {
    running = runAgent(
      opts,
      new Promise<void>((resolve) => {
        stop = resolve;
      }),
    );
    const client = new AgentClient(opts.apiSocket);
    const deadline = Date.now() + WAIT_LIMIT_MS;
    for (;;) {
      const ok = await client.status().then(
        (s) => s.synced && s.counts.frontends === 1,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error('timed out waiting for the agent to sync');
      await sleep(50);
    }
    const json = JSON.parse(await cli(home, 'service', 'list', '--context', 'c1', '-o', 'json')) as unknown;
    assert.deepEqual(json, await client.services());
    const text = await cli(home, 'service', 'list', '--context', 'c1');
    assert.match(
      text,
      /10\.96\.0\.10:80\/TCP\s+ClusterIP\s+test\/echo\s+1 => 10\.1\.0\.5:8080\/TCP\s+c1 \(1\)\s+active\s+yes/,
    );
    assert.match(text, /2 => 10\.1\.0\.6:8080\/TCP/);
    const status = await cli(home, 'status', '--context', 'c1', '--node', 'c1-node-1', '--verbose');
    assert.match(status, /ClusterMesh:\s+0\/0 remote clusters ready, 0 global-services/);
    const lb = await cli(home, 'bpf', 'lb', 'list', '--context', 'c1');
    assert.match(lb, /10\.96\.0\.10:80\/TCP\s+0\.0\.0\.0:0 \(1\) \(0\) \[ClusterIP\]/);
    assert.match(lb, /10\.1\.0\.6:8080\/TCP \(1\) \(2\) \[c1\]/);
    const ids = await cli(home, 'identity', 'list', '--context', 'c1');
    assert.match(ids, /6\s+reserved:remote-node/);
    await assert.rejects(
      cli(home, 'node', 'list', '--context', 'c1', '--node', 'c1-node-9'),
      /cluster "c1" has no node "c1-node-9" \(nodes: c1-node-1, c1-node-2\)/,
    );
  });
});
