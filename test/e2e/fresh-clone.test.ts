/**
 * A new user's first minutes, on a fresh clone: the README's setup command, then `npx cmesh demo` with a HOME that
 * does not exist yet (no ~/.cmesh, no npm state of the user's own). Traffic to the demo's global service must reach
 * backends in all three clusters; `npx cmesh demo down` then removes everything.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eventually, httpGetFrom, leftovers, lockClusterIds } from './helpers.js';

const STEP_TIMEOUT_MS = 600_000;
const REQUESTS = 60;

function run(
  cmd: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env, timeout: STEP_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('a fresh clone: the README setup, then `npx cmesh demo` with a HOME that does not exist', () => {
  let dir: string;
  let clone: string;
  let env: NodeJS.ProcessEnv;
  let release: () => Promise<void> = () => Promise.resolve();
  before(async () => {
    // The demo's clusters 1-3 use the default loopback ranges of those IDs.
    release = await lockClusterIds([1, 2, 3]);
    dir = await mkdtemp(path.join(tmpdir(), 'cmesh-fresh-'));
    clone = path.join(dir, 'cmesh');
    execFileSync('git', ['clone', '--quiet', process.cwd(), clone]);
    env = {
      ...process.env,
      HOME: path.join(dir, 'home-that-does-not-exist'),
      // npm's download cache and the pinned Kubernetes/etcd builds are not the user state under test; sharing
      // them keeps the test off the network and saves the 12-minute first build.
      npm_config_cache: process.env.npm_config_cache ?? path.join(homedir(), '.npm'),
      XDG_CACHE_HOME: process.env.XDG_CACHE_HOME ?? path.join(homedir(), '.cache'),
      CMESH_LOG_LEVEL: 'info',
    };
    delete env.CMESH_HOME;
  });
  after(async () => {
    if (existsSync(path.join(clone, 'dist'))) await run('npx', ['cmesh', 'demo', 'down'], clone, env);
    for (const pid of leftovers(dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await rm(dir, { recursive: true, force: true });
    await release();
  });

  it('sets up, runs the demo, and the global service answers from all three clusters', async () => {
    assert.equal(existsSync(env.HOME!), false);
    const setup = await run('bash', ['scripts/setup.sh'], clone, env);
    assert.equal(setup.code, 0, `setup failed:\n${setup.stdout}\n${setup.stderr}`);
    const demo = await run('npx', ['cmesh', 'demo', '-o', 'json'], clone, env);
    assert.equal(demo.code, 0, `npx cmesh demo failed:\n${demo.stdout}\n${demo.stderr}`);
    assert.ok(existsSync(path.join(env.HOME!, '.cmesh', 'demo.json')), 'the demo lives under the new ~/.cmesh');
    const result = JSON.parse(demo.stdout) as { clusters: { name: string; clusterIp: string }[] };
    const c2 = result.clusters.find((c) => c.name === 'cluster2');
    assert.ok(c2, 'cluster2 is part of the demo');
    const pods = await run(
      'npx',
      ['cmesh', 'get', 'pods', '-n', 'demo', '--context', 'cluster2', '-o', 'json'],
      clone,
      env,
    );
    const client = (JSON.parse(pods.stdout) as { items: { status?: { podIP?: string } }[] }).items[0]?.status?.podIP;
    assert.ok(client, 'a cluster2 pod to send from');
    // cluster2's service has no affinity: its load balancer spreads requests over the backends of all clusters.
    const seen = new Set<string>();
    for (let i = 0; i < REQUESTS && seen.size < 3; i++) {
      const body = await eventually(
        () => httpGetFrom(client, c2.clusterIp, 80).catch((e: unknown) => String(e)),
        (b) => b.includes('cluster='),
        'an answer from the demo service',
        15_000,
      );
      const m = /cluster=(\S+)/.exec(body);
      if (m?.[1]) seen.add(m[1]);
    }
    assert.deepEqual([...seen].sort(), ['cluster1', 'cluster2', 'cluster3'], 'answers from every cluster');
    const down = await run('npx', ['cmesh', 'demo', 'down'], clone, env);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /deleted cluster1, cluster2, cluster3/);
    assert.deepEqual(leftovers(dir), [], 'nothing of the demo keeps running');
  });
});
