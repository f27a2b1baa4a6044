import { rm } from 'node:fs/promises';
import { writeClusterRecord, type ClusterRecord } from './cluster-record.js';
import { startDaemon, stopDaemon, runningPid } from './daemon.js';
import { EtcdProcess, freePort } from './etcd-process.js';
import type { ClusterPaths } from './home.js';
import { loadCluster, logFile, pidFile } from './local-cluster.js';
import { cmeshHome } from './home.js';
import { waitForHttpOk } from './wait.js';

const APISERVER_READY_TIMEOUT_MS = 60_000;

export interface EnableOptions {
  /** Run a KVStoreMesh next to the apiserver (agents then read the local cache). */
  kvstoremesh?: boolean;
  serviceExports?: boolean;
  defaultGlobalNamespace?: boolean;
}

export function clustermeshEtcdProcess(record: ClusterRecord, paths: ClusterPaths): EtcdProcess {
  const p = record.ports;
  if (!p.clustermeshEtcdClient || !p.clustermeshEtcdPeer || !p.clustermeshEtcdMetrics) {
    throw new Error(`clustermesh is not enabled on cluster "${record.name}"`);
  }
  return new EtcdProcess({
    name: `cmesh-${record.name}-clustermesh`,
    dataDir: paths.clustermeshEtcdData,
    clientPort: p.clustermeshEtcdClient,
    peerPort: p.clustermeshEtcdPeer,
    metricsPort: p.clustermeshEtcdMetrics,
    logFile: logFile(paths, 'clustermesh-etcd'),
    pidFile: pidFile(paths, 'clustermesh-etcd'),
    detached: true,
  });
}

export function clustermeshEndpoint(record: ClusterRecord): string {
  return `${record.clustermesh?.tls ? 'https' : 'http'}://127.0.0.1:${record.ports.clustermeshEtcdClient ?? 0}`;
}

/**
 * `cmesh clustermesh enable`: starts the cluster's clustermesh etcd and its clustermesh-apiserver and waits until
 * the apiserver is ready (every sync canary written). Idempotent: already running parts are left alone.
 */
export async function enableClustermesh(
  name: string,
  opts: EnableOptions = {},
  home = cmeshHome(),
): Promise<ClusterRecord> {
  const { record, paths } = await loadCluster(name, home);
  const p = record.ports;
  p.clustermeshEtcdClient ??= await freePort();
  p.clustermeshEtcdPeer ??= await freePort();
  p.clustermeshEtcdMetrics ??= await freePort();
  p.apiserverHealth ??= await freePort();
  record.clustermesh = {
    enabled: true,
    kvstoremesh: opts.kvstoremesh ?? record.clustermesh?.kvstoremesh ?? false,
    tls: record.clustermesh?.tls ?? false,
    serviceExports: opts.serviceExports ?? record.clustermesh?.serviceExports ?? false,
    defaultGlobalNamespace: opts.defaultGlobalNamespace ?? record.clustermesh?.defaultGlobalNamespace ?? true,
  };
  await writeClusterRecord(paths.record, record);
  await startClustermeshProcesses(record, paths);
  return record;
}

export async function startClustermeshProcesses(record: ClusterRecord, paths: ClusterPaths): Promise<void> {
  if ((await runningPid(pidFile(paths, 'clustermesh-etcd'))) === undefined)
    await clustermeshEtcdProcess(record, paths).start();
  if ((await runningPid(pidFile(paths, 'apiserver'))) === undefined) {
    await startDaemon({
      name: `clustermesh-apiserver of cluster ${record.name}`,
      args: ['apiserver', '--cluster-dir', paths.dir],
      logFile: logFile(paths, 'apiserver'),
      pidFile: pidFile(paths, 'apiserver'),
    });
  }
  await waitForHttpOk(
    `http://127.0.0.1:${record.ports.apiserverHealth ?? 0}/readyz`,
    APISERVER_READY_TIMEOUT_MS,
    `clustermesh-apiserver of cluster ${record.name}`,
    logFile(paths, 'apiserver'),
  );
}

/** `cmesh clustermesh disable`: stops the apiserver (and kvstoremesh) and the clustermesh etcd, removes its data. */
export async function disableClustermesh(name: string, home = cmeshHome()): Promise<void> {
  const { record, paths } = await loadCluster(name, home);
  for (const role of ['kvstoremesh', 'apiserver']) await stopDaemon(pidFile(paths, role));
  await stopDaemon(pidFile(paths, 'clustermesh-etcd'));
  await rm(paths.clustermeshEtcdData, { recursive: true, force: true });
  delete record.clustermesh;
  await writeClusterRecord(paths.record, record);
}
