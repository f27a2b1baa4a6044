/**
 * Propagation latency through a KVStoreMesh cache vs reading the remote directly, in the same run: a remote cluster's
 * ipcache entries change at RATE/s; one agent-side reader (ClusterMesh) reads the remote etcd directly, another reads
 * the local clustermesh etcd where KVStoreMesh copies the remote (`cilium/cache/...`). For each change: time from the
 * write to the remote until each reader's sink has it. Prints p50/p99 of both and the ratio.
 * Run: npm run bench:kvstoremesh   (CHANGES=500 for a quick run)
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

process.env.CMESH_LOG_LEVEL ??= 'warn';
const { TestEtcd } = await import('../test/harness/etcd.js');
const { ClusterMesh } = await import('../src/agent/remote/cluster-mesh.js');
const { KVStoreMesh } = await import('../src/kvstoremesh/kvstoremesh.js');
const w = await import('../src/wire/index.js');
type RemoteClusterSink = import('../src/agent/remote/remote-cluster-types.js').RemoteClusterSink;

const RATE = Number(process.env.RATE ?? 500);
const CHANGES = Number(process.env.CHANGES ?? 5000);
const REMOTE = { name: 'remote1', id: 2 };
const LOCAL = { name: 'local1', id: 1 };

const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

function sink(sent: Map<string, number>, out: number[]): RemoteClusterSink {
  const noop = (): void => undefined;
  return {
    upsertNode: noop,
    deleteNode: noop,
    upsertService: noop,
    deleteService: noop,
    deleteIpcache: noop,
    upsertIdentity: noop,
    deleteIdentity: noop,
    setReachable: noop,
    setClusterId: noop,
    upsertIpcache: (_c, key) => {
      const t = sent.get(key);
      if (t !== undefined) out.push(performance.now() - t);
    },
  };
}

const remote = await TestEtcd.start();
const local = await TestEtcd.start();
const dir = await mkdtemp(path.join(tmpdir(), 'cmesh-bench-km-'));
try {
  const rc = await remote.client();
  const lc = await local.client();
  await rc
    .put(w.clusterConfigKey(REMOTE.name))
    .value(w.encodeClusterConfig(w.localClusterConfig(REMOTE.id, 255, false)));
  for (const r of ['nodes', 'services', 'identities', 'ip'] as const)
    await rc.put(w.syncedCanaryKey(REMOTE.name, r)).value('2026-01-01T00:00:00Z');
  await rc.put(w.HEARTBEAT_KEY).value(new Date().toISOString().replace(/\.\d+Z$/, 'Z'));

  // KVStoreMesh of the local cluster: remote -> local cache.
  const kmDir = path.join(dir, 'kvstoremesh');
  const directDir = path.join(dir, 'direct');
  const cachedDir = path.join(dir, 'cached');
  for (const [d, ep] of [
    [kmDir, remote.endpoint],
    [directDir, remote.endpoint],
    [cachedDir, local.endpoint],
  ] as const) {
    await (await import('node:fs/promises')).mkdir(d, { recursive: true });
    await writeFile(path.join(d, REMOTE.name), `endpoints:\n- ${ep}\n`);
  }
  const km = new KVStoreMesh({
    clusterName: LOCAL.name,
    clusterId: LOCAL.id,
    maxConnectedClusters: 255,
    configDir: kmDir,
    local: lc,
  });
  await km.start();
  await km.synced();

  const sent = new Map<string, number>();
  const direct: number[] = [];
  const cached: number[] = [];
  const opts = {
    localClusterName: LOCAL.name,
    localClusterId: LOCAL.id,
    localMaxConnectedClusters: 255 as const,
    syncTimeoutMs: 60_000,
  };
  const meshDirect = new ClusterMesh({ ...opts, configDir: directDir, sink: sink(sent, direct) });
  const meshCached = new ClusterMesh({ ...opts, configDir: cachedDir, sink: sink(sent, cached) });
  meshDirect.start();
  meshCached.start();
  await Promise.all([meshDirect.synced(), meshCached.synced()]);
  const cachedStatus = meshCached.status()[0];
  if (!cachedStatus?.config?.cached)
    throw new Error(`the cached reader does not read the cache: ${JSON.stringify(cachedStatus)}`);

  const interval = 1000 / RATE;
  const t0 = performance.now();
  for (let i = 0; i < CHANGES; i++) {
    const wait = t0 + i * interval - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const ip = `10.2.${(i >> 8) & 255}.${i & 255}`;
    sent.set(ip, performance.now());
    void rc
      .put(w.ipcacheKey(ip))
      .value(
        w.encodeIPIdentityPair({
          IP: ip,
          HostIP: '172.16.0.1',
          ID: (REMOTE.id << 16) + 300,
          Key: 0,
          Metadata: '',
          K8sNamespace: 'ns',
          K8sPodName: `p${i}`,
        }),
      )
      .exec();
  }
  const deadline = performance.now() + 30_000;
  while ((direct.length < CHANGES || cached.length < CHANGES) && performance.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  await meshDirect.stop();
  await meshCached.stop();
  await km.stop();

  const line = (xs: number[]): string =>
    `p50 ${percentile(xs, 50).toFixed(1)} ms  p99 ${percentile(xs, 99).toFixed(1)} ms  (${xs.length}/${CHANGES} seen)`;
  console.log(`KVStoreMesh propagation benchmark: ${CHANGES} ipcache changes at ${RATE}/s in the remote`);
  console.log(`  direct (agent reads the remote etcd):      ${line(direct)}`);
  console.log(`  cached (remote -> KVStoreMesh -> local):   ${line(cached)}`);
  console.log(
    `  ratio p50 direct/cached = ${(percentile(direct, 50) / percentile(cached, 50)).toFixed(2)}  p99 = ${(percentile(direct, 99) / percentile(cached, 99)).toFixed(2)}`,
  );
} finally {
  await Promise.all([remote.stop(), local.stop()]);
}
