import { Counter, Gauge, metric } from '../observe/metrics.js';

export interface OperatorMetrics {
  reconciles: Counter<'controller' | 'outcome'>;
  queueDepth: Gauge;
  writes: Counter<'kind' | 'action'>;
  skippedObjects: Counter<'kind' | 'reason'>;
  identitiesAllocated: Counter;
  /** Cilium's name: identities seen by the last GC run, by status (alive | deleted). */
  identityGcEntries: Gauge<'status'>;
  /** Cilium's name: GC runs by outcome (success | failure). */
  identityGcRuns: Counter<'outcome'>;
  ipamExhausted: Counter;
}

let cached: OperatorMetrics | undefined;

export function operatorMetrics(): OperatorMetrics {
  cached ??= {
    reconciles: metric(
      'cmesh_operator_reconciles_total',
      (registers) =>
        new Counter({
          name: 'cmesh_operator_reconciles_total',
          help: 'Reconciles by controller and outcome (ok, retry, dropped)',
          labelNames: ['controller', 'outcome'] as const,
          registers,
        }),
    ),
    queueDepth: metric(
      'cmesh_operator_queue_depth',
      (registers) =>
        new Gauge({
          name: 'cmesh_operator_queue_depth',
          help: 'Keys queued, running or waiting for a retry',
          registers,
        }),
    ),
    writes: metric(
      'cmesh_operator_writes_total',
      (registers) =>
        new Counter({
          name: 'cmesh_operator_writes_total',
          help: 'Objects written to the cluster state by kind and action (create, update, delete)',
          labelNames: ['kind', 'action'] as const,
          registers,
        }),
    ),
    skippedObjects: metric(
      'cmesh_operator_skipped_objects_total',
      (registers) =>
        new Counter({
          name: 'cmesh_operator_skipped_objects_total',
          help: 'Objects the operator could not act on (invalid, unschedulable, not its own), by kind and reason',
          labelNames: ['kind', 'reason'] as const,
          registers,
        }),
    ),
    identitiesAllocated: metric(
      'cmesh_operator_identities_allocated_total',
      (registers) =>
        new Counter({
          name: 'cmesh_operator_identities_allocated_total',
          help: 'CiliumIdentities created by the operator',
          registers,
        }),
    ),
    identityGcEntries: metric(
      'cilium_operator_identity_gc_entries',
      (registers) =>
        new Gauge({
          name: 'cilium_operator_identity_gc_entries',
          help: 'Identities seen by the last garbage collection run, by status',
          labelNames: ['status'] as const,
          registers,
        }),
    ),
    identityGcRuns: metric(
      'cilium_operator_identity_gc_runs',
      (registers) =>
        new Counter({
          name: 'cilium_operator_identity_gc_runs',
          help: 'Identity garbage collection runs, by outcome',
          labelNames: ['outcome'] as const,
          registers,
        }),
    ),
    ipamExhausted: metric(
      'cmesh_operator_ipam_exhausted_total',
      (registers) =>
        new Counter({
          name: 'cmesh_operator_ipam_exhausted_total',
          help: 'Pods that could not be given a node or an address',
          registers,
        }),
    ),
  };
  return cached;
}
