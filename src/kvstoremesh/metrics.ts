import { Counter, Gauge, metric } from '../observe/metrics.js';

/**
 * KVStoreMesh's metrics, named as Cilium's (`cilium_kvstoremesh_*`, the clustermesh common metrics with the
 * `kvstoremesh` subsystem): per-remote series carry `target_cluster`.
 */

type TargetLabels = 'target_cluster';
const TARGET_LABELS = ['target_cluster'] as const;

function targetGauge(name: string, help: string): () => Gauge<TargetLabels> {
  return () => metric(name, (registers) => new Gauge({ name, help, labelNames: TARGET_LABELS, registers }));
}

export const remoteClusters = (): Gauge =>
  metric(
    'cilium_kvstoremesh_remote_clusters',
    (registers) =>
      new Gauge({
        name: 'cilium_kvstoremesh_remote_clusters',
        help: 'The total number of remote clusters meshed with the local cluster',
        registers,
      }),
  );

export const remoteClusterReadiness = targetGauge(
  'cilium_kvstoremesh_remote_cluster_readiness_status',
  'The readiness status of the remote cluster',
);

export const remoteClusterFailures = targetGauge(
  'cilium_kvstoremesh_remote_cluster_failures',
  'The total number of failures related to the remote cluster',
);

export const remoteClusterLastFailureTs = targetGauge(
  'cilium_kvstoremesh_remote_cluster_last_failure_ts',
  'The timestamp of the last failure of the remote cluster',
);

/** cmesh's own (Cilium has none): every state transition of a remote cluster link, by its from and to states. */
export const remoteClusterStateTransitions = (): Counter<TargetLabels | 'from' | 'to'> =>
  metric(
    'cilium_kvstoremesh_remote_cluster_state_transitions_total',
    (registers) =>
      new Counter({
        name: 'cilium_kvstoremesh_remote_cluster_state_transitions_total',
        help: 'The number of state transitions of the link to the remote cluster',
        labelNames: [...TARGET_LABELS, 'from', 'to'] as const,
        registers,
      }),
  );

/** Seconds from start until every remote was synchronized (or stopped blocking readiness). */
export const bootstrapSeconds = (): Gauge<'source_cluster'> =>
  metric(
    'cilium_kvstoremesh_bootstrap_seconds',
    (registers) =>
      new Gauge({
        name: 'cilium_kvstoremesh_bootstrap_seconds',
        help: 'Duration in seconds to complete bootstrap',
        labelNames: ['source_cluster'] as const,
        registers,
      }),
  );

/** Removes a departed remote's series, so that dashboards stop showing it. */
export function forgetRemoteClusterMetrics(target: string): void {
  for (const g of [remoteClusterReadiness(), remoteClusterFailures(), remoteClusterLastFailureTs()]) {
    g.remove({ target_cluster: target });
  }
}
