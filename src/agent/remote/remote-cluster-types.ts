/**
 * The contract between the agent's two halves: the remote-cluster side (config directory, one RemoteCluster per
 * remote, validation of everything received) and the tables side (ipcache, identities, nodes, services merged with
 * the local cluster). The remote side calls a RemoteClusterSink; the tables implement it.
 */
import type { RemoteLinkStatus } from '../../kvstore/remote/index.js';
import type { ClusterService, IPIdentityPair, Label, Node } from '../../wire/index.js';

/**
 * What the remote side feeds into the tables. Every value is already validated against the remote it came from
 * (wire spec section 4); ipcache entries are normalized (host identity 1 arrives as 6, remote-node). Calls for one
 * remote arrive in order.
 */
export interface RemoteClusterSink {
  upsertNode(cluster: string, node: Node): void;
  deleteNode(cluster: string, name: string): void;
  upsertService(cluster: string, svc: ClusterService): void;
  deleteService(cluster: string, namespace: string, name: string): void;
  /** `key` is the ipcache key suffix: the IP, or `ip/len` for CIDR entries. */
  upsertIpcache(cluster: string, key: string, entry: IPIdentityPair): void;
  deleteIpcache(cluster: string, key: string): void;
  upsertIdentity(cluster: string, id: number, labels: readonly Label[]): void;
  deleteIdentity(cluster: string, id: number): void;
  /**
   * The connection to the remote was lost (stream error, stale heartbeat) or restored. While unreachable, the
   * remote's backends stay in the tables but are not selected; recovery is then instant.
   */
  setReachable(cluster: string, reachable: boolean): void;
  /** The remote's cluster config was validated: its cluster ID, known before any entry carries it. */
  setClusterId(cluster: string, id: number): void;
}

/**
 * Like Cilium's ClusterMesh status of one remote (`cilium-dbg status --all-clusters`): the shared remote-cluster
 * status and what the agent's tables hold of the remote.
 */
export interface RemoteClusterStatus extends RemoteLinkStatus {
  numNodes: number;
  numEndpoints: number;
  numIdentities: number;
  numSharedServices: number;
  synced: {
    nodes: boolean;
    services: boolean;
    serviceExports: boolean | null;
    identities: boolean;
    endpoints: boolean;
  };
  /** Entries skipped because they failed validation. */
  invalidEntries: number;
}

export interface ClusterMeshOptions {
  localClusterName: string;
  localClusterId: number;
  localMaxConnectedClusters: 255 | 511;
  /** Cilium's format: one etcd config file per remote, named after it; changes are followed at run time. */
  configDir: string;
  sink: RemoteClusterSink;
  /** 0 = keep a disconnected remote's entries until it comes back; otherwise revoke them after this long. */
  cacheTtlMs?: number;
  /** Bounds the wait for a remote's initial sync in synced(). */
  syncTimeoutMs?: number;
  /** Heartbeat older than this marks the connection stale (default 2 min). */
  heartbeatStaleMs?: number;
}

/** The remote side as the agent's main uses it. */
export interface ClusterMeshHandle {
  start(): void;
  /** Resolves when every remote known at call time is ready or its sync timeout expired. */
  synced(): Promise<void>;
  status(): RemoteClusterStatus[];
  stop(): Promise<void>;
}
