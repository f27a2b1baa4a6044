/** KVStoreMesh's flag defaults (Cilium's): no imports, so that the command tree can show them cheaply. */

/** --per-cluster-ready-timeout: a remote that does not connect within this stops blocking readiness. */
export const PER_CLUSTER_READY_TIMEOUT_MS = 15_000;
/** --global-ready-timeout: ready after this even if some remotes are not synchronized. */
export const GLOBAL_READY_TIMEOUT_MS = 10 * 60_000;
/** --disconnect-grace-period: a removed remote's cache stays this long after its cluster config is deleted. */
export const DISCONNECT_GRACE_PERIOD_MS = 3 * 60_000;
