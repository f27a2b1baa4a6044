/**
 * The agent of one node: its tables (ipcache, identities, nodes, services), fed by the local cluster's state and
 * by the remote-cluster side, which it creates through a factory so that tests can plug in their own.
 */
import type { ClusterSource } from '../k8s/source.js';
import type { ClusterService, MaxConnectedClusters } from '../wire/index.js';
import type { AgentStatus, LbEntry, ServiceListEntry } from './api-types.js';
import { LocalState, type EndpointView } from './local-state.js';
import { globalServicesGauge } from './metrics.js';
import type { ClusterMeshHandle, RemoteClusterSink, RemoteClusterStatus } from './remote-cluster-types.js';
import { AgentTables } from './tables.js';
import { lbView, RevNatIds, serviceListView } from './views.js';

export interface AgentOptions {
  clusterName: string;
  clusterId: number;
  maxConnectedClusters?: MaxConnectedClusters;
  nodeName: string;
  source: ClusterSource;
  /** Builds the remote-cluster side around the agent's sink; none = no ClusterMesh. */
  clusterMesh?: (sink: RemoteClusterSink) => ClusterMeshHandle;
}

export class AgentStoppedError extends Error {
  override name = 'AgentStoppedError';
}

export class Agent {
  readonly tables: AgentTables;
  private readonly local: LocalState;
  private readonly mesh: ClusterMeshHandle | undefined;
  private readonly revNat = new RevNatIds();
  private readonly startedAt = new Date();
  private readonly maxConnectedClusters: MaxConnectedClusters;
  private state: 'new' | 'running' | 'stopped' = 'new';
  private isSynced = false;

  constructor(private readonly opts: AgentOptions) {
    this.maxConnectedClusters = opts.maxConnectedClusters ?? 255;
    this.tables = new AgentTables({
      clusterName: opts.clusterName,
      clusterId: opts.clusterId,
      maxConnectedClusters: this.maxConnectedClusters,
    });
    this.local = new LocalState({
      source: opts.source,
      tables: this.tables,
      clusterName: opts.clusterName,
      clusterId: opts.clusterId,
    });
    this.mesh = opts.clusterMesh?.(this.meteredSink());
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
    this.mesh?.start();
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
    const list = this.mesh?.status() ?? [];
    for (const r of list) if (r.config) this.tables.clusters.learn(r.name, r.config.clusterID);
    return list;
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
    await this.local.stop();
    globalServicesGauge().remove({ source_cluster: this.opts.clusterName, source_node_name: this.opts.nodeName });
  }

  private updateGlobalServices(): void {
    globalServicesGauge().set(
      { source_cluster: this.opts.clusterName, source_node_name: this.opts.nodeName },
      this.tables.services.globalServiceCount(),
    );
  }

  /** The tables' sink, keeping the global services gauge current. */
  private meteredSink(): RemoteClusterSink {
    const t = this.tables;
    return {
      upsertNode: (c, n) => {
        t.upsertNode(c, n);
      },
      deleteNode: (c, n) => {
        t.deleteNode(c, n);
      },
      upsertService: (c: string, svc: ClusterService) => {
        t.upsertService(c, svc);
        this.updateGlobalServices();
      },
      deleteService: (c, ns, n) => {
        t.deleteService(c, ns, n);
        this.updateGlobalServices();
      },
      upsertIpcache: (c, k, e) => {
        t.upsertIpcache(c, k, e);
      },
      deleteIpcache: (c, k) => {
        t.deleteIpcache(c, k);
      },
      upsertIdentity: (c, id, l) => {
        t.upsertIdentity(c, id, l);
      },
      deleteIdentity: (c, id) => {
        t.deleteIdentity(c, id);
      },
      setReachable: (c, r) => {
        t.setReachable(c, r);
      },
    };
  }
}
