/**
 * One clustermesh-apiserver bootstrap in a process of its own, as the apiserver is deployed: its heap holds only
 * what the apiserver itself builds (the benchmark's 100k test objects would otherwise be traced by every GC).
 * Usage: node --expose-gc --import tsx bench/apiserver-bootstrap.child.ts STATE_ENDPOINT MESH_ENDPOINT [CHURN ENTRIES]
 * Prints one JSON line: {"ms": start() to canary, "cpuMs": CPU time of the process meanwhile, "heapMiB" /
 * "buffersMiB": heap and ArrayBuffer memory the apiserver still holds once synced (after a full GC; 0 without
 * --expose-gc), "mainOnCpuMs" / "mainWaitMs": time its main thread ran on a CPU / waited in the run queue for one
 * (Linux schedstat; absent elsewhere), "churn": the memory held after each churn round}.
 * With CHURN > 0, once synced, CHURN rounds each replace the pods of a random subset of the ENTRIES benchmark
 * endpoints (namespace shop; ENTRIES/2 picks with repeats, about 40% of them), as pods come and go: some are replaced
 * in every round, some never (a new pod UID, so a new ipcache value). Each round is waited for in the clustermesh etcd.
 */
import { readFileSync } from 'node:fs';

process.env.CMESH_LOG_LEVEL ??= 'warn';
const { createEtcdClient } = await import('../src/kvstore/client.js');
const { ClustermeshApiserver } = await import('../src/apiserver/apiserver.js');
const { LocalClusterSource } = await import('../src/k8s/local-source.js');
const { BENCH_CLUSTER, benchEndpoint } = await import('./apiserver-cluster.js');
const { encodeObject } = await import('../src/k8s/codec.js');
const { objectKey } = await import('../src/k8s/keys.js');
const { txnPutsDeletes } = await import('../src/kvstore/kv-calls.js');
const { prefixRangeEnd } = await import('../src/kvstore/list-watcher.js');
const { resourceWatchPrefix } = await import('../src/wire/index.js');
const { timeBatched } = await import('./batches.js');

const CHURN_TXN_OPS = 128;
const CHURN_IN_FLIGHT = 4;
const CHURN_POLL_MS = 250;
/** Picks per churn round, as a share of the endpoints (with repeats: about 40% of them are replaced). */
const CHURN_SHARE = 0.5;
/** Time given to V8's concurrent sweeping after a forced GC, before memory is read. */
const SWEEP_WAIT_MS = 300;
const IPCACHE_KEYS = resourceWatchPrefix('ip', BENCH_CLUSTER.clusterName);

/**
 * The main thread's [on-CPU, run-queue wait] nanoseconds: the main thread is the bootstrap's critical path (it parses
 * every object), so these say whether a slow run did more work or waited for a CPU that etcd was using.
 */
function mainThreadSchedNs(): [number, number] | undefined {
  try {
    const [onCpu, wait] = readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ').map(Number);
    return onCpu !== undefined && wait !== undefined ? [onCpu, wait] : undefined;
  } catch {
    return undefined;
  }
}

/** `count` picks from 0..n-1, with repeats, the same in every run (a small LCG, not Math.random). */
function picks(n: number, count: number, seed: number): number[] {
  let x = seed >>> 0;
  return Array.from({ length: count }, () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x >>> 8) % n;
  });
}

/**
 * Until `entries` ipcache keys were written at or after revision `since`: the apiserver applied the whole round.
 * Keys are read, not counted: etcd's count_only ignores min_mod_revision. A function of its own, so that the last
 * response is garbage (not a live local of the caller) when memory is measured.
 */
async function untilRewritten(since: number, entries: number): Promise<void> {
  for (;;) {
    const res = await mesh.kv.range({
      key: Buffer.from(IPCACHE_KEYS),
      range_end: prefixRangeEnd(Buffer.from(IPCACHE_KEYS)),
      min_mod_revision: since,
      keys_only: true,
    });
    if (res.kvs.length >= entries) return;
    await new Promise((r) => setTimeout(r, CHURN_POLL_MS));
  }
}

const [stateEndpoint, meshEndpoint, churnArg, entriesArg] = process.argv.slice(2);
if (!stateEndpoint || !meshEndpoint) {
  console.error('usage: apiserver-bootstrap.child.ts STATE_ENDPOINT MESH_ENDPOINT [CHURN_ROUNDS ENTRIES]');
  process.exit(2);
}
const state = createEtcdClient({ endpoints: [stateEndpoint] });
const mesh = createEtcdClient({ endpoints: [meshEndpoint] });
const source = new LocalClusterSource(state);
const api = new ClustermeshApiserver({ ...BENCH_CLUSTER, source, kvstore: mesh });
const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
const mem0 = process.memoryUsage();
/** Heap and ArrayBuffer memory held now, beyond what the process held before start() (0 without --expose-gc). */
const held = async (): Promise<{ heapMiB: number; buffersMiB: number }> => {
  if (!gc) return { heapMiB: 0, buffersMiB: 0 };
  // V8 sweeps (and frees ArrayBuffers) concurrently after a GC; until then the garbage still counts as used.
  for (let i = 0; i < 2; i++) {
    gc();
    await new Promise((r) => setTimeout(r, SWEEP_WAIT_MS));
  }
  const m = process.memoryUsage();
  return {
    heapMiB: (m.heapUsed - mem0.heapUsed) / 2 ** 20,
    buffersMiB: (m.arrayBuffers - mem0.arrayBuffers) / 2 ** 20,
  };
};
const t0 = performance.now();
const cpu0 = process.cpuUsage();
const sched0 = mainThreadSchedNs();
await api.start();
await api.waitReady();
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const sched1 = mainThreadSchedNs();
const synced = await held();
const sched =
  sched0 && sched1 ? { mainOnCpuMs: (sched1[0] - sched0[0]) / 1e6, mainWaitMs: (sched1[1] - sched0[1]) / 1e6 } : {};

const churn: { heapMiB: number; buffersMiB: number }[] = [];
const rounds = Number(churnArg ?? 0);
const entries = Number(entriesArg ?? 0);
for (let g = 1; g <= rounds; g++) {
  const { header } = await mesh.kv.range({ key: Buffer.from(IPCACHE_KEYS), count_only: true });
  const since = Number(header.revision) + 1;
  // Distinct: a transaction may not name a key twice.
  const replaced = [...new Set(picks(entries, Math.floor(entries * CHURN_SHARE), g))];
  await timeBatched(replaced, CHURN_TXN_OPS, CHURN_IN_FLIGHT, (batch) =>
    txnPutsDeletes(
      state,
      batch.map((i) => {
        const e = benchEndpoint(i, 'shop', g);
        return { key: objectKey('CiliumEndpoint', e.metadata.namespace, e.metadata.name), value: encodeObject(e) };
      }),
    ),
  );
  await untilRewritten(since, replaced.length);
  churn.push(await held());
}
console.log(JSON.stringify({ ms, cpuMs: (cpu.user + cpu.system) / 1000, ...synced, ...sched, churn }));
await api.stop();
await source.close();
state.close();
mesh.close();
