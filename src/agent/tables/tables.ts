/**
 * The agent's in-memory state, one table per kind, and the RemoteClusterSink the remote side feeds. Local ingestion
 * goes to the tables directly (local-state.ts); remote updates arrive through this class, which also learns each
 * remote's cluster ID from what it sends.
 */
import type { ClusterService, IPIdentityPair, Label, MaxConnectedClusters, Node } from '../../wire/index.js';
import { ClusterDirectory } from './cluster-directory.js';
import { IdentityCache, type IdentityView } from './identity-cache.js';
import { Ipcache } from './ipcache.js';
import { NodeTable } from './node-table.js';
import type { RemoteClusterSink } from '../remote/remote-cluster-types.js';
import type { MergedService } from './service-merger.js';
import { ServiceTable } from './service-table.js';

export interface AgentTablesOptions {
  clusterName: string;
  clusterId: number;
  maxConnectedClusters: MaxConnectedClusters;
  onServiceChange?: (ref: string, svc: MergedService | undefined) => void;
  /** After the number of global services (shared by at least one remote) changed. */
  onGlobalServiceCount?: (count: number) => void;
  /** After any change to an identity (local or remote): the policy engine follows the cache through it. */
  onIdentityChange?: (id: number, identity: IdentityView | undefined) => void;
}

export class AgentTables implements RemoteClusterSink {
  readonly clusters: ClusterDirectory;
  readonly ipcache: Ipcache;
  readonly identities: IdentityCache;
  readonly nodes: NodeTable;
  readonly services: ServiceTable;

  constructor(private readonly opts: AgentTablesOptions) {
    this.clusters = new ClusterDirectory(opts.clusterName, opts.clusterId, opts.maxConnectedClusters);
    this.ipcache = new Ipcache(this.clusters);
    this.identities = new IdentityCache(this.clusters);
    this.nodes = new NodeTable(opts.clusterName);
    this.services = new ServiceTable({
      clusterName: opts.clusterName,
      clusterId: opts.clusterId,
      ...(opts.onServiceChange ? { onChange: opts.onServiceChange } : {}),
      ...(opts.onGlobalServiceCount ? { onGlobalServiceCount: opts.onGlobalServiceCount } : {}),
    });
  }

  upsertNode(cluster: string, node: Node): void {
    this.clusters.learn(cluster, node.ClusterID);
    this.nodes.upsert(node);
  }

  deleteNode(cluster: string, name: string): void {
    this.nodes.delete(cluster, name);
  }

  upsertService(cluster: string, svc: ClusterService): void {
    this.clusters.learn(cluster, svc.clusterID);
    this.services.upsertRemoteService(cluster, svc);
  }

  deleteService(cluster: string, namespace: string, name: string): void {
    this.services.deleteRemoteService(cluster, namespace, name);
  }

  upsertIpcache(cluster: string, key: string, entry: IPIdentityPair): void {
    this.ipcache.upsertRemote(cluster, key, entry);
  }

  deleteIpcache(cluster: string, key: string): void {
    this.ipcache.deleteRemote(cluster, key);
  }

  upsertIdentity(cluster: string, id: number, labels: readonly Label[]): void {
    this.identities.upsertRemote(cluster, id, labels);
    this.identityChanged(id);
  }

  deleteIdentity(cluster: string, id: number): void {
    this.identities.deleteRemote(cluster, id);
    this.identityChanged(id);
  }

  upsertLocalIdentity(id: number, labels: readonly Label[]): void {
    this.identities.upsertLocal(id, labels);
    this.identityChanged(id);
  }

  deleteLocalIdentity(id: number): void {
    this.identities.deleteLocal(id);
    this.identityChanged(id);
  }

  /** Reports what the cache now holds for `id` (another claimant may have taken over). */
  private identityChanged(id: number): void {
    this.opts.onIdentityChange?.(id, this.identities.get(id));
  }

  setReachable(cluster: string, reachable: boolean): void {
    this.services.setReachable(cluster, reachable);
  }

  setClusterId(cluster: string, id: number): void {
    this.clusters.learn(cluster, id);
  }
}
