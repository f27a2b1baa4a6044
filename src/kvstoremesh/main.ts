import path from 'node:path';
import { createEtcdClient, loadEtcdConfigFile, type EtcdClientOptions } from '../kvstore/client.js';
import { HealthServer } from '../observe/health-server.js';
import { missingFlagsMessage, resolveClusterFlags } from '../k8s/cluster-flags.js';
import { logger } from '../observe/logger.js';
import { collectProcessMetrics } from '../observe/metrics.js';
import { setKvstoreMetricsNamespace } from '../kvstore/metrics.js';
import { untilStopSignal } from '../observe/signals.js';
import { validateLocalCluster } from '../wire/index.js';
import { KVStoreMesh } from './kvstoremesh.js';

/** With kvstoremesh on, the agents' config dir (clustermesh/) points at the local cache; the real remotes live here. */
const CLUSTER_DIR_CONFIG_SUBDIR = 'kvstoremesh';
const CLUSTER_DIR_TLS_ETCD_CONFIG = path.join('certs', 'kvstoremesh-etcd.yaml');

export interface KVStoreMeshRunOptions {
  clusterName: string;
  clusterId: number;
  maxConnectedClusters: number;
  clustermeshConfig: string;
  kvstore: EtcdClientOptions;
  healthPort: number;
  perClusterReadyTimeoutMs: number;
  globalReadyTimeoutMs: number;
  disconnectGracePeriodMs: number;
}

/** Runs kvstoremesh until SIGTERM/SIGINT. */
export async function runKVStoreMesh(o: KVStoreMeshRunOptions): Promise<void> {
  const log = logger('kvstoremesh');
  const maxCC = validateLocalCluster(o.clusterName, o.clusterId, o.maxConnectedClusters);
  // Cilium's names for this daemon's kvstore metrics (the agent keeps cilium_kvstore_*).
  setKvstoreMetricsNamespace('cilium_kvstoremesh');
  collectProcessMetrics();
  const local = createEtcdClient(o.kvstore);
  const km = new KVStoreMesh({
    clusterName: o.clusterName,
    clusterId: o.clusterId,
    maxConnectedClusters: maxCC,
    configDir: o.clustermeshConfig,
    local,
    perClusterReadyTimeoutMs: o.perClusterReadyTimeoutMs,
    globalReadyTimeoutMs: o.globalReadyTimeoutMs,
    disconnectGracePeriodMs: o.disconnectGracePeriodMs,
  });
  const health = new HealthServer({ healthy: () => true, ready: () => km.ready(), detail: () => km.status() });
  const port = await health.listen(o.healthPort);
  await km.start();
  log.info({ healthPort: port }, 'serving /healthz, /readyz and /metrics');
  await untilStopSignal();
  log.info('shutting down');
  await km.stop();
  await health.close();
  local.close();
}

/** The flags of `cmesh kvstoremesh`, as commander parses them. */
export interface KVStoreMeshFlags {
  clusterDir?: string;
  clusterName?: string;
  clusterId?: number;
  maxConnectedClusters?: number;
  clustermeshConfig?: string;
  kvstore?: string;
  kvstoreConfig?: string;
  healthPort?: number;
  perClusterReadyTimeout: number;
  globalReadyTimeout: number;
  disconnectGracePeriod: number;
}

/**
 * Resolves the flags (and, with --cluster-dir, the local cluster's record) into run options: a flag given wins
 * over the record.
 */
export async function kvstoremeshRunOptions(opts: KVStoreMeshFlags): Promise<KVStoreMeshRunOptions> {
  const { name, id, maxConnectedClusters: maxCC, record: rec } = await resolveClusterFlags(opts);
  let configDir = opts.clustermeshConfig;
  let kvUrl = opts.kvstore;
  let kvConfig = opts.kvstoreConfig;
  let healthPort = opts.healthPort;
  if (opts.clusterDir && rec) {
    healthPort ??= rec.ports.kvstoremeshHealth;
    configDir ??= path.join(opts.clusterDir, CLUSTER_DIR_CONFIG_SUBDIR);
    if (rec.clustermesh?.tls) kvConfig ??= path.join(opts.clusterDir, CLUSTER_DIR_TLS_ETCD_CONFIG);
    else if (rec.ports.clustermeshEtcdClient !== undefined) {
      kvUrl ??= `http://127.0.0.1:${rec.ports.clustermeshEtcdClient}`;
    }
  }
  const missing = missingFlagsMessage(
    [
      ['--cluster-name', name],
      ['--cluster-id', id],
      ['--clustermesh-config', configDir],
      ['--kvstore or --kvstore-config', kvUrl ?? kvConfig],
    ],
    'pass --cluster-dir of a local cluster',
  );
  if (missing) throw new Error(missing);
  return {
    clusterName: name!,
    clusterId: id!,
    maxConnectedClusters: maxCC ?? 255,
    clustermeshConfig: configDir!,
    kvstore: kvConfig ? await loadEtcdConfigFile(kvConfig) : { endpoints: [kvUrl!] },
    healthPort: healthPort ?? 0,
    perClusterReadyTimeoutMs: opts.perClusterReadyTimeout,
    globalReadyTimeoutMs: opts.globalReadyTimeout,
    disconnectGracePeriodMs: opts.disconnectGracePeriod,
  };
}
