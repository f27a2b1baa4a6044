import { homedir } from 'node:os';
import path from 'node:path';

/** Where local clusters live: $CMESH_HOME, default ~/.cmesh. */
export function cmeshHome(): string {
  return process.env.CMESH_HOME ?? path.join(homedir(), '.cmesh');
}

export function clustersDir(home = cmeshHome()): string {
  return path.join(home, 'clusters');
}

/** Every file and folder of one local cluster, in one place so that `cluster inspect` can print them all. */
export interface ClusterPaths {
  dir: string;
  record: string;
  certs: string;
  logs: string;
  run: string;
  stateEtcdData: string;
  clustermeshEtcdData: string;
  /** The agents' and kvstoremesh's remote-cluster config directory (one file per remote, Cilium's format). */
  clustermeshConfig: string;
  /** KVStoreMesh's remote-cluster config directory (the real remotes), when it runs. */
  kvstoremeshConfig: string;
  /** Agent sockets and per-node state. */
  nodes: string;
  /** The Kubernetes control plane's PKI (`pki/`), its users' kubeconfigs (`kubeconfigs/`) and scratch folders. */
  kube: string;
}

export function clusterPaths(name: string, home = cmeshHome()): ClusterPaths {
  const dir = path.join(clustersDir(home), name);
  return {
    dir,
    record: path.join(dir, 'cluster.json'),
    certs: path.join(dir, 'certs'),
    logs: path.join(dir, 'logs'),
    run: path.join(dir, 'run'),
    stateEtcdData: path.join(dir, 'etcd', 'state'),
    clustermeshEtcdData: path.join(dir, 'etcd', 'clustermesh'),
    clustermeshConfig: path.join(dir, 'clustermesh'),
    kvstoremeshConfig: path.join(dir, 'kvstoremesh'),
    nodes: path.join(dir, 'nodes'),
    kube: path.join(dir, 'kube'),
  };
}
