/**
 * The agent of one node: its tables (ipcache, identities, nodes, services), fed by the local cluster's state and
 * by the remote-cluster side, which it creates through a factory so that tests can plug in their own; the policy
 * engine following them; and the userspace datapath: the service proxy on loopback frontends (served by one agent
 * per cluster), the node's tunnel listener (ingress enforcement for this node's endpoints), and sample servers.
 */
import type { ClusterSource } from '../k8s/source.js';
import type { CiliumNode } from '../k8s/types.js';
import { logger } from '../observe/logger.js';
import type { MaxConnectedClusters, Node } from '../wire/index.js';
import type {
  AgentApiSource,
  AgentStatus,
  DatapathView,
  LbEntry,
  PolicyOverview,
  ServiceListEntry,
} from './api/api-types.js';
import { hostAddress } from './datapath/host-address.js';
import { isLoopbackCidr, isLoopbackV4 } from './datapath/loopback.js';
import { ServiceProxy } from './datapath/service-proxy.js';
import type { LbAlgorithm } from './datapath/backend-selector.js';
import { TUNNEL_PORT, TunnelListener } from './datapath/tunnel.js';
import { LocalState, type EndpointView } from './local-state.js';
import { PolicyEngine, type EndpointPolicyView } from './policy/engine.js';
import { ipcachePodLocator, tracePolicy, type TraceRequest, type TraceResult } from './policy/trace.js';
import { SampleServers } from './sample-servers.js';
import { globalServicesGauge } from './metrics.js';
import type { ClusterMeshHandle, RemoteClusterSink, RemoteClusterStatus } from './remote/remote-cluster-types.js';
import { AgentTables } from './tables/tables.js';
import { lbView, RevNatIds, serviceListView } from './api/views.js';

export interface AgentOptions {
  clusterName: string;
  clusterId: number;
  maxConnectedClusters?: MaxConnectedClusters;
  nodeName: string;
  source: ClusterSource;
  /** Builds the remote-cluster side around the agent's sink; none = no ClusterMesh. */
  clusterMesh?: (sink: RemoteClusterSink) => ClusterMeshHandle;
  /** Cilium's --policy-default-local-cluster (default true). */
  policyDefaultLocalCluster?: boolean;
  /** Backend selection of the service proxy (default maglev). */
  lbAlgorithm?: LbAlgorithm;
  /** The cluster's service CIDR: frontends get sockets only when it is inside 127.0.0.0/8. */
  serviceCidr?: string;
  /**
   * Whether this agent listens on the cluster's loopback frontends. Several agents share one host and a frontend
   * can be bound once, so by default only the cluster's first node (`<cluster>-node-1`) does.
   */
  serveFrontends?: boolean;
  /** The port of every node's tunnel (default TUNNEL_PORT; tests only). */
  tunnelPort?: number;
  /** Run sample servers for this node's annotated pods (default true). */
  sampleServers?: boolean;
}

/**
 * Where a node's tunnel listens (a loopback address): its InternalIP if loopback, else the loopback address of its
 * CiliumInternalIP. The CiliumInternalIP is the router address carved from the node's pod CIDR, so it maps like a
 * pod IP (10.a.b.c -> 127.a.b.c); the InternalIP is a node address and is used only as it is (local clusters give
 * nodes 172.16.0.0/12 addresses, which are data).
 */
export function tunnelAddressOf(
  addresses: readonly { type: string; ip: string }[] | null | undefined,
): string | undefined {
  const list = addresses ?? [];
  const internal = list.find((x) => x.type === 'InternalIP' && isLoopbackV4(x.ip));
  if (internal) return internal.ip;
  for (const x of list) {
    const host = x.type === 'CiliumInternalIP' ? hostAddress(x.ip) : undefined;
    if (host !== undefined) return host;
  }
  return undefined;
}

function nodeAddresses(n: Node): { type: string; ip: string }[] {
  return (n.IPAddresses ?? []).map((a) => ({ type: a.Type, ip: a.IP }));
}

const log = logger('agent');

export class AgentStoppedError extends Error {
  override name = 'AgentStoppedError';
}

