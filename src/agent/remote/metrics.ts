import { Counter, Gauge, metric } from '../../observe/metrics.js';

/**
 * The agent's clustermesh metrics, named and labelled as Cilium's agent does (`cilium_clustermesh_*`, with
 * `source_cluster` and `source_node_name` naming the local agent and `target_cluster` the remote).
 * `cilium_clustermesh_global_services` belongs to the tables side.
 */

type SourceLabels = 'source_cluster' | 'source_node_name';
type TargetLabels = SourceLabels | 'target_cluster';

const SOURCE_LABELS = ['source_cluster', 'source_node_name'] as const;
const TARGET_LABELS = ['source_cluster', 'source_node_name', 'target_cluster'] as const;

function targetGauge(name: string, help: string): () => Gauge<TargetLabels> {
  return () => metric(name, (registers) => new Gauge({ name, help, labelNames: TARGET_LABELS, registers }));
}

export const remoteClusters = (): Gauge<SourceLabels> =>
  metric(
    'cilium_clustermesh_remote_clusters',
    (registers) =>
      new Gauge({
        name: 'cilium_clustermesh_remote_clusters',
        help: 'The total number of remote clusters meshed with the local cluster',
        labelNames: SOURCE_LABELS,
        registers,
      }),
  );

export const remoteClusterReadiness = targetGauge(
  'cilium_clustermesh_remote_cluster_readiness_status',
  'The readiness status of the remote cluster',
);

/** A gauge in Cilium (it mirrors the status' failure count), so it is one here too. */
export const remoteClusterFailures = targetGauge(
  'cilium_clustermesh_remote_cluster_failures',
  'The total number of failures related to the remote cluster',
);

export const remoteClusterLastFailureTs = targetGauge(
  'cilium_clustermesh_remote_cluster_last_failure_ts',
  'The timestamp of the last failure of the remote cluster',
);

export const remoteClusterNodes = targetGauge(
  'cilium_clustermesh_remote_cluster_nodes',
  'The total number of nodes in the remote cluster',
);

export const remoteClusterCacheRevocations = targetGauge(
  'cilium_clustermesh_remote_cluster_cache_revocations',
  'The total number of cache revocations related to the remote cluster',
);

/**
 * cmesh's own (Cilium has none): every state transition of a remote cluster link, by its from and to states. Kept
 * when the remote leaves: its last count is the removal itself.
 */
export const remoteClusterStateTransitions = (): Counter<TargetLabels | 'from' | 'to'> =>
  metric(
    'cilium_clustermesh_remote_cluster_state_transitions_total',
    (registers) =>
      new Counter({
        name: 'cilium_clustermesh_remote_cluster_state_transitions_total',
        help: 'The number of state transitions of the link to the remote cluster',
        labelNames: [...TARGET_LABELS, 'from', 'to'] as const,
        registers,
      }),
  );

/** Entries from a remote skipped because they failed to decode or validate (Cilium only logs them). */
export const remoteClusterInvalidEntries = (): Counter<TargetLabels | 'resource'> =>
  metric(
    'cmesh_clustermesh_remote_cluster_invalid_entries_total',
    (registers) =>
      new Counter({
        name: 'cmesh_clustermesh_remote_cluster_invalid_entries_total',
        help: 'Number of entries received from the remote cluster that failed validation and were skipped',
        labelNames: [...TARGET_LABELS, 'resource'] as const,
        registers,
      }),
  );

export interface RemoteMetricLabels {
  source_cluster: string;
  source_node_name: string;
  target_cluster: string;
}

/** Removes every per-remote series of a remote that left the mesh, so that dashboards stop showing it. */
export function forgetRemoteClusterMetrics(labels: RemoteMetricLabels): void {
  for (const g of [
    remoteClusterReadiness(),
    remoteClusterFailures(),
    remoteClusterLastFailureTs(),
    remoteClusterNodes(),
    remoteClusterCacheRevocations(),
  ]) {
    g.remove(labels);
  }
}
