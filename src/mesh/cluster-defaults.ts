/**
 * The defaults of a new local cluster, in a module of their own with no imports, so that the CLI can show them in
 * `--help` without loading the cluster code.
 */
export const DEFAULT_NODES = 2;
/** 0 nodes: a control-plane-only cluster (state etcd, operator, ClusterMesh; no agents, so no pods run). */
export const MIN_NODES = 0;
export const MAX_NODES = 64;
/**
 * Clusters created with defaults get ranges the userspace datapath can serve as real sockets on this machine:
 * cluster N owns 127.N.0.0/16 on loopback, its pods the lower half and its service frontends the upper half. Pod
 * IPs are 10.N.0.0/17, served on 127.N.0.0/17 (agent/datapath/host-address.ts), because kube-apiserver refuses
 * loopback addresses in EndpointSlices; service ClusterIPs stay loopback, which it accepts. IDs above this have no
 * default (127.0.0.0/8 has 255 such blocks besides 127.0.x.x).
 */
export const MAX_DEFAULT_CIDR_ID = 255;
export const DEFAULT_POD_CIDR_TEMPLATE = '10.<id>.0.0/17';
export const DEFAULT_SERVICE_CIDR_TEMPLATE = '127.<id>.128.0/17';
