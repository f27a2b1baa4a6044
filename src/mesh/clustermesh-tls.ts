import path from 'node:path';
import type { EtcdTlsConfig } from '../kvstore/client.js';
import type { ClusterRecord } from './cluster-record.js';
import type { ClusterPaths } from './home.js';

/** The TLS files of one etcd user of a cluster's clustermesh etcd (certificate CN = user name). */
export function clustermeshClientTls(_record: ClusterRecord, paths: ClusterPaths, user: string): EtcdTlsConfig {
  return {
    ca: path.join(paths.certs, 'ca.crt'),
    cert: path.join(paths.certs, `${user}.crt`),
    key: path.join(paths.certs, `${user}.key`),
  };
}
