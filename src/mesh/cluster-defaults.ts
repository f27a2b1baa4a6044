/**
 * The defaults of a new local cluster, in a module of their own with no imports, so that the CLI can show them in
 * `--help` without loading the cluster code.
 */
export const DEFAULT_NODES = 2;
/** 0 nodes: a control-plane-only cluster (state etcd, operator, ClusterMesh; no agents, so no pods run). */
export const MIN_NODES = 0;
export const MAX_NODES = 64;
/**
 * Clusters created with defaults get loopback ranges, so that the userspace datapath can serve their pods and
 * service frontends as real sockets on this machine: cluster N owns 127.N.0.0/16, its pods the lower half and its
 * services the upper half. IDs above this have no default (127.0.0.0/8 has 255 such blocks besides 127.0.x.x).
 */
export const MAX_DEFAULT_CIDR_ID = 255;
export const DEFAULT_POD_CIDR_TEMPLATE = '127.<id>.0.0/17';
export const DEFAULT_SERVICE_CIDR_TEMPLATE = '127.<id>.128.0/17';
