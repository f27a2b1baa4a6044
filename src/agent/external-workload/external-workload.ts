/**
 * `cmesh agent --external-workload`: the agent of a VM or bare-metal server joined to a cluster. It registers with
 * the cluster's clustermesh-apiserver (external-workload-registration.ts), then runs as an agent of that cluster
 * whose only source is the cluster's clustermesh etcd (external-workload-view.ts): it sees the cluster's nodes,
 * identities, endpoints and global services, and the remote clusters cached there. Its API socket serves the same
 * views as any agent's.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createEtcdClient, loadEtcdConfigFile } from '../../kvstore/client.js';
import { HealthServer } from '../../observe/health-server.js';
import { logger } from '../../observe/logger.js';
import { untilStopSignal } from '../../observe/signals.js';
import { collectProcessMetrics } from '../../observe/metrics.js';
import { canonicalIp, ipFamily, validateLocalCluster } from '../../wire/index.js';
import { Agent } from '../agent.js';
import { AgentApiServer } from '../api/api-server.js';
import { DEFAULT_JOIN_TIMEOUT_MS, DEFAULT_VM_LEASE_TTL_SECONDS, ExternalWorkloadRegistrar } from './registration.js';
import { EmptyClusterSource, JoinedClusterView } from './view.js';

export class ExternalWorkloadConfigError extends Error {
  override name = 'ExternalWorkloadConfigError';
}

export interface ExternalWorkloadRunOptions {
  vmName: string;
  /**
   * The workload's IPv4 address (its InternalIP): data, like a pod IP. A client on this machine that stands for the
   * workload connects from its loopback address (agent/datapath/host-address.ts: 10.a.b.c from 127.a.b.c).
   */
  vmIp: string;
  clusterName: string;
  clusterId: number;
  maxConnectedClusters: number;
  /** Etcd config file (Cilium's format) of the cluster's clustermesh etcd, with the externalworkload certificate. */
  kvstoreConfig: string;
  apiSocket: string;
  /** Where the agent keeps its state (per-remote config files). Default: the API socket's folder. */
  stateDir?: string;
  healthPort?: number;
  joinTimeoutMs?: number;
  leaseTtlSeconds?: number;
}

/** Flags of `cmesh agent` that apply in external-workload mode. */
export interface ExternalWorkloadFlags {
  vmName?: string;
  vmIp?: string;
  clusterName?: string;
  clusterId?: number;
  maxConnectedClusters?: number;
  kvstoreConfig?: string;
  apiSocket?: string;
  healthPort?: number;
  joinTimeout?: string;
  vmLeaseTtl?: number;
}

export function externalWorkloadRunOptions(
  f: ExternalWorkloadFlags,
  parseDuration: (v: string, flag: string) => number,
): ExternalWorkloadRunOptions {
  const missing = [
    ['--vm-name', f.vmName],
    ['--vm-ip', f.vmIp],
    ['--cluster-name', f.clusterName],
    ['--cluster-id', f.clusterId],
    ['--kvstore-config', f.kvstoreConfig],
    ['--api-socket', f.apiSocket],
  ].filter(([, v]) => v === undefined);
  if (missing.length > 0) {
    throw new ExternalWorkloadConfigError(`--external-workload needs ${missing.map(([n]) => n).join(', ')}`);
  }
  const ip = canonicalIp(f.vmIp!);
  if (ip === undefined || ipFamily(ip) !== 4) {
    throw new ExternalWorkloadConfigError(`--vm-ip must be an IPv4 address, got "${f.vmIp!}"`);
  }
  return {
    vmName: f.vmName!,
    vmIp: ip,
    clusterName: f.clusterName!,
    clusterId: f.clusterId!,
    maxConnectedClusters: f.maxConnectedClusters ?? 255,
    kvstoreConfig: f.kvstoreConfig!,
    apiSocket: f.apiSocket!,
    ...(f.healthPort !== undefined ? { healthPort: f.healthPort } : {}),
    ...(f.joinTimeout !== undefined ? { joinTimeoutMs: parseDuration(f.joinTimeout, '--join-timeout') } : {}),
    ...(f.vmLeaseTtl !== undefined ? { leaseTtlSeconds: f.vmLeaseTtl } : {}),
  };
}

/** Registers, then runs the workload's agent until `stopSignal` (or SIGTERM/SIGINT); leaves the cluster on the way out. */
export async function runExternalWorkloadAgent(
  o: ExternalWorkloadRunOptions,
  stopSignal?: Promise<void>,
): Promise<void> {
  const log = logger('external-workload', { node: o.vmName });
  const maxCC = validateLocalCluster(o.clusterName, o.clusterId, o.maxConnectedClusters);
  collectProcessMetrics();
  const kvstore = createEtcdClient(await loadEtcdConfigFile(o.kvstoreConfig));
  const stopped = stopSignal ?? untilStopSignal();
  const registrar = new ExternalWorkloadRegistrar({
    kvstore,
    name: o.vmName,
    clusterName: o.clusterName,
    clusterId: o.clusterId,
    ip: o.vmIp,
    joinTimeoutMs: o.joinTimeoutMs ?? DEFAULT_JOIN_TIMEOUT_MS,
    leaseTtlSeconds: o.leaseTtlSeconds ?? DEFAULT_VM_LEASE_TTL_SECONDS,
  });
  let agent: Agent | undefined;
  let api: AgentApiServer | undefined;
  let health: HealthServer | undefined;
  let view: JoinedClusterView | undefined;
  try {
    const joined = await registrar.join();
    log.info({ identity: joined.NodeIdentity, labels: joined.Labels }, 'registered with the cluster');
    const stateDir = o.stateDir ?? path.dirname(o.apiSocket);
    const configContent = await readFile(o.kvstoreConfig, 'utf8');
    agent = new Agent({
      clusterName: o.clusterName,
      clusterId: o.clusterId,
      maxConnectedClusters: maxCC,
      nodeName: o.vmName,
      source: new EmptyClusterSource(),
      serveFrontends: false,
      sampleServers: false,
      clusterMesh: (sink) =>
        (view = new JoinedClusterView(
          {
            clusterName: o.clusterName,
            clusterId: o.clusterId,
            maxConnectedClusters: maxCC,
            kvstore,
            kvstoreConfigContent: configContent,
            remoteConfigDir: path.join(stateDir, 'clustermesh'),
          },
          sink,
        )),
    });
    view?.bindServices(agent.services);
    api = new AgentApiServer(agent, o.apiSocket);
    agent.start();
    await api.listen();
    if (o.healthPort !== undefined) {
      const a = agent;
      health = new HealthServer({
        healthy: () => true,
        ready: () => a.hasSynced(),
        detail: () => ({ identity: registrar.registration?.NodeIdentity ?? null, ip: o.vmIp }),
      });
      await health.listen(o.healthPort);
    }
    agent.synced().then(
      () => {
        log.info({ status: agent?.status().counts }, 'initial sync complete');
      },
      (err: unknown) => {
        log.warn({ err }, 'initial sync did not complete');
      },
    );
    await stopped;
    log.info('shutting down: leaving the cluster');
  } finally {
    await api?.close();
    await health?.close();
    await agent?.stop();
    await registrar.stop();
    kvstore.close();
  }
}
