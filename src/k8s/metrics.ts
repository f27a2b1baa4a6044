/**
 * Metrics of the informers, shared by both sources so that one dashboard reads either (`local` or `kubernetes`).
 */
import { Counter, metric } from '../observe/metrics.js';

export const invalidObjects = (): Counter<'kind'> =>
  metric(
    'cmesh_k8s_invalid_objects_total',
    (registers) =>
      new Counter({
        name: 'cmesh_k8s_invalid_objects_total',
        help: 'Objects in the cluster state store that failed validation and were ignored',
        labelNames: ['kind'] as const,
        registers,
      }),
  );

/** Full re-lists of a kind after the watch's resourceVersion expired (410 Gone) or the watch reported an error. */
export const informerRelists = (): Counter<'kind'> =>
  metric(
    'cmesh_k8s_informer_relists_total',
    (registers) =>
      new Counter({
        name: 'cmesh_k8s_informer_relists_total',
        help: 'Re-lists of an informer after its watch expired or failed (kubernetes source)',
        labelNames: ['kind'] as const,
        registers,
      }),
  );

/** Watches that ended and were started again, by why: `closed` (timeout), `error`, `expired`, `paused` (backpressure). */
export const informerWatchRestarts = (): Counter<'kind' | 'reason'> =>
  metric(
    'cmesh_k8s_informer_watch_restarts_total',
    (registers) =>
      new Counter({
        name: 'cmesh_k8s_informer_watch_restarts_total',
        help: 'Watches of an informer that ended and were started again, by reason (kubernetes source)',
        labelNames: ['kind', 'reason'] as const,
        registers,
      }),
  );

/**
 * Rounds of list+watch that failed and are retried with backoff, by why: `forbidden` (RBAC), `not_served` (the
 * kind's CRD is not installed), `unreachable` (no API server), `server_error`.
 */
export const informerErrors = (): Counter<'kind' | 'reason'> =>
  metric(
    'cmesh_k8s_informer_errors_total',
    (registers) =>
      new Counter({
        name: 'cmesh_k8s_informer_errors_total',
        help: 'Failed list or watch rounds of an informer, retried with backoff, by reason (kubernetes source)',
        labelNames: ['kind', 'reason'] as const,
        registers,
      }),
  );
