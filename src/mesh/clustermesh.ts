import { mkdir, rm } from 'node:fs/promises';
import { writeClusterRecord, type ClusterRecord } from '../k8s/local-cluster-record.js';
import { DEFAULT_GLOBAL_NAMESPACE } from '../k8s/cilium-annotations.js';
import { createEtcdClient, checkEtcdConnection } from '../kvstore/client.js';
import { adminUser, ensureClustermeshUsers } from '../kvstore/users.js';
import type { Pem } from './certificates.js';
import {
  assertCertificatesValid,
  caFiles,
  ensureClusterCertificates,
  serverCertFiles,
  userCertFiles,
} from './certificates-store.js';
import {
  adminClientTls,
  apiserverEtcdConfigFile,
  clustermeshEndpoint,
  kvstoremeshConfigDir,
  kvstoremeshLocalEtcdConfigFile,
} from './clustermesh-tls.js';
import { startDaemon, stopDaemon, runningPid } from './daemon.js';
import { writeEtcdConfigFile } from './etcd-config-file.js';
import { EtcdProcess, freePort } from './etcd-process.js';
import type { ClusterPaths } from './home.js';
import { loadCluster, logFile, pidFile } from './local-cluster.js';
import { requireRunning } from './running.js';
import { cmeshHome } from './home.js';
import { writeRemoteConfigs } from './remotes.js';
import { waitBudget, type StepOptions } from './steps.js';
import { waitForHttpOk } from './wait.js';

export { clustermeshEndpoint } from './clustermesh-tls.js';

const APISERVER_READY_TIMEOUT_MS = 60_000;
const KVSTOREMESH_START_TIMEOUT_MS = 30_000;
const ETCD_SETUP_TIMEOUT_MS = 15_000;

/** KVStoreMesh runs unless turned off, as in Cilium 1.16 and later. */
export const DEFAULT_KVSTOREMESH = true;

export interface EnableOptions extends StepOptions {
  /** Run a KVStoreMesh next to the apiserver (agents then read the local cache); default DEFAULT_KVSTOREMESH. */
  kvstoremesh?: boolean;
  serviceExports?: boolean;
  defaultGlobalNamespace?: boolean;
  /** Serve the clustermesh etcd over mutual TLS (default: on for a cluster enabled for the first time). */
  tls?: boolean;
  /** A CA shared with other clusters, used when the cluster gets its certificates for the first time. */
  ca?: Pem;
}

export function clustermeshEtcdProcess(record: ClusterRecord, paths: ClusterPaths): EtcdProcess {
  const p = record.ports;
  if (!p.clustermeshEtcdClient || !p.clustermeshEtcdPeer || !p.clustermeshEtcdMetrics) {
    throw new Error(`clustermesh is not enabled on cluster "${record.name}"`);
  }
  const server = serverCertFiles(paths);
  return new EtcdProcess({
    name: `cmesh-${record.name}-clustermesh`,
    dataDir: paths.clustermeshEtcdData,
    clientPort: p.clustermeshEtcdClient,
    peerPort: p.clustermeshEtcdPeer,
    metricsPort: p.clustermeshEtcdMetrics,
    logFile: logFile(paths, 'clustermesh-etcd'),
    pidFile: pidFile(paths, 'clustermesh-etcd'),
    detached: true,
    ...(record.clustermesh?.tls
      ? {
          tls: {
            trustedCaFile: caFiles(paths).cert,
            certFile: server.cert,
            keyFile: server.key,
            clientCertAuth: true,
          },
        }
      : {}),
  });
}

/**
 * `cmesh clustermesh enable`: creates the certificates, starts the cluster's clustermesh etcd with mutual TLS,
 * creates its users and roles and enables auth, then starts the clustermesh-apiserver (and KVStoreMesh) and waits
 * until the apiserver is ready. Idempotent: existing certificates, users and running processes are kept. A first
 * enable that fails is undone (processes stopped, data and record as before), so a retry starts clean.
 */
export async function enableClustermesh(
  name: string,
  opts: EnableOptions = {},
  home = cmeshHome(),
): Promise<ClusterRecord> {
  const { record, paths } = await loadCluster(name, home);
  await requireRunning(record, paths, ['state-etcd']);
  const wasEnabled = record.clustermesh?.enabled === true;
  try {
    return await enable(record, paths, wasEnabled, opts);
  } catch (err) {
    if (!wasEnabled) await disableClustermesh(name, home).catch(() => undefined);
    throw err;
  }
}

