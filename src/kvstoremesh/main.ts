import path from 'node:path';
import { Command } from '@commander-js/extra-typings';
import { createEtcdClient, loadEtcdConfigFile, type EtcdClientOptions } from '../kvstore/client.js';
import { HealthServer } from '../observe/health-server.js';
import { missingFlagsMessage, resolveClusterFlags } from '../k8s/cluster-flags.js';
import { intFlag } from '../observe/flag-values.js';
import { parseDuration } from '../observe/duration.js';
import { logger } from '../observe/logger.js';
import { collectProcessMetrics } from '../observe/metrics.js';
import { setKvstoreMetricsNamespace } from '../kvstore/metrics.js';
import { untilStopSignal } from '../observe/signals.js';
import { validateLocalCluster } from '../wire/index.js';
import { GLOBAL_READY_TIMEOUT_MS, KVStoreMesh, PER_CLUSTER_READY_TIMEOUT_MS } from './kvstoremesh.js';
import { DISCONNECT_GRACE_PERIOD_MS } from './remote-mirror.js';

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

export function kvstoremeshCommand() {
  return new Command('kvstoremesh')
    .description(
      "run KVStoreMesh: cache every remote cluster's nodes, services, identities and endpoints in the local\n" +
        'clustermesh etcd (cilium/cache/...), so that the local agents read one nearby etcd',
    )
    .option('--cluster-dir <dir>', 'a local cluster folder: takes every setting below from its cluster.json')
    .option('--cluster-name <name>', "this cluster's name")
    .option('--cluster-id <id>', "this cluster's ID", intFlag('--cluster-id'))
    .option('--max-connected-clusters <n>', '255 or 511', intFlag('--max-connected-clusters'))
    .option('--clustermesh-config <dir>', 'remote cluster configs: one etcd config file per remote, named after it')
    .option('--kvstore <url>', 'the local clustermesh etcd endpoint (plain, loopback)')
    .option('--kvstore-config <file>', 'etcd config file (Cilium format) of the local clustermesh etcd')
    .option('--health-port <port>', '/healthz, /readyz and /metrics on 127.0.0.1:<port>', intFlag('--health-port'))
    .option(
      '--per-cluster-ready-timeout <duration>',
      'a remote that does not connect within this stops blocking readiness',
      (v) => parseDuration(v, '--per-cluster-ready-timeout'),
      PER_CLUSTER_READY_TIMEOUT_MS,
    )
    .option(
      '--global-ready-timeout <duration>',
      'ready after this even if some remotes are not synchronized',
      (v) => parseDuration(v, '--global-ready-timeout'),
      GLOBAL_READY_TIMEOUT_MS,
    )
    .option(
      '--disconnect-grace-period <duration>',
      "how long a removed remote's cache outlives its cluster config",
      (v) => parseDuration(v, '--disconnect-grace-period'),
      DISCONNECT_GRACE_PERIOD_MS,
    )
    .action(async (opts) => {
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
      await runKVStoreMesh({
        clusterName: name!,
        clusterId: id!,
        maxConnectedClusters: maxCC ?? 255,
        clustermeshConfig: configDir!,
        kvstore: kvConfig ? await loadEtcdConfigFile(kvConfig) : { endpoints: [kvUrl!] },
        healthPort: healthPort ?? 0,
        perClusterReadyTimeoutMs: opts.perClusterReadyTimeout,
        globalReadyTimeoutMs: opts.globalReadyTimeout,
        disconnectGracePeriodMs: opts.disconnectGracePeriod,
      });
    });
}
