/**
 * The agent's remote-cluster path at scale, against real etcd, with every figure next to a raw etcd baseline measured
 * in the same run:
 *   1. bootstrap: a remote holding 250k endpoints, 25k identities, 25k nodes (Cilium's 250-cluster scale test in
 *      spirit): raw paged list of the same prefixes vs the agent's ClusterMesh + tables until the remote is ready;
 *      RSS growth of the agent's tables.
 *   2. ingest of one ClusterService update with 10k backends: raw watch event delivery vs merged into the service
 *      table (Cilium's own agent needs ~79 ms for this).
 *   3. propagation latency from a CiliumEndpoint change in cluster A's state store to the agent of cluster B, through
 *      A's clustermesh-apiserver, under 500 changes/s: p50/p99, vs raw etcd put -> watch latency at the same rate.
 * Run: npm run bench:agent   (SCALE=0.1 npm run bench:agent for a quick run)
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Etcd3, IRequestOp } from 'etcd3';

process.env.CMESH_LOG_LEVEL ??= 'warn';
const { TestEtcd } = await import('../test/harness/etcd.js');
const { ClusterMesh } = await import('../src/agent/remote/cluster-mesh.js');
const { AgentTables } = await import('../src/agent/tables/tables.js');
const { ClustermeshApiserver } = await import('../src/apiserver/apiserver.js');
const { LocalClusterSource } = await import('../src/k8s/local-source.js');
const { ObjectStore } = await import('../src/k8s/object-store.js');
const { encodeObject } = await import('../src/k8s/codec.js');
const { objectKey } = await import('../src/k8s/keys.js');
const { ListWatcher } = await import('../src/kvstore/list-watcher.js');
const w = await import('../src/wire/index.js');
type RemoteClusterSink = import('../src/agent/remote/remote-cluster-types.js').RemoteClusterSink;

const SCALE = Number(process.env.SCALE ?? 1);
const ENDPOINTS = Math.round(250_000 * SCALE);
const IDENTITIES = Math.round(25_000 * SCALE);
const NODES = Math.round(25_000 * SCALE);
const BACKENDS = 10_000;
const RATE = 500;
const CHANGES = Math.round(5_000 * Math.max(SCALE, 0.2));
const TXN_OPS = 128;
const IN_FLIGHT = 4;
const REMOTE = { name: 'remote1', id: 2 };
const LOCAL = { name: 'local', id: 1 };

const ms = (t: number): string => `${t.toFixed(1)} ms`;
const mib = (b: number): string => `${(b / 1048576).toFixed(0)} MiB`;
const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

async function putAll(client: Etcd3, kvs: Iterable<[string, string]>): Promise<void> {
  const it = kvs[Symbol.iterator]();
  const worker = async (): Promise<void> => {
    for (;;) {
      const success: IRequestOp[] = [];
      for (let i = 0; i < TXN_OPS; i++) {
        const n = it.next();
        if (n.done) break;
        success.push({ request_put: { key: Buffer.from(n.value[0]), value: Buffer.from(n.value[1]) } });
      }
      if (success.length === 0) return;
      await client.kv.txn({ success });
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
}

function* remoteContent(): Generator<[string, string]> {
  const base = REMOTE.id << 16;
  for (let i = 0; i < IDENTITIES; i++) {
    yield [
      w.identityKey(base + 1000 + i),
      `k8s:app=app${i};k8s:io.cilium.k8s.policy.cluster=${REMOTE.name};k8s:io.kubernetes.pod.namespace=ns${i % 100};`,
    ];
  }
  for (let i = 0; i < NODES; i++) {
    const name = `node-${i}`;
    yield [
      w.nodeKey(REMOTE.name, name),
      w.encodeNode(
        w.newNode(name, {
          Cluster: REMOTE.name,
          IPAddresses: [{ Type: 'InternalIP', IP: `172.${16 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}` }],
          ClusterID: REMOTE.id,
        }),
      ),
    ];
  }
  for (let i = 0; i < ENDPOINTS; i++) {
    const ip = `10.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
    yield [
      w.ipcacheKey(ip),
      w.encodeIPIdentityPair({
        IP: ip,
        HostIP: '172.16.0.1',
        ID: base + 1000 + (i % IDENTITIES),
        Key: 0,
        Metadata: '',
        K8sNamespace: 'ns',
        K8sPodName: `p${i}`,
      }),
    ];
  }
  yield [w.clusterConfigKey(REMOTE.name), w.encodeClusterConfig(w.localClusterConfig(REMOTE.id, 255, false))];
  for (const r of ['nodes', 'services', 'identities', 'ip'] as const)
    yield [w.syncedCanaryKey(REMOTE.name, r), '2026-01-01T00:00:00Z'];
  yield [w.HEARTBEAT_KEY, new Date().toISOString().replace(/\.\d+Z$/, 'Z')];
}

async function rawListAll(client: Etcd3, prefixes: string[]): Promise<{ ms: number; keys: number }> {
  const t0 = performance.now();
  let keys = 0;
  for (const p of prefixes) {
    const lw = new ListWatcher(client, p, {
      onUpsert: () => {
        keys++;
      },
      onDelete: () => undefined,
    });
    lw.start();
    await lw.synced;
    await lw.stop();
  }
  return { ms: performance.now() - t0, keys };
}

const nullSink: RemoteClusterSink = {
  upsertNode: () => undefined,
  deleteNode: () => undefined,
  upsertService: () => undefined,
  deleteService: () => undefined,
  upsertIpcache: () => undefined,
  deleteIpcache: () => undefined,
  upsertIdentity: () => undefined,
  deleteIdentity: () => undefined,
  setReachable: () => undefined,
  setClusterId: () => undefined,
};

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

const remote = await TestEtcd.start();
const stateA = await TestEtcd.start();
const meshA = await TestEtcd.start();
const dir = await mkdtemp(path.join(tmpdir(), 'cmesh-bench-agent-'));
try {
  const rc = await remote.client();
  console.log(`agent benchmark: remote with ${ENDPOINTS} endpoints, ${IDENTITIES} identities, ${NODES} nodes`);
  await putAll(rc, remoteContent());

  // ---- 1. bootstrap
  const raw = await rawListAll(rc, [
    'cilium/state/nodes/v1/',
    'cilium/state/identities/v1/id/',
    'cilium/state/ip/v1/default/',
  ]);
  await writeFile(path.join(dir, REMOTE.name), `endpoints:\n- ${remote.endpoint}\n`);
  gc();
  const rss0 = process.memoryUsage().rss;
  const tables = new AgentTables({ clusterName: LOCAL.name, clusterId: LOCAL.id, maxConnectedClusters: 255 });
  let serviceMerged: ((n: number) => void) | undefined;
  const sink: RemoteClusterSink = {
    ...nullSink,
    upsertNode: (c, n) => {
      tables.upsertNode(c, n);
    },
    upsertIdentity: (c, id, l) => {
      tables.upsertIdentity(c, id, l);
    },
    upsertIpcache: (c, k, e) => {
      tables.upsertIpcache(c, k, e);
    },
    deleteIpcache: (c, k) => {
      tables.deleteIpcache(c, k);
    },
    upsertService: (c, s) => {
      tables.upsertService(c, s);
      serviceMerged?.(tables.services.get(s.namespace, s.name)?.frontends[0]?.backends.length ?? 0);
    },
    setReachable: (c, r) => {
      tables.setReachable(c, r);
    },
  };
  const t0 = performance.now();
  const mesh = new ClusterMesh({
    localClusterName: LOCAL.name,
    localClusterId: LOCAL.id,
    localMaxConnectedClusters: 255,
    configDir: dir,
    sink,
    syncTimeoutMs: 600_000,
  });
  mesh.start();
  await mesh.synced();
  const bootMs = performance.now() - t0;
  const st = mesh.status()[0];
  gc();
  const rss1 = process.memoryUsage().rss;
  if (!st?.ready || tables.ipcache.size < ENDPOINTS)
    throw new Error(`remote not fully synced: ${JSON.stringify(st)} ipcache=${tables.ipcache.size}`);

  // ---- 2. one ClusterService update with 10k backends (the local service of the same name is global)
  tables.services.upsertLocalService({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'big', namespace: 'bench', annotations: { 'service.cilium.io/global': 'true' } },
    spec: { clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
  });
  const bigService = (gen: number): string => {
    const backends: Record<string, Record<string, { Protocol: string; Port: number }>> = {};
    for (let i = 0; i < BACKENDS; i++)
      backends[`10.${100 + gen}.${i >> 8}.${i & 255}`] = { http: { Protocol: 'TCP', Port: 8080 } };
    return w.encodeClusterService({
      cluster: REMOTE.name,
      namespace: 'bench',
      name: 'big',
      frontends: { '10.96.9.9': { http: { Protocol: 'TCP', Port: 80 } } },
      backends,
      labels: {},
      selector: {},
      includeExternal: true,
      shared: true,
      clusterID: REMOTE.id,
    });
  };
  const ingest: number[] = [];
  const rawIngest: number[] = [];
  const watchRaw = new ListWatcher(rc, 'bench-raw/', {
    onUpsert: (kv) => {
      rawIngest.push(performance.now() - Number(kv.value.subarray(0, 20).toString()));
    },
    onDelete: () => undefined,
  });
  watchRaw.start();
  await watchRaw.synced;
  for (let gen = 0; gen < 3; gen++) {
    const value = bigService(gen);
    const done = new Promise<void>((resolve) => {
      serviceMerged = (n) => {
        if (n >= BACKENDS) resolve();
      };
    });
    const t = performance.now();
    await rc.put(w.serviceKey(REMOTE.name, 'bench', 'big')).value(value);
    await done;
    ingest.push(performance.now() - t);
    const stamp = performance.now().toFixed(3).padEnd(20, ' ');
    await rc.put('bench-raw/big').value(stamp + value.slice(20));
    while (rawIngest.length <= gen) await new Promise((r) => setTimeout(r, 1));
  }
  serviceMerged = undefined;
  await watchRaw.stop();
  await mesh.stop();

  // ---- 3. propagation A (state -> apiserver -> clustermesh etcd) -> agent of B, under RATE changes/s
  const stateClient = await stateA.client();
  const meshClient = await meshA.client();
  const store = new ObjectStore(stateClient);
  await store.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
  const source = new LocalClusterSource(stateClient);
  const api = new ClustermeshApiserver({
    clusterName: 'a',
    clusterId: 3,
    maxConnectedClusters: 255,
    source,
    kvstore: meshClient,
  });
  await api.start();
  await api.waitReady();
  const dirB = await mkdtemp(path.join(tmpdir(), 'cmesh-bench-agent-b-'));
  await writeFile(path.join(dirB, 'a'), `endpoints:\n- ${meshA.endpoint}\n`);
  const sent = new Map<string, number>();
  const latencies: number[] = [];
  const meshB = new ClusterMesh({
    localClusterName: 'b',
    localClusterId: 4,
    localMaxConnectedClusters: 255,
    configDir: dirB,
    syncTimeoutMs: 60_000,
    sink: {
      ...nullSink,
      upsertIpcache: (_c, key) => {
        const t = sent.get(key);
        if (t !== undefined) {
          latencies.push(performance.now() - t);
          sent.delete(key);
        }
      },
    },
  });
  meshB.start();
  await meshB.synced();
  const rawLat: number[] = [];
  const rawWatch = new ListWatcher(stateClient, 'bench-lat/', {
    onUpsert: (kv) => {
      rawLat.push(performance.now() - Number(kv.value.toString()));
    },
    onDelete: () => undefined,
  });
  rawWatch.start();
  await rawWatch.synced;
  const interval = 1000 / RATE;
  const tStart = performance.now();
  for (let i = 0; i < CHANGES; i++) {
    const due = tStart + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const ip = `10.3.${(i >> 8) & 255}.${i & 255}`;
    sent.set(ip, performance.now());
    // A raw put of the object, as the state store writes it: the change is the etcd write itself.
    const name = `pod-${i % 200}`;
    void stateClient
      .put(objectKey('CiliumEndpoint', 'shop', name))
      .value(
        encodeObject({
          apiVersion: 'cilium.io/v2',
          kind: 'CiliumEndpoint',
          metadata: { name, namespace: 'shop' },
          status: {
            identity: { id: (3 << 16) + 1000 },
            networking: { addressing: [{ ipv4: ip }], node: '172.16.0.9' },
            state: 'ready',
          },
        }),
      )
      .exec();
    void stateClient
      .put(`bench-lat/${i % 200}`)
      .value(performance.now().toFixed(3))
      .exec();
  }
  const deadline = performance.now() + 30_000;
  while ((latencies.length < CHANGES || rawLat.length < CHANGES) && performance.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  await rawWatch.stop();
  await meshB.stop();
  await api.stop();
  await source.close();

  const p = (xs: number[]): string => `p50 ${ms(percentile(xs, 50))}  p99 ${ms(percentile(xs, 99))}`;
  console.log('\n1. bootstrap of one remote');
  console.log(`   raw paged list of the same ${raw.keys} keys: ${ms(raw.ms)}`);
  console.log(
    `   agent (ClusterMesh -> validated -> tables) until ready: ${ms(bootMs)}   ratio raw/agent = ${(raw.ms / bootMs).toFixed(2)}`,
  );
  console.log(
    `   RSS growth of the agent's tables: ${mib(rss1 - rss0)} (${((rss1 - rss0) / (ENDPOINTS + IDENTITIES + NODES)).toFixed(0)} bytes/entry)`,
  );
  console.log(`\n2. one ClusterService update with ${BACKENDS} backends (3 runs)`);
  console.log(`   raw watch delivery of the same value: ${rawIngest.map(ms).join(', ')}`);
  console.log(`   merged into the service table: ${ingest.map(ms).join(', ')}   (Cilium's agent: ~79 ms)`);
  console.log(`   ratio raw/agent (best) = ${(Math.min(...rawIngest) / Math.min(...ingest)).toFixed(2)}`);
  console.log(
    `\n3. propagation state(A) -> apiserver(A) -> etcd(A) -> agent(B), ${CHANGES} changes at ${RATE}/s (${latencies.length} observed)`,
  );
  console.log(`   raw etcd put -> watch on one etcd: ${p(rawLat)}`);
  console.log(
    `   CiliumEndpoint change -> agent of B: ${p(latencies)}   ratio p50 raw/agent = ${(percentile(rawLat, 50) / percentile(latencies, 50)).toFixed(2)}`,
  );
} finally {
  await Promise.all([remote.stop(), stateA.stop(), meshA.stop()]);
}