async function enable(
  record: ClusterRecord,
  paths: ClusterPaths,
  wasEnabled: boolean,
  opts: EnableOptions,
): Promise<ClusterRecord> {
  const name = record.name;
  const tls = wasEnabled ? (record.clustermesh?.tls ?? false) : (opts.tls ?? true);
  if (wasEnabled && opts.tls !== undefined && opts.tls !== tls) {
    throw new Error(
      `clustermesh of cluster "${name}" already runs ${tls ? 'with' : 'without'} TLS; disable it first to change that`,
    );
  }
  if (tls) {
    opts.onStep?.(`issuing the certificates of cluster ${name}`);
    await ensureClusterCertificates(record, paths, opts.ca ? { ca: opts.ca } : {});
    await assertCertificatesValid(record, paths);
  }
  const p = record.ports;
  p.clustermeshEtcdClient ??= await freePort();
  p.clustermeshEtcdPeer ??= await freePort();
  p.clustermeshEtcdMetrics ??= await freePort();
  p.apiserverHealth ??= await freePort();
  const kvstoremesh = opts.kvstoremesh ?? record.clustermesh?.kvstoremesh ?? DEFAULT_KVSTOREMESH;
  if (kvstoremesh) p.kvstoremeshHealth ??= await freePort();
  record.clustermesh = {
    enabled: true,
    kvstoremesh,
    tls,
    serviceExports: opts.serviceExports ?? record.clustermesh?.serviceExports ?? false,
    defaultGlobalNamespace:
      opts.defaultGlobalNamespace ?? record.clustermesh?.defaultGlobalNamespace ?? DEFAULT_GLOBAL_NAMESPACE,
  };
  await writeClusterRecord(paths.record, record);
  if (tls) {
    const admin = userCertFiles(paths, adminUser(record.name));
    const spec = {
      endpoints: [clustermeshEndpoint(record)],
      caFile: caFiles(paths).cert,
      certFile: admin.cert,
      keyFile: admin.key,
    };
    await writeEtcdConfigFile(apiserverEtcdConfigFile(paths), spec);
    await writeEtcdConfigFile(kvstoremeshLocalEtcdConfigFile(paths), spec);
  }
  // KVStoreMesh turned on or off changes where the agents' remote configs point.
  await writeRemoteConfigs(record, paths);
  if (!kvstoremesh) await stopDaemon(pidFile(paths, 'kvstoremesh'));
  await startClustermeshProcesses(record, paths, opts);
  return record;
}

/** Creates the users and roles of wire spec section 7 and enables auth (idempotent). */
async function setupEtcdUsers(record: ClusterRecord, paths: ClusterPaths, steps?: StepOptions): Promise<void> {
  const client = createEtcdClient({ endpoints: [clustermeshEndpoint(record)], tls: adminClientTls(record, paths) });
  try {
    await checkEtcdConnection(client, waitBudget(steps, ETCD_SETUP_TIMEOUT_MS));
    await ensureClustermeshUsers(client, record.name);
  } finally {
    client.close();
  }
}

export async function startClustermeshProcesses(
  record: ClusterRecord,
  paths: ClusterPaths,
  steps?: StepOptions,
): Promise<void> {
  if ((await runningPid(pidFile(paths, 'clustermesh-etcd'))) === undefined) {
    steps?.onStep?.(`starting the clustermesh etcd of cluster ${record.name}`);
    await clustermeshEtcdProcess(record, paths).start();
  }
  if (record.clustermesh?.tls) await setupEtcdUsers(record, paths, steps);
  if ((await runningPid(pidFile(paths, 'apiserver'))) === undefined) {
    steps?.onStep?.(`starting the clustermesh-apiserver of cluster ${record.name}`);
    await startDaemon({
      name: `clustermesh-apiserver of cluster ${record.name}`,
      args: ['apiserver', '--cluster-dir', paths.dir],
      logFile: logFile(paths, 'apiserver'),
      pidFile: pidFile(paths, 'apiserver'),
    });
  }
  if (record.clustermesh?.kvstoremesh) await startKvstoremesh(record, paths, steps);
  steps?.onStep?.(`waiting for the clustermesh-apiserver of cluster ${record.name} to be ready`);
  await waitForHttpOk(
    `http://127.0.0.1:${record.ports.apiserverHealth ?? 0}/readyz`,
    waitBudget(steps, APISERVER_READY_TIMEOUT_MS),
    `clustermesh-apiserver of cluster ${record.name}`,
    logFile(paths, 'apiserver'),
  );
}

async function startKvstoremesh(record: ClusterRecord, paths: ClusterPaths, steps?: StepOptions): Promise<void> {
  if ((await runningPid(pidFile(paths, 'kvstoremesh'))) !== undefined) return;
  steps?.onStep?.(`starting KVStoreMesh of cluster ${record.name}`);
  const dir = kvstoremeshConfigDir(paths);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const port = record.ports.kvstoremeshHealth ?? (await freePort());
  await startDaemon({
    name: `kvstoremesh of cluster ${record.name}`,
    args: [
      'kvstoremesh',
      '--cluster-name',
      record.name,
      '--cluster-id',
      String(record.id),
      '--max-connected-clusters',
      String(record.maxConnectedClusters),
      '--clustermesh-config',
      dir,
      ...(record.clustermesh?.tls
        ? ['--kvstore-config', kvstoremeshLocalEtcdConfigFile(paths)]
        : ['--kvstore', clustermeshEndpoint(record)]),
      '--health-port',
      String(port),
    ],
    logFile: logFile(paths, 'kvstoremesh'),
    pidFile: pidFile(paths, 'kvstoremesh'),
  });
  await waitForHttpOk(
    `http://127.0.0.1:${port}/healthz`,
    waitBudget(steps, KVSTOREMESH_START_TIMEOUT_MS),
    `kvstoremesh of cluster ${record.name}`,
    logFile(paths, 'kvstoremesh'),
  );
}

/**
 * `cmesh clustermesh disable`: stops the apiserver (and kvstoremesh) and the clustermesh etcd and removes its data.
 * The certificates stay, so that enabling again keeps the CA the connected clusters trust.
 */
export async function disableClustermesh(name: string, home = cmeshHome()): Promise<void> {
  const { record, paths } = await loadCluster(name, home);
  for (const role of ['kvstoremesh', 'apiserver']) await stopDaemon(pidFile(paths, role));
  await stopDaemon(pidFile(paths, 'clustermesh-etcd'));
  await rm(paths.clustermeshEtcdData, { recursive: true, force: true });
  delete record.clustermesh;
  await writeClusterRecord(paths.record, record);
  // Without kvstoremesh the agents reach the remotes directly again.
  await writeRemoteConfigs(record, paths);
}
