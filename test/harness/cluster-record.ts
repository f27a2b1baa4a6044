/** A local cluster's record (cluster.json) for tests of daemons started with --cluster-dir. */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ClusterPorts, ClusterRecord } from '../../src/k8s/local-cluster-record.js';

/** Writes `<dir>/cluster.json` for cluster c1 (ID 1); `overrides` replace fields, `ports` are merged. */
export async function writeTestClusterRecord(
  dir: string,
  overrides: Partial<Omit<ClusterRecord, 'ports'>> & { ports?: Partial<ClusterPorts> } = {},
): Promise<ClusterRecord> {
  const { ports, ...rest } = overrides;
  const record: ClusterRecord = {
    name: 'c1',
    id: 1,
    maxConnectedClusters: 255,
    podCidr: '10.1.0.0/16',
    serviceCidr: '10.96.0.0/16',
    nodes: 0,
    createdAt: new Date(0).toISOString(),
    ...rest,
    ports: { stateEtcdClient: 1, stateEtcdPeer: 2, stateEtcdMetrics: 3, operatorHealth: 4, kubeApiserver: 5, ...ports },
  };
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'cluster.json'), JSON.stringify(record));
  return record;
}
