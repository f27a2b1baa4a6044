/** Addresses and client TLS files of a local cluster's clustermesh etcd, and where its components find them. */
import path from 'node:path';
import type { EtcdTlsConfig } from '../kvstore/client.js';
import type { ClusterRecord } from '../k8s/local-cluster-record.js';
import { adminUser } from '../kvstore/users.js';
import type { ClusterPaths } from './home.js';

export function clustermeshEndpoint(record: ClusterRecord): string {
  return `${record.clustermesh?.tls ? 'https' : 'http'}://127.0.0.1:${record.ports.clustermeshEtcdClient ?? 0}`;
}

/** The TLS files of one etcd user of a cluster's clustermesh etcd (certificate CN = user name). */
export function clustermeshClientTls(_record: ClusterRecord, paths: ClusterPaths, user: string): EtcdTlsConfig {
  return {
    ca: path.join(paths.certs, 'ca.crt'),
    cert: path.join(paths.certs, `${user}.crt`),
    key: path.join(paths.certs, `${user}.key`),
  };
}

export function adminClientTls(record: ClusterRecord, paths: ClusterPaths): EtcdTlsConfig {
  return clustermeshClientTls(record, paths, adminUser(record.name));
}

/** The clustermesh-apiserver's etcd config (admin certificate); its `--cluster-dir` mode reads this path. */
export function apiserverEtcdConfigFile(paths: ClusterPaths): string {
  return path.join(paths.certs, 'apiserver-etcd.yaml');
}

/** KVStoreMesh's config of the local clustermesh etcd it writes the cache into (admin certificate). */
export function kvstoremeshLocalEtcdConfigFile(paths: ClusterPaths): string {
  return path.join(paths.certs, 'kvstoremesh-etcd.yaml');
}

/** KVStoreMesh's remote-cluster config directory: one file per remote with the real remote endpoint. */
export function kvstoremeshConfigDir(paths: ClusterPaths): string {
  return path.join(paths.dir, 'kvstoremesh');
}
