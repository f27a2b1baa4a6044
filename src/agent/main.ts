/** `cmesh agent`: runs the agent of one node until SIGTERM/SIGINT (its flags: src/cli/agent-command.ts). */
import path from 'node:path';
import { missingFlagsMessage, resolveClusterFlags } from '../k8s/cluster-flags.js';
import { LocalClusterSource } from '../k8s/local-source.js';
import { createEtcdClient } from '../kvstore/client.js';
import { HealthServer } from '../observe/health-server.js';
import { logger } from '../observe/logger.js';
import { untilStopSignal } from '../observe/signals.js';
import { collectProcessMetrics } from '../observe/metrics.js';
import { DEFAULT_MAX_CONNECTED_CLUSTERS, validateLocalCluster } from '../wire/index.js';
import { Agent } from './agent.js';
import { AgentApiServer } from './api/api-server.js';
import type { LbAlgorithm } from './datapath/backend-selector.js';
import { parseDuration } from '../observe/duration.js';
import { ClusterMesh } from './remote/cluster-mesh.js';
import { AGENT_SOCKET_NAME } from './defaults.js';

export { DEFAULT_SYNC_TIMEOUT, DEFAULT_CACHE_TTL, AGENT_SOCKET_NAME, LB_ALGORITHMS } from './defaults.js';

export class AgentConfigError extends Error {
  override name = 'AgentConfigError';
}

export interface AgentRunOptions {
  clusterName: string;
  clusterId: number;
  maxConnectedClusters: number;
  nodeName: string;
  stateEtcd: string;
  /** Remote-cluster config directory; none = no ClusterMesh. */
  clustermeshConfig?: string;
  apiSocket: string;
  /** /healthz, /readyz and /metrics on 127.0.0.1; undefined = not served. */
  healthPort?: number;
  cacheTtlMs: number;
  syncTimeoutMs: number;
  policyDefaultLocalCluster: boolean;
  lbAlgorithm: LbAlgorithm;
  /** Frontends get sockets only inside 127.0.0.0/8. */
  serviceCidr?: string;
  /** Undefined: only the cluster's first node serves the loopback frontends. */
  serveFrontends?: boolean;
}

/** Where a local cluster's agent of `node` serves its API. */
export function localAgentSocket(clusterDir: string, node: string): string {
  return path.join(clusterDir, 'nodes', node, AGENT_SOCKET_NAME);
}

export async function runAgent(o: AgentRunOptions, stopSignal?: Promise<void>): Promise<void> {
  const log = logger('agent', { node: o.nodeName });
  const maxCC = validateLocalCluster(o.clusterName, o.clusterId, o.maxConnectedClusters);
  collectProcessMetrics();
  const state = createEtcdClient({ endpoints: [o.stateEtcd] });
  const source = new LocalClusterSource(state);
  const configDir = o.clustermeshConfig;
  const agent = new Agent({
    clusterName: o.clusterName,
    clusterId: o.clusterId,
    maxConnectedClusters: maxCC,
    nodeName: o.nodeName,
    source,
    policyDefaultLocalCluster: o.policyDefaultLocalCluster,
    lbAlgorithm: o.lbAlgorithm,
    ...(o.serviceCidr !== undefined ? { serviceCidr: o.serviceCidr } : {}),
    ...(o.serveFrontends !== undefined ? { serveFrontends: o.serveFrontends } : {}),
    ...(configDir
      ? {
          clusterMesh: (sink) =>
            new ClusterMesh(
              {
                localClusterName: o.clusterName,
                localClusterId: o.clusterId,
                localMaxConnectedClusters: maxCC,
                configDir,
                sink,
                cacheTtlMs: o.cacheTtlMs,
                syncTimeoutMs: o.syncTimeoutMs,
              },
              // Metric labels name this node, as Cilium's source_node_name does.
              { nodeName: o.nodeName },
            ),
        }
      : {}),
  });
  const api = new AgentApiServer(agent, o.apiSocket);
  const health =
    o.healthPort === undefined
      ? undefined
      : new HealthServer({
          healthy: () => true,
          ready: () => agent.hasSynced(),
          detail: () => ({ localSync: agent.status().localSync }),
        });
  const stopped = stopSignal ?? untilStopSignal();
  try {
    agent.start();
    await api.listen();
    if (health && o.healthPort !== undefined) {
      const port = await health.listen(o.healthPort);
      log.info({ healthPort: port }, 'serving /healthz, /readyz and /metrics');
    }
    agent.synced().then(
      () => {
        log.info({ status: agent.status().counts }, 'initial sync complete');
      },
      (err: unknown) => {
        log.warn({ err }, 'initial sync did not complete');
      },
    );
    await stopped;
    log.info('shutting down');
  } finally {
    await api.close();
    await health?.close();
    await agent.stop();
    await source.close();
    state.close();
  }
}

