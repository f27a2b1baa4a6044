/**
 * One clustermesh-apiserver bootstrap in a process of its own, as the apiserver is deployed: its heap holds only
 * what the apiserver itself builds (the benchmark's 100k test objects would otherwise be traced by every GC).
 * Usage: node --expose-gc --import tsx bench/apiserver-bootstrap.child.ts STATE_ENDPOINT MESH_ENDPOINT
 * Prints one JSON line: {"ms": start() to canary, "cpuMs": CPU time of the process meanwhile, "heapMiB": heap the
 * apiserver still holds once synced (after a full GC; 0 without --expose-gc), "mainOnCpuMs" / "mainWaitMs": time its
 * main thread ran on a CPU / waited in the run queue for one (Linux schedstat; absent elsewhere)}.
 */
import { readFileSync } from 'node:fs';

process.env.CMESH_LOG_LEVEL ??= 'warn';
const { createEtcdClient } = await import('../src/kvstore/client.js');
const { ClustermeshApiserver } = await import('../src/apiserver/apiserver.js');
const { LocalClusterSource } = await import('../src/k8s/local-source.js');
const { BENCH_CLUSTER } = await import('./apiserver-cluster.js');

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
const sched0 = mainThreadSchedNs();
await api.start();
await api.waitReady();
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const sched1 = mainThreadSchedNs();
gc?.();
const heapMiB = gc ? (process.memoryUsage().heapUsed - heap0) / 2 ** 20 : 0;
const sched =
  sched0 && sched1 ? { mainOnCpuMs: (sched1[0] - sched0[0]) / 1e6, mainWaitMs: (sched1[1] - sched0[1]) / 1e6 } : {};
console.log(JSON.stringify({ ms, cpuMs: (cpu.user + cpu.system) / 1000, heapMiB, ...sched }));
await api.stop();
await source.close();
state.close();
mesh.close();
