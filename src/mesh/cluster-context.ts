/**
 * One local cluster opened for a command: its record, its paths and, on first use, a client of its state etcd.
 * The cluster must be running (its state etcd at least); a stopped one is reported with the command that starts it.
 */
import type { Etcd3 } from 'etcd3';
import { createEtcdClient } from '../kvstore/client.js';
import type { ClusterRecord } from '../k8s/local-cluster-record.js';
import { cmeshHome, type ClusterPaths } from './home.js';
import { loadCluster, stateEtcdEndpoint } from './local-cluster.js';
import { requireRunning } from './running.js';

export interface ClusterContext {
  record: ClusterRecord;
  paths: ClusterPaths;
  /** A client of the cluster's state etcd; closed by close(). */
  state(): Etcd3;
  close(): void;
}

export async function openClusterContext(name: string, home = cmeshHome()): Promise<ClusterContext> {
  const { record, paths } = await loadCluster(name, home);
  await requireRunning(record, paths, ['state-etcd']);
  let client: Etcd3 | undefined;
  return {
    record,
    paths,
    state() {
      client ??= createEtcdClient({ endpoints: [stateEtcdEndpoint(record)] });
      return client;
    },
    close() {
      client?.close();
    },
  };
}
