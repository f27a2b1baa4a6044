import { Counter, Gauge, Histogram, metric, registry } from '../observe/metrics.js';

/** Who owns a process's kvstore metrics: Cilium names them after the daemon. */
export type KvstoreMetricsNamespace = 'cilium' | 'cilium_clustermesh_apiserver' | 'cilium_kvstoremesh';

/** `cilium_kvstore_` in the agent, `cilium_clustermesh_apiserver_kvstore_` and `cilium_kvstoremesh_kvstore_` in the others. */
let prefix = 'cilium_kvstore_';

/**
 * Names this process's kvstore metrics as Cilium's daemon of that kind does. Called by a daemon's main before it
 * creates anything that records metrics; it refuses once a kvstore metric exists under the old name.
 */
export function setKvstoreMetricsNamespace(namespace: KvstoreMetricsNamespace): void {
  const next = `${namespace}_kvstore_`;
  if (next === prefix) return;
  const existing = registry.getMetricsAsArray().find((m) => m.name.startsWith(prefix));
  if (existing) throw new Error(`kvstore metrics already exist as ${existing.name}; set their namespace first`);
  prefix = next;
}

/**
 * Cilium's metric label for a key: `cilium/state/nodes/v1/...` -> `nodes/v1`; short keys keep their first 12
 * characters, as Cilium's GetScopeFromKey does, so that label cardinality stays bounded.
 */
export function scopeFromKey(key: string): string {
  const parts = key.split('/', 5);
  if (parts.length < 4) return key.length >= 12 ? key.slice(0, 12) : key;
  return `${parts[2] ?? ''}/${parts[3] ?? ''}`;
}

export const operationsDuration = (): Histogram<'action' | 'kind' | 'outcome' | 'scope'> =>
  metric(
    `${prefix}operations_duration_seconds`,
    (registers) =>
      new Histogram({
        name: `${prefix}operations_duration_seconds`,
        help: 'Duration of kvstore operation',
        labelNames: ['action', 'kind', 'outcome', 'scope'] as const,
        registers,
      }),
  );

export const eventsQueueSeconds = (): Histogram<'action' | 'scope'> =>
  metric(
    `${prefix}events_queue_seconds`,
    (registers) =>
      new Histogram({
        name: `${prefix}events_queue_seconds`,
        help: 'Seconds waited before a received event was queued',
        labelNames: ['action', 'scope'] as const,
        buckets: [0.002, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1],
        registers,
      }),
  );

export const quorumErrors = (): Counter<'error'> =>
  metric(
    `${prefix}quorum_errors_total`,
    (registers) =>
      new Counter({
        name: `${prefix}quorum_errors_total`,
        help: 'Number of quorum errors',
        labelNames: ['error'] as const,
        registers,
      }),
  );

export const syncQueueSize = (): Gauge<'scope' | 'source_cluster'> =>
  metric(
    `${prefix}sync_queue_size`,
    (registers) =>
      new Gauge({
        name: `${prefix}sync_queue_size`,
        help: 'Number of elements queued for synchronization in the kvstore',
        labelNames: ['scope', 'source_cluster'] as const,
        registers,
      }),
  );

export const syncErrors = (): Counter<'scope' | 'source_cluster'> =>
  metric(
    `${prefix}sync_errors_total`,
    (registers) =>
      new Counter({
        name: `${prefix}sync_errors_total`,
        help: 'Number of times synchronization to the kvstore failed',
        labelNames: ['scope', 'source_cluster'] as const,
        registers,
      }),
  );

export const initialSyncCompleted = (): Gauge<'scope' | 'source_cluster' | 'action'> =>
  metric(
    `${prefix}initial_sync_completed`,
    (registers) =>
      new Gauge({
        name: `${prefix}initial_sync_completed`,
        help: 'Whether the initial synchronization from/to the kvstore has completed',
        labelNames: ['scope', 'source_cluster', 'action'] as const,
        registers,
      }),
  );

/** Entries read from a remote that failed validation; Cilium only logs these, we also count them. */
export const invalidEntries = (): Counter<'scope' | 'source_cluster'> =>
  metric(
    'cmesh_kvstore_invalid_entries_total',
    (registers) =>
      new Counter({
        name: 'cmesh_kvstore_invalid_entries_total',
        help: 'Number of entries read from the kvstore that failed to decode or validate, and were skipped',
        labelNames: ['scope', 'source_cluster'] as const,
        registers,
      }),
  );

/** Full re-lists after the watch fell behind etcd's compaction (each one rereads the whole prefix). */
export const relists = (): Counter<'scope'> =>
  metric(
    'cmesh_kvstore_relists_total',
    (registers) =>
      new Counter({
        name: 'cmesh_kvstore_relists_total',
        help: 'Number of times a list-watcher re-listed its prefix because its watch revision was compacted',
        labelNames: ['scope'] as const,
        registers,
      }),
  );

export const watchStoreEntries = (): Gauge<'scope' | 'source_cluster'> =>
  metric(
    'cmesh_kvstore_watch_store_entries',
    (registers) =>
      new Gauge({
        name: 'cmesh_kvstore_watch_store_entries',
        help: 'Number of entries held by a watch store',
        labelNames: ['scope', 'source_cluster'] as const,
        registers,
      }),
  );

/** Counts an error that means etcd could not serve the request (down, no leader, timeout). */
export function countQuorumError(err: Error): void {
  quorumErrors().inc({ error: err.name || 'Error' });
}