export class Agent implements AgentApiSource {
  readonly tables: AgentTables;
  readonly policy: PolicyEngine;
  readonly proxy: ServiceProxy;
  private readonly local: LocalState;
  private readonly samples: SampleServers | undefined;
  private tunnel: TunnelListener | undefined;
  /** Serializes tunnel listener restarts (the node's address may change). */
  private tunnelChain: Promise<void> = Promise.resolve();
  private readonly mesh: ClusterMeshHandle | undefined;
  private readonly revNat = new RevNatIds();
  private readonly startedAt = new Date();
  private readonly maxConnectedClusters: MaxConnectedClusters;
  private state: 'new' | 'running' | 'stopped' = 'new';
  private isSynced = false;

  constructor(private readonly opts: AgentOptions) {
    this.maxConnectedClusters = opts.maxConnectedClusters ?? 255;
    this.policy = new PolicyEngine({
      clusterName: opts.clusterName,
      defaultLocalCluster: opts.policyDefaultLocalCluster ?? true,
    });
    this.tables = new AgentTables({
      clusterName: opts.clusterName,
      clusterId: opts.clusterId,
      maxConnectedClusters: this.maxConnectedClusters,
      onServiceChange: (ref, svc) => {
        this.proxy.onServiceChange(ref, svc);
      },
      onGlobalServiceCount: () => {
        if (this.state === 'running') this.updateGlobalServices();
      },
      onIdentityChange: (id, identity) => {
        if (identity) this.policy.upsertIdentity(id, identity.labels);
        else this.policy.deleteIdentity(id);
      },
    });
    const serve = opts.serveFrontends ?? opts.nodeName === `${opts.clusterName}-node-1`;
    this.proxy = new ServiceProxy({
      clusterName: opts.clusterName,
      ipcache: this.tables.ipcache,
      policy: this.policy,
      algorithm: opts.lbAlgorithm ?? 'maglev',
      listen: serve && opts.serviceCidr !== undefined && isLoopbackCidr(opts.serviceCidr),
      tunnel: {
        route: (ip) => this.tunnelRoute(ip),
        port: opts.tunnelPort ?? TUNNEL_PORT,
      },
    });
    this.local = new LocalState({
      source: opts.source,
      tables: this.tables,
      clusterName: opts.clusterName,
      clusterId: opts.clusterId,
      policy: this.policy,
      onNode: (name, cn) => {
        if (name === opts.nodeName) this.onOwnNode(cn);
      },
    });
    this.samples =
      opts.sampleServers === false
        ? undefined
        : new SampleServers({
            source: opts.source,
            clusterName: opts.clusterName,
            nodeName: opts.nodeName,
            peerAddress: (socketAddress) => this.proxy.podAddressOf(socketAddress),
          });
    this.mesh = opts.clusterMesh?.(this.tables);
  }

  get ipcache(): AgentTables['ipcache'] {
    return this.tables.ipcache;
  }

  get identities(): AgentTables['identities'] {
    return this.tables.identities;
  }

  get nodes(): AgentTables['nodes'] {
    return this.tables.nodes;
  }

  get services(): AgentTables['services'] {
    return this.tables.services;
  }

  /** Starts the local informers and the remote side; returns at once (see synced()). */
  start(): void {
    if (this.state === 'stopped') throw new AgentStoppedError('the agent was stopped; create a new one');
    if (this.state === 'running') return;
    this.state = 'running';
    this.updateGlobalServices();
    this.local.start();
    this.samples?.start();
    this.mesh?.start();
  }

  // ---- datapath ----

  /** This node's addresses (from its CiliumNode in the node table). */
  private ownAddresses(): { type: string; ip: string }[] {
    const n = this.tables.nodes.get(this.opts.clusterName, this.opts.nodeName);
    return n ? nodeAddresses(n) : [];
  }

  /**
   * The tunnel address of the node hosting `ip`, or undefined to connect directly: an endpoint of this node, an
   * address the ipcache does not place on a node, or a node without a loopback tunnel address.
   */
  tunnelRoute(ip: string): string | undefined {
    const e = this.tables.ipcache.lookup(ip);
    if (!e?.pod || !e.hostIP) return undefined;
    if (e.source === 'local' && this.ownAddresses().some((a) => a.ip === e.hostIP)) return undefined;
    if (isLoopbackV4(e.hostIP)) return e.hostIP;
    const node = this.tables.nodes.list(e.cluster).find((n) => (n.IPAddresses ?? []).some((a) => a.IP === e.hostIP));
    const via = node ? tunnelAddressOf(nodeAddresses(node)) : undefined;
    return via === this.tunnel?.address ? undefined : via;
  }

