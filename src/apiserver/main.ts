import path from 'node:path';
import { LocalClusterSource } from '../k8s/local-source.js';
import { ObjectStore } from '../k8s/object-store.js';
import { createEtcdClient, loadEtcdConfigFile, type EtcdClientOptions } from '../kvstore/client.js';
import { missingFlagsMessage, resolveClusterFlags } from '../k8s/cluster-flags.js';
import { FlagValueError } from '../observe/flag-values.js';
import { HealthServer } from '../observe/health-server.js';
import { logger } from '../observe/logger.js';
import { collectProcessMetrics } from '../observe/metrics.js';
import { setKvstoreMetricsNamespace } from '../kvstore/metrics.js';
import { untilStopSignal } from '../observe/signals.js';
import { DEFAULT_MAX_CONNECTED_CLUSTERS, validateLocalCluster } from '../wire/index.js';
import { DEFAULT_GLOBAL_NAMESPACE } from '../k8s/cilium-annotations.js';
import { ClustermeshApiserver } from './apiserver.js';

export interface ApiserverRunOptions {
  clusterName: string;
  clusterId: number;
  maxConnectedClusters: number;
  stateEtcd: EtcdClientOptions;
  kvstore: EtcdClientOptions;
  healthPort: number;
  defaultGlobalNamespace: boolean;
  enableServiceExports: boolean;
}

/** Runs the apiserver until SIGTERM/SIGINT. */
export async function runApiserver(o: ApiserverRunOptions): Promise<void> {
  const log = logger('clustermesh-apiserver');
  const maxCC = validateLocalCluster(o.clusterName, o.clusterId, o.maxConnectedClusters);
  // Cilium's names for this daemon's kvstore metrics (the agent keeps cilium_kvstore_*).
  setKvstoreMetricsNamespace('cilium_clustermesh_apiserver');
  collectProcessMetrics();
  const state = createEtcdClient(o.stateEtcd);
  const kvstore = createEtcdClient(o.kvstore);
  const source = new LocalClusterSource(state);
  const apiserver = new ClustermeshApiserver({
    clusterName: o.clusterName,
    clusterId: o.clusterId,
    maxConnectedClusters: maxCC,
    source,
    kvstore,
    defaultGlobalNamespace: o.defaultGlobalNamespace,
    enableServiceExports: o.enableServiceExports,
    // External workloads: the apiserver writes VM objects into the state it reads.
    stateWriter: new ObjectStore(state),
  });
  const health = new HealthServer({
    healthy: () => true,
    ready: () => apiserver.ready(),
    detail: () => apiserver.status(),
  });
  const port = await health.listen(o.healthPort);
  await apiserver.start();
  log.info({ healthPort: port }, 'serving /healthz, /readyz and /metrics');
  await untilStopSignal();
  log.info('shutting down');
  await apiserver.stop();
  await source.close();
  await health.close();
  state.close();
  kvstore.close();
}

/** The flags of `cmesh apiserver`, as commander parses them. */
export interface ApiserverFlags {
  clusterDir?: string;
  clusterName?: string;
  clusterId?: number;
  maxConnectedClusters?: number;
  stateEtcd?: string;
  kvstoreConfig?: string;
  kvstore?: string;
  healthPort?: number;
  clustermeshDefaultGlobalNamespace?: boolean;
  enableServiceExports?: boolean;
}

/**
 * Resolves the flags (and, with --cluster-dir, the local cluster's record) into run options: a flag given wins
 * over the record.
 */
export async function apiserverRunOptions(opts: ApiserverFlags): Promise<ApiserverRunOptions> {
  const { name, id, maxConnectedClusters: maxCC, record: rec } = await resolveClusterFlags(opts);
  let stateUrl = opts.stateEtcd;
  let kvUrl = opts.kvstore;
  let kvConfig = opts.kvstoreConfig;
  let healthPort = opts.healthPort;
  if (opts.clusterDir && rec) {
    stateUrl ??= `http://127.0.0.1:${rec.ports.stateEtcdClient}`;
    healthPort ??= rec.ports.apiserverHealth;
    if (rec.clustermesh?.tls) kvConfig ??= path.join(opts.clusterDir, 'certs', 'apiserver-etcd.yaml');
    else if (rec.clustermesh) kvUrl ??= `http://127.0.0.1:${rec.ports.clustermeshEtcdClient ?? 0}`;
  }
  const missing = missingFlagsMessage(
    [
      ['--cluster-name', name],
      ['--cluster-id', id],
      ['--state-etcd', stateUrl],
      ['--kvstore or --kvstore-config', kvUrl ?? kvConfig],
    ],
    'pass --cluster-dir of a local cluster',
  );
  if (missing !== undefined || name === undefined || id === undefined || stateUrl === undefined) {
    throw new FlagValueError(missing ?? 'incomplete apiserver settings');
  }
  return {
    clusterName: name,
    clusterId: id,
    maxConnectedClusters: maxCC ?? DEFAULT_MAX_CONNECTED_CLUSTERS,
    stateEtcd: { endpoints: [stateUrl] },
    kvstore: kvConfig ? await loadEtcdConfigFile(kvConfig) : { endpoints: [kvUrl ?? ''] },
    healthPort: healthPort ?? 0,
    defaultGlobalNamespace:
      opts.clustermeshDefaultGlobalNamespace ?? rec?.clustermesh?.defaultGlobalNamespace ?? DEFAULT_GLOBAL_NAMESPACE,
    enableServiceExports: opts.enableServiceExports ?? rec?.clustermesh?.serviceExports ?? false,
  };
}
