import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Etcd3 } from 'etcd3';
import type { KVStoreMesh } from '../../src/kvstoremesh/kvstoremesh.js';
import { TestEtcd } from '../harness/etcd.js';
import { CACHE_REACHABILITY_WRITER_KEY } from '../../src/wire/index.js';
import { TcpProxy } from '../k8s/tcp-proxy.js';
import {
  ConfigDir,
  FakeRemote,
  getKey,
  makeKVStoreMesh,
  makeNode,
  readPrefix,
  readSuffixes,
  waitFor,
  waitForAsync,
} from './helpers.js';

const GRACE_MS = 1_500;

async function readyRemote(name: string, id: number): Promise<FakeRemote> {
  const r = await FakeRemote.start(name, id);
  await r.populate();
  await r.putAllCanaries();
  await r.putConfig();
  await r.heartbeat();
  return r;
}

describe('KVStoreMesh: reconnects, removals and restarts', () => {
  let local: TestEtcd;
  let lc: Etcd3;
  let dir: ConfigDir;
  const meshes: KVStoreMesh[] = [];
  const remotes: FakeRemote[] = [];
  const proxies: TcpProxy[] = [];

  before(async () => {
    local = await TestEtcd.start();
    lc = await local.client();
    dir = await ConfigDir.create();
  });
  after(async () => {
    for (const m of meshes) await m.stop();
    for (const p of proxies) await p.stop();
    for (const r of remotes) await r.stop();
    await local.stop();
    await dir.cleanup();
  });

  function start(): KVStoreMesh {
    const km = makeKVStoreMesh(lc, dir.dir, { disconnectGracePeriodMs: GRACE_MS });
    meshes.push(km);
    return km;
  }

  it('after a partition, converges to the remote: entries deleted meanwhile are removed, new ones copied', async () => {
    const c2 = await readyRemote('c2', 2);
    remotes.push(c2);
    const proxy = await TcpProxy.start(c2.etcd.endpoint);
    proxies.push(proxy);
    await dir.write('c2', proxy.url);
    const km = start();
    await km.start();
    await km.synced();
    assert.equal((await readPrefix(lc, 'cilium/cache/nodes/v1/c2/')).size, 2);

    proxy.cut();
    await waitFor('connection loss noticed', () => km.status().remotes[0]?.connected === false);
    await c2.delete('nodes', 'n2');
    await c2.delete('ip', '10.70.3.31');
    await c2.putNode(makeNode('c2', 2, 'n9', '172.20.0.99'));
    // Still cut off: the cache keeps what it had.
    assert.ok(await getKey(lc, 'cilium/cache/nodes/v1/c2/n2'));
    proxy.restore();

    await waitForAsync('cache converged', async () => {
      const nodes = await readSuffixes(lc, 'cilium/cache/nodes/v1/c2/');
      const ips = await readSuffixes(lc, 'cilium/cache/ip/v1/c2/');
      return nodes.has('n9') && !nodes.has('n2') && !ips.has('10.70.3.31') && ips.has('10.70.3.30');
    });
    const st = km.status().remotes[0];
    assert.ok(st);
    assert.ok(st.numFailures > 0, 'the loss was counted');
    await waitFor('ready again', () => km.status().remotes[0]?.ready === true);
  });

  it('a restarted kvstoremesh does not rewrite unchanged copies, and removes what went away meanwhile', async () => {
    const c2 = remotes[0]!;
    const old = meshes[0]!;
    await old.stop();
    const before = await readPrefix(lc, 'cilium/cache/');
    await c2.delete('nodes', 'n1');

    const km = start();
    await km.start();
    await km.synced();
    await waitForAsync(
      'n1 removed from the cache',
      async () => (await getKey(lc, 'cilium/cache/nodes/v1/c2/n1')) === undefined,
    );
    const afterRestart = await readPrefix(lc, 'cilium/cache/');
    let unchanged = 0;
    for (const [key, v] of afterRestart) {
      const prev = before.get(key);
      assert.ok(prev, `${key} existed before the restart`);
      assert.equal(v.modRevision, prev.modRevision, `${key} not rewritten`);
      unchanged++;
    }
    assert.equal(unchanged, before.size - 1);
  });

  it('a removed remote: cluster config deleted first, cache and canaries only after the grace period', async () => {
    const km = meshes.at(-1)!;
    assert.ok(await getKey(lc, 'cilium/cluster-config/c2'));
    await dir.remove('c2');
    await waitForAsync(
      'cluster config deleted',
      async () => (await getKey(lc, 'cilium/cluster-config/c2')) === undefined,
    );
    assert.ok((await readPrefix(lc, 'cilium/cache/nodes/v1/c2/')).size > 0, 'cache kept during the grace period');
    assert.ok((await readPrefix(lc, 'cilium/synced/c2/')).size > 0, 'canaries kept during the grace period');
    assert.deepEqual(km.status().removing, ['c2']);

    await waitForAsync(
      'cache deleted',
      async () =>
        // Only the cache's own reachability-writer key stays (it names no remote).
        [...(await readPrefix(lc, 'cilium/cache/')).keys()].every((k) => k === CACHE_REACHABILITY_WRITER_KEY) &&
        (await readPrefix(lc, 'cilium/synced/c2/')).size === 0,
    );
    await waitFor('removal finished', () => km.status().removing.length === 0);
    assert.equal(km.status().remotes.length, 0);
  });

  it('a remote configured again during the grace period keeps its cache and comes back', async () => {
    const km = meshes.at(-1)!;
    const c3 = await readyRemote('c3', 3);
    remotes.push(c3);
    await dir.write('c3', c3.etcd.endpoint);
    await waitFor('c3 ready', () => km.status().remotes.find((r) => r.name === 'c3')?.ready === true);
    const before = await readPrefix(lc, 'cilium/cache/nodes/v1/c3/');
    assert.equal(before.size, 2);

    await dir.remove('c3');
    await waitForAsync(
      'cluster config deleted',
      async () => (await getKey(lc, 'cilium/cluster-config/c3')) === undefined,
    );
    await dir.write('c3', c3.etcd.endpoint);
    await waitForAsync('cluster config back', async () => (await getKey(lc, 'cilium/cluster-config/c3')) !== undefined);
    await waitFor('c3 ready again', () => km.status().remotes.find((r) => r.name === 'c3')?.ready === true);
    // Past the grace period: the interrupted removal did not delete anything.
    await new Promise((r) => setTimeout(r, GRACE_MS + 300));
    const afterReAdd = await readPrefix(lc, 'cilium/cache/nodes/v1/c3/');
    assert.deepEqual([...afterReAdd.keys()], [...before.keys()]);
    for (const [k, v] of afterReAdd) assert.equal(v.modRevision, before.get(k)?.modRevision, `${k} not rewritten`);
    assert.ok(await getKey(lc, 'cilium/synced/c3/cilium/cache/nodes/v1'));
  });

  it('a remote removed while kvstoremesh was down is removed at the next start, after the grace period', async () => {
    const old = meshes.at(-1)!;
    const c4 = await readyRemote('c4', 4);
    remotes.push(c4);
    await dir.write('c4', c4.etcd.endpoint);
    await waitFor('c4 ready', () => old.status().remotes.find((r) => r.name === 'c4')?.ready === true);
    assert.ok((await readPrefix(lc, 'cilium/cache/ip/v1/c4/')).size > 0, 'c4 copied');
    await old.stop();
    await dir.remove('c4');
    // Something of the local cluster itself under cilium/synced/ must survive the cleanup.
    await lc.put('cilium/synced/c1/cilium/state/nodes/v1').value('2026-01-01T00:00:00Z');

    const km = start();
    await km.start();
    await waitForAsync(
      'c4 cluster config deleted',
      async () => (await getKey(lc, 'cilium/cluster-config/c4')) === undefined,
    );
    assert.ok((await readPrefix(lc, 'cilium/cache/ip/v1/c4/')).size > 0, 'cache kept during the grace period');
    assert.deepEqual(km.status().removing, ['c4']);
    await waitForAsync('c4 cache, canaries and marker deleted', async () => {
      const keys = [
        ...(await readPrefix(lc, 'cilium/cache/')).keys(),
        ...(await readPrefix(lc, 'cilium/synced/')).keys(),
      ];
      return !keys.some((k) => k.includes('/c4/') || k.endsWith('/c4'));
    });
    assert.ok((await readPrefix(lc, 'cilium/cache/nodes/v1/c3/')).size > 0, 'the configured remote c3 is untouched');
    assert.ok(await getKey(lc, 'cilium/synced/c1/cilium/state/nodes/v1'), 'the local canary is untouched');
    await waitFor('removal finished', () => km.status().removing.length === 0);
    assert.deepEqual(
      km.status().remotes.map((r) => r.name),
      ['c3'],
    );
  });
});
