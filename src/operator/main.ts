/**
 * `cmesh operator --cluster-dir DIR`: the operator process of one local cluster. Reads the cluster record, watches
 * the cluster's state etcd and serves /healthz, /readyz and /metrics on loopback until SIGTERM or SIGINT.
 */
import path from 'node:path';
import { readClusterRecord } from '../k8s/local-cluster-record.js';
import { createEtcdClient } from '../kvstore/client.js';
import { HealthServer } from '../observe/health-server.js';
import { logger } from '../observe/logger.js';
import { untilStopSignal } from '../observe/signals.js';
import { collectProcessMetrics } from '../observe/metrics.js';
import type { OperatorCluster } from '../k8s/cluster-layout.js';
import { Operator, type OperatorOptions } from './operator.js';

export const CLUSTER_RECORD_FILE = 'cluster.json';

const log = logger('operator-main');

export interface RunOperatorOptions {
  clusterDir: string;
  /** Port of /healthz, /readyz, /metrics on 127.0.0.1; the record's ports.operatorHealth by default. */
  healthPort?: number;
  /** Stops the operator when aborted (in addition to SIGTERM/SIGINT when handleSignals is on). */
  signal?: AbortSignal;
  /** Stop on SIGTERM/SIGINT; on by default. */
  handleSignals?: boolean;
  /** Passed to the Operator (tests shorten the identity GC grace period). */
  operator?: Partial<Omit<OperatorOptions, 'client' | 'cluster'>>;
}

/** Runs the operator until a signal (or `opts.signal`) asks it to stop; resolves once everything is stopped. */
export async function runOperator(opts: RunOperatorOptions): Promise<void> {
  const record = await readClusterRecord(path.join(opts.clusterDir, CLUSTER_RECORD_FILE));
  const cluster: OperatorCluster = {
    name: record.name,
    id: record.id,
    maxConnectedClusters: record.maxConnectedClusters,
    podCidr: record.podCidr,
    serviceCidr: record.serviceCidr,
    nodes: record.nodes,
  };
  collectProcessMetrics();
  const client = createEtcdClient({ endpoints: [`http://127.0.0.1:${record.ports.stateEtcdClient}`] });
  const op = new Operator({ ...opts.operator, client, cluster });
  const health = new HealthServer({
    healthy: () => op.healthy(),
    ready: () => op.ready(),
    detail: () => op.status(),
  });
  const stopRequested = new Promise<string>((resolve) => {
    if (opts.handleSignals ?? true) void untilStopSignal().then(resolve);
    if (opts.signal?.aborted) resolve('abort');
    opts.signal?.addEventListener('abort', () => {
      resolve('abort');
    });
  });
  let failed: unknown;
  try {
    const port = await health.listen(opts.healthPort ?? record.ports.operatorHealth);
    log.info(
      { cluster: cluster.name, clusterID: cluster.id, nodes: cluster.nodes, healthPort: port },
      'operator starting',
    );
    const startup = op.start().catch((err: unknown) => {
      failed = err;
      log.error({ err }, 'operator failed to start');
    });
    const why = await Promise.race([stopRequested, startup.then(() => (failed ? 'failure' : undefined))]);
    if (why === undefined) log.info({ reason: await stopRequested }, 'stopping');
    else log.info({ reason: why }, 'stopping');
  } finally {
    await op.stop();
    await health.close();
    client.close();
  }
  if (failed !== undefined)
    throw failed instanceof Error ? failed : new Error('operator failed to start', { cause: failed });
}
