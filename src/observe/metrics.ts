import { Registry, Counter, Gauge, Histogram, collectDefaultMetrics } from 'prom-client';

export { Counter, Gauge, Histogram, Registry };

/**
 * The process-wide metrics registry. Metric names follow Cilium's where Cilium has one
 * (`cilium_kvstore_operations_duration_seconds`, `cilium_clustermesh_remote_cluster_readiness_status`, ...).
 */
export const registry = new Registry();

let defaultsCollected = false;
/** Node process metrics (memory, event loop lag); only daemons call this. */
export function collectProcessMetrics(): void {
  if (defaultsCollected) return;
  defaultsCollected = true;
  collectDefaultMetrics({ register: registry });
}

/**
 * Returns the metric already registered under `name`, or registers the one `make` builds. Modules that are
 * instantiated many times in one process (one WatchStore per remote cluster) share one metric object.
 */
export function metric<T>(name: string, make: (registers: Registry[]) => T): T {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as T;
  return make([registry]);
}
