import { Gauge, metric } from '../observe/metrics.js';

export interface ApiserverStatusSource {
  status(): { ready: boolean; resources: Record<string, { synced: boolean; keys: number; queued: number }> };
}

/**
 * The apiserver's own gauges, read from its status at scrape time. (The kvstore metrics it shares with every
 * component are exported under the `cilium_clustermesh_apiserver_` namespace by its health server.)
 */
export function apiserverMetrics(src: ApiserverStatusSource): void {
  metric(
    'cilium_clustermesh_apiserver_ready',
    (registers) =>
      new Gauge({
        name: 'cilium_clustermesh_apiserver_ready',
        help: 'Whether every sync canary and the cluster config have been written (1) or not (0)',
        registers,
        collect() {
          this.set(src.status().ready ? 1 : 0);
        },
      }),
  );
  metric(
    'cilium_clustermesh_apiserver_kvstore_entries',
    (registers) =>
      new Gauge({
        name: 'cilium_clustermesh_apiserver_kvstore_entries',
        help: 'Number of keys the apiserver keeps in its clustermesh etcd, per resource prefix',
        labelNames: ['scope'] as const,
        registers,
        collect() {
          for (const [prefix, r] of Object.entries(src.status().resources)) this.set({ scope: prefix }, r.keys);
        },
      }),
  );
}
