/** `cmesh agent`: runs the agent of one node until SIGTERM/SIGINT. */
import path from 'node:path';
import { Command, Option } from '@commander-js/extra-typings';
import { missingFlagsMessage, resolveClusterFlags } from '../k8s/cluster-flags.js';
import { boolFlag, intFlag } from '../observe/flag-values.js';
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
import { externalWorkloadRunOptions, runExternalWorkloadAgent } from './external-workload/external-workload.js';
import { ClusterMesh } from './remote/cluster-mesh.js';

export const DEFAULT_SYNC_TIMEOUT = '1m';
export const DEFAULT_CACHE_TTL = '0';
export const AGENT_SOCKET_NAME = 'agent.sock';

export class AgentConfigError extends Error {
  override name = 'AgentConfigError';
}

export const LB_ALGORITHMS = ['maglev', 'random'] as const;

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

export function agentCommand() {
  return (
    new Command('agent')
      .description(
        "run the agent of one node: merge the local cluster's state with every remote cluster's into ipcache,\n" +
          'identities, nodes and load-balancing tables, and serve them on a local API socket',
      )
      .option('--cluster-dir <dir>', 'a local cluster folder: takes cluster, state etcd, config dir and socket from it')
      .option('--cluster-name <name>', "this cluster's name")
      .option('--cluster-id <id>', "this cluster's ID", intFlag('--cluster-id'))
      .option('--node <name>', "this node's name")
      .option('--clustermesh-config <dir>', 'remote-cluster config directory (one etcd config file per remote)')
      .addOption(
        new Option('--source <type>', 'where the local cluster state comes from')
          .choices(['local'] as const)
          .default('local' as const),
      )
      .option('--state-etcd <url>', "the state etcd holding the cluster's objects (local source)")
      .option('--max-connected-clusters <n>', '255 or 511', intFlag('--max-connected-clusters'))
      .option('--api-socket <path>', 'unix socket of the local API')
      .option(
        '--health-port <port>',
        '/healthz, /readyz and /metrics on 127.0.0.1:<port> (0 = any free port)',
        intFlag('--health-port'),
      )
      .option(
        '--clustermesh-cache-ttl <duration>',
        "how long to keep a disconnected remote's state (0 = until it returns)",
        DEFAULT_CACHE_TTL,
      )
      .option(
        '--clustermesh-sync-timeout <duration>',
        "how long startup waits for each remote's initial sync",
        DEFAULT_SYNC_TIMEOUT,
      )
      .option(
        '--policy-default-local-cluster <bool>',
        'peer selectors without a cluster label select only this cluster (true | false; default true)',
        boolFlag('--policy-default-local-cluster'),
      )
      .addOption(
        new Option('--lb-algorithm <algorithm>', 'how the service proxy picks a backend').choices(LB_ALGORITHMS),
      )
      .option(
        '--service-cidr <cidr>',
        "the cluster's service CIDR; inside 127.0.0.0/8 its frontends become real sockets (default: from --cluster-dir)",
      )
      .option(
        '--serve-frontends <bool>',
        "listen on the cluster's loopback frontends (default: only on the cluster's first node, <cluster>-node-1;\n" +
          'a frontend can be bound by one process, and clusters on one host need distinct loopback service CIDRs)',
        boolFlag('--serve-frontends'),
      )
      // External workloads (VMs): see external-workload.ts.
      .option('--external-workload', 'run as the agent of a VM or bare-metal server joined to a cluster', false)
      .option('--vm-name <name>', 'external workload: its name (a CiliumExternalWorkload of the cluster)')
      .option('--vm-ip <ip>', 'external workload: its IPv4 address')
      .option('--kvstore-config <file>', "external workload: etcd config file of the cluster's clustermesh etcd")
      .option('--join-timeout <duration>', 'external workload: how long to wait for the registration answer')
      .option('--vm-lease-ttl <seconds>', 'external workload: TTL of its registration lease', intFlag('--vm-lease-ttl'))
      .action(async (opts) => {
        if (opts.externalWorkload) {
          await runExternalWorkloadAgent(externalWorkloadRunOptions(opts, parseDuration));
          return;
        }
        await runAgent(await agentRunOptions(opts));
      })
  );
}
