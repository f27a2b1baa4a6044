import { Counter, Gauge, metric } from '../observe/metrics.js';

/** Cilium's `cilium_clustermesh_global_services`: services that at least one remote shares. */
export const globalServicesGauge = (): Gauge<'source_cluster' | 'source_node_name'> =>
  metric(
    'cilium_clustermesh_global_services',
    (registers) =>
      new Gauge({
        name: 'cilium_clustermesh_global_services',
        help: 'The total number of global services in the cluster mesh',
        labelNames: ['source_cluster', 'source_node_name'] as const,
        registers,
      }),
  );

/** Cilium's `cilium_policy_change_total`: policy imports by outcome (success | failure). */
export const policyChangeCounter = (): Counter<'outcome'> =>
  metric(
    'cilium_policy_change_total',
    (registers) =>
      new Counter({
        name: 'cilium_policy_change_total',
        help: 'Number of policy changes by outcome',
        labelNames: ['outcome'] as const,
        registers,
      }),
  );