  private onOwnNode(cn: CiliumNode | undefined): void {
    const want = cn ? tunnelAddressOf(cn.spec?.addresses) : undefined;
    this.tunnelChain = this.tunnelChain.then(async () => {
      if (this.state !== 'running' || want === this.tunnel?.address) return;
      await this.tunnel?.close();
      this.tunnel = undefined;
      if (want === undefined) return;
      const t = new TunnelListener({
        address: want,
        port: this.opts.tunnelPort ?? TUNNEL_PORT,
        policy: this.policy,
      });
      this.tunnel = t;
      await t.listen().catch((err: unknown) => {
        log.warn({ err, address: want }, 'cannot open the node tunnel: ingress from other nodes is refused');
      });
    });
  }

  /** Resolves when the listeners opened so far (frontends, tunnel, sample servers) are up or failed. */
  async datapathReady(): Promise<void> {
    await this.tunnelChain;
    await this.proxy.ready();
    await this.samples?.settled();
  }

  datapath(): DatapathView {
    return {
      listeners: this.proxy.listeners(),
      counters: this.proxy.counters(),
      tunnel: this.tunnel ? { ...this.tunnel.status(), counters: this.tunnel.counters() } : null,
      sampleServers: this.samples?.list() ?? [],
    };
  }

  // ---- policy ----

  policyOverview(): PolicyOverview {
    return {
      policies: this.policy.policies(),
      errors: this.local.policyImportErrors(),
      endpoints: this.policy.endpointIds(),
      stats: this.policy.stats(),
    };
  }

  endpointPolicy(id: string): EndpointPolicyView {
    return this.policy.endpointPolicy(id);
  }

  tracePolicy(req: TraceRequest): TraceResult {
    return tracePolicy(this.policy, ipcachePodLocator(this.tables.ipcache), req);
  }

  /**
   * Resolves when the local state is listed and every remote known now is ready (or its sync timeout expired),
   * as Cilium waits before it regenerates its datapath state.
   */
  async synced(): Promise<void> {
    if (this.state !== 'running')
      throw new AgentStoppedError(`the agent is ${this.state === 'new' ? 'not started' : 'stopped'}`);
    await this.local.synced();
    await this.mesh?.synced();
    this.isSynced = true;
  }

  hasSynced(): boolean {
    return this.isSynced;
  }

  remoteClusters(): RemoteClusterStatus[] {
    return this.mesh?.status() ?? [];
  }

  endpoints(): EndpointView[] {
    return this.local.endpoints();
  }

  serviceList(): ServiceListEntry[] {
    return serviceListView(this.tables.services.list());
  }

  lbList(): LbEntry[] {
    return lbView(this.tables.services.list(), this.revNat);
  }

  status(): AgentStatus {
    const remotes = this.remoteClusters();
    const services = this.tables.services.list();
    return {
      cluster: {
        name: this.opts.clusterName,
        id: this.opts.clusterId,
        maxConnectedClusters: this.maxConnectedClusters,
      },
      node: this.opts.nodeName,
      startedAt: this.startedAt.toISOString(),
      synced: this.isSynced,
      localSync: this.local.syncStatus(),
      counts: {
        services: services.length,
        frontends: services.reduce((n, s) => n + s.frontends.length, 0),
        ipcache: this.tables.ipcache.size,
        identities: this.tables.identities.size,
        nodes: this.tables.nodes.size,
        endpoints: this.local.endpoints().length,
      },
      clusterMesh: {
        enabled: this.mesh !== undefined,
        globalServices: this.tables.services.globalServiceCount(),
        numRemotes: remotes.length,
        numReady: remotes.filter((r) => r.ready).length,
        remotes,
      },
    };
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    const wasRunning = this.state === 'running';
    this.state = 'stopped';
    if (!wasRunning) return;
    await this.mesh?.stop();
    await this.samples?.stop();
    await this.local.stop();
    await this.tunnelChain;
    await this.tunnel?.close();
    this.tunnel = undefined;
    await this.proxy.close();
    globalServicesGauge().remove({ source_cluster: this.opts.clusterName, source_node_name: this.opts.nodeName });
  }

  private updateGlobalServices(): void {
    globalServicesGauge().set(
      { source_cluster: this.opts.clusterName, source_node_name: this.opts.nodeName },
      this.tables.services.globalServiceCount(),
    );
  }
}