/** The flags of `cmesh agent`, as commander parses them. */
export interface AgentFlags {
  clusterDir?: string;
  clusterName?: string;
  clusterId?: number;
  node?: string;
  clustermeshConfig?: string;
  stateEtcd?: string;
  maxConnectedClusters?: number;
  apiSocket?: string;
  healthPort?: number;
  clustermeshCacheTtl: string;
  clustermeshSyncTimeout: string;
  policyDefaultLocalCluster?: boolean;
  lbAlgorithm?: LbAlgorithm;
  serviceCidr?: string;
  serveFrontends?: boolean;
}

/** Resolves the flags (and, with --cluster-dir, the local cluster's record) into run options. */
export async function agentRunOptions(opts: AgentFlags): Promise<AgentRunOptions> {
  const { name, id, maxConnectedClusters: maxCC, record: rec } = await resolveClusterFlags(opts);
  let stateUrl = opts.stateEtcd;
  let configDir = opts.clustermeshConfig;
  let socket = opts.apiSocket;
  let serviceCidr = opts.serviceCidr;
  const node = opts.node;
  if (opts.clusterDir && rec) {
    serviceCidr ??= rec.serviceCidr;
    stateUrl ??= `http://127.0.0.1:${rec.ports.stateEtcdClient}`;
    configDir ??= path.join(opts.clusterDir, 'clustermesh');
    if (node) socket ??= localAgentSocket(opts.clusterDir, node);
  }
  if (name === undefined || id === undefined || node === undefined || stateUrl === undefined || socket === undefined) {
    const missing = missingFlagsMessage(
      [
        ['--cluster-name', name],
        ['--cluster-id', id],
        ['--node', node],
        ['--state-etcd', stateUrl],
        ['--api-socket', socket],
      ],
      'pass --cluster-dir of a local cluster with --node',
    );
    throw new AgentConfigError(missing ?? 'incomplete agent settings');
  }
  return {
    clusterName: name,
    clusterId: id,
    maxConnectedClusters: maxCC ?? DEFAULT_MAX_CONNECTED_CLUSTERS,
    nodeName: node,
    stateEtcd: stateUrl,
    ...(configDir ? { clustermeshConfig: configDir } : {}),
    apiSocket: socket,
    ...(opts.healthPort !== undefined ? { healthPort: opts.healthPort } : {}),
    cacheTtlMs: parseDuration(opts.clustermeshCacheTtl, '--clustermesh-cache-ttl'),
    syncTimeoutMs: parseDuration(opts.clustermeshSyncTimeout, '--clustermesh-sync-timeout'),
    policyDefaultLocalCluster: opts.policyDefaultLocalCluster ?? true,
    lbAlgorithm: opts.lbAlgorithm ?? 'maglev',
    ...(serviceCidr !== undefined ? { serviceCidr } : {}),
    ...(opts.serveFrontends !== undefined ? { serveFrontends: opts.serveFrontends } : {}),
  };
}
