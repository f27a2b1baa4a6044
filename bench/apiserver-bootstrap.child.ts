/**
 * One clustermesh-apiserver bootstrap in a process of its own, as the apiserver is deployed: its heap holds only
 * what the apiserver itself builds (the benchmark's 100k test objects would otherwise be traced by every GC).
 * Usage: node --expose-gc --import tsx bench/apiserver-bootstrap.child.ts STATE_ENDPOINT MESH_ENDPOINT
 * Prints one JSON line: {"ms": start() to canary, "cpuMs": CPU time of the process meanwhile, "heapMiB": heap the
 * apiserver still holds once synced (after a full GC; 0 without --expose-gc)}.
 */
process.env.CMESH_LOG_LEVEL ??= 'warn';
const { createEtcdClient } = await import('../src/kvstore/client.js');
const { ClustermeshApiserver } = await import('../src/apiserver/apiserver.js');
const { LocalClusterSource } = await import('../src/k8s/local-source.js');
const { BENCH_CLUSTER } = await import('./apiserver-cluster.js');

const [stateEndpoint, meshEndpoint] = process.argv.slice(2);
if (!stateEndpoint || !meshEndpoint) {
  console.error('usage: apiserver-bootstrap.child.ts STATE_ENDPOINT MESH_ENDPOINT');
  process.exit(2);
}
const state = createEtcdClient({ endpoints: [stateEndpoint] });
const mesh = createEtcdClient({ endpoints: [meshEndpoint] });
const source = new LocalClusterSource(state);
const api = new ClustermeshApiserver({ ...BENCH_CLUSTER, source, kvstore: mesh });
const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
const heap0 = process.memoryUsage().heapUsed;
const t0 = performance.now();
const cpu0 = process.cpuUsage();
await api.start();
await api.waitReady();
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
gc?.();
const heapMiB = gc ? (process.memoryUsage().heapUsed - heap0) / 2 ** 20 : 0;
console.log(JSON.stringify({ ms, cpuMs: (cpu.user + cpu.system) / 1000, heapMiB }));
await api.stop();
await source.close();
state.close();
mesh.close();
