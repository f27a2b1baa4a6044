import { toError } from '../../kvstore/index.js';
import {
  RemoteClusterLink,
  defaultRemoteClusterTuning,
  type LinkStateListener,
  type RemoteClusterHandler,
  type RemoteLinkState,
  type RemoteClusterMeshView,
  type RemoteClusterTuning,
  type RemoteSessionWork,
} from '../../kvstore/remote/index.js';
import {
  type ClusterConfig,
  type MaxConnectedClusters,
  type MeshResource,
  type RemoteClusterIdentity,
} from '../../wire/index.js';
import type { RemoteClusterSink, RemoteClusterStatus } from './remote-cluster-types.js';
import {
  forgetRemoteClusterMetrics,
  remoteClusterCacheRevocations,
  remoteClusterFailures,
  remoteClusterInvalidEntries,
  remoteClusterLastFailureTs,
  remoteClusterNodes,
  remoteClusterReadiness,
  remoteClusterStateTransitions,
  type RemoteMetricLabels,
} from './metrics.js';
import { RemoteStores } from './remote-stores.js';

export interface RemoteClusterOptions {
  name: string;
  configFile: string;
  mesh: RemoteClusterMeshView;
  sink: RemoteClusterSink;
  /** 0: keep a disconnected remote's entries until it comes back; otherwise revoke them after this long. */
  cacheTtlMs?: number;
  tuning?: Partial<RemoteClusterTuning>;
}

/**
 * The agent's side of one remote cluster: the shared connection lifecycle (RemoteClusterLink) reading through
 * validating stores into the sink. Entries stay in the sink across reconnects (marked unreachable) and are
 * reconciled by the next session's re-list; they are drained when the remote is removed, changes its cluster
 * ID, or stays away longer than the cache TTL.
 */
export class RemoteCluster implements RemoteClusterHandler {
  readonly name: string;
  private readonly sink: RemoteClusterSink;
  private readonly cacheTtlMs: number;
  private readonly labels: RemoteMetricLabels;
  private readonly link: RemoteClusterLink;

  private stores: RemoteStores | undefined;
  private identity: RemoteClusterIdentity | undefined;
  /** The ID of the config whose data the stores hold; a different one on reconnect drains them first. */
  private heldId: number | undefined;
  private invalid = 0;
  private revocations = 0;
  private reachable: boolean | undefined;
  private ttlTimer: NodeJS.Timeout | undefined;
  private readonly localMaxConnectedClusters: MaxConnectedClusters;

  constructor(opts: RemoteClusterOptions) {
    this.name = opts.name;
    this.sink = opts.sink;
    this.cacheTtlMs = opts.cacheTtlMs ?? 0;
    this.localMaxConnectedClusters = opts.mesh.localMaxConnectedClusters;
    const nodeName = opts.tuning?.nodeName ?? defaultRemoteClusterTuning().nodeName;
    this.labels = { source_cluster: opts.mesh.localClusterName, source_node_name: nodeName, target_cluster: this.name };
    remoteClusterFailures().set(this.labels, 0);
    this.link = new RemoteClusterLink({
      name: opts.name,
      configFile: opts.configFile,
      mesh: opts.mesh,
      handler: this,
      tuning: { ...opts.tuning, nodeName },
      metrics: {
        setReady: (ready) => {
          remoteClusterReadiness().set(this.labels, ready ? 1 : 0);
        },
        setFailures: (count, last) => {
          remoteClusterFailures().set(this.labels, count);
          remoteClusterLastFailureTs().set(this.labels, last.getTime() / 1000);
        },
        transition: (from, to) => {
          remoteClusterStateTransitions().inc({ ...this.labels, from, to });
        },
      },
    });
  }

  /** Resolves the first time the remote is ready, or when it is stopped. */
  whenReady(): Promise<void> {
    return this.link.whenReady();
  }

  get isReady(): boolean {
    return this.link.isReady;
  }

  /** The link's state: connecting, syncing, ready, unreachable, draining or removed. */
  get linkState(): RemoteLinkState {
    return this.link.linkState;
  }

  /** Tells `listener` of every state transition of the link; the returned function unsubscribes. */
  subscribe(listener: LinkStateListener): () => void {
    return this.link.subscribe(listener);
  }

  start(): void {
    this.link.start();
  }

  /** The config file changed: reconnect with its new content (entries are kept and reconciled). */
  restart(): void {
    this.link.restart();
  }

  /** Stops the connection and keeps every entry (the agent is shutting down, not the remote leaving). */
  async stop(): Promise<void> {
    await this.shutdown(false);
  }

  /** The remote left the mesh (its config file is gone): stop and delete everything learned from it. */
  async remove(): Promise<void> {
    await this.shutdown(true);
    forgetRemoteClusterMetrics(this.labels);
    this.link.setStatus('removed');
    this.link.log.info('remote cluster disconnected; its entries were removed');
  }

  status(): RemoteClusterStatus {
    const s = this.stores;
    return {
      ...this.link.status(),
      numNodes: s?.nodes.size ?? 0,
      numEndpoints: s?.ip.size ?? 0,
      numIdentities: s?.identities.size ?? 0,
      numSharedServices: s?.sharedServices ?? 0,
      synced: {
        nodes: s?.isSynced('nodes') ?? false,
        services: s?.isSynced('services') ?? false,
        serviceExports: s?.serviceExports ? s.isSynced('serviceexports') : null,
        identities: s?.isSynced('identities') ?? false,
        endpoints: s?.isSynced('ip') ?? false,
      },
      invalidEntries: this.invalid,
    };
  }

  /** Prepares the stores for a validated config: a new ID or read mode first drops what the old one delivered. */
  async prepare(cfg: ClusterConfig): Promise<RemoteSessionWork> {
    if (this.heldId !== undefined && this.heldId !== cfg.id && this.stores) {
      this.link.log.warn(
        { from: this.heldId, to: cfg.id },
        'remote cluster ID changed; draining everything learned from it',
      );
      await this.stores.drainAll();
      this.stores = undefined;
    }
    this.heldId = cfg.id;
    this.sink.setClusterId(this.name, cfg.id);
    this.identity = { name: this.name, id: cfg.id, maxConnectedClusters: this.localMaxConnectedClusters };
    if (this.stores && this.stores.cached !== cfg.capabilities.cached) {
      // Direct and cached data live under different prefixes: the old stores cannot reconcile the new ones.
      this.link.log.info({ cached: cfg.capabilities.cached }, 'remote cluster read mode changed; re-reading its data');
      await this.stores.drainAll();
      this.stores = undefined;
    }
    this.stores ??= this.makeStores(cfg.capabilities.cached);
    await this.stores.setServiceExports(cfg.capabilities.serviceExportsEnabled === true);
    return this.stores;
  }

  onReady(): void {
    clearTimeout(this.ttlTimer);
    this.ttlTimer = undefined;
    this.setReachable(true);
    this.link.log.info(
      { nodes: this.stores?.nodes.size, endpoints: this.stores?.ip.size, identities: this.stores?.identities.size },
      'remote cluster ready',
    );
  }

  onLost(): void {
    this.setReachable(false);
    this.armCacheTtl();
  }

  private makeStores(cached: boolean): RemoteStores {
    const stores = new RemoteStores({
      cluster: this.name,
      cached,
      serviceExports: false,
      identity: () => {
        if (!this.identity) throw new Error('remote cluster identity used before its config was validated');
        return this.identity;
      },
      sink: this.sink,
      onInvalid: (resource: MeshResource, suffix: string, err: unknown) => {
        this.invalid++;
        remoteClusterInvalidEntries().inc({ ...this.labels, resource });
        this.link.log.debug({ resource, suffix, err: toError(err).message }, 'rejected entry from remote cluster');
      },
    });
    const nodes = remoteClusterNodes();
    const update = (): void => {
      nodes.set(this.labels, stores.nodes.size);
    };
    stores.nodes.addObserver({ onUpsert: update, onDelete: update });
    return stores;
  }

  /** Stops the link; while it drains, the stores stop and, when the remote left, delete what they delivered. */
  private async shutdown(drain: boolean): Promise<void> {
    clearTimeout(this.ttlTimer);
    this.ttlTimer = undefined;
    await this.link.stop(async () => {
      await this.stores?.stopAll();
      if (!drain) return;
      await this.stores?.drainAll();
      this.stores = undefined;
    });
  }

  private armCacheTtl(): void {
    if (this.cacheTtlMs <= 0 || this.ttlTimer) return;
    this.ttlTimer = setTimeout(() => {
      this.ttlTimer = undefined;
      if (this.link.isReady) return;
      this.link.interrupt(() => this.revoke());
    }, this.cacheTtlMs);
    this.ttlTimer.unref();
  }

  private async revoke(): Promise<void> {
    if (!this.stores) return;
    this.link.log.warn(
      { ttlMs: this.cacheTtlMs },
      'remote cluster unreachable longer than the cache TTL; revoking its entries',
    );
    await this.stores.drainAll();
    this.revocations++;
    remoteClusterCacheRevocations().set(this.labels, this.revocations);
    this.link.setStatus(`cache revoked: unreachable for more than ${this.cacheTtlMs} ms; reconnecting`);
  }

  private setReachable(reachable: boolean): void {
    if (this.reachable === reachable) return;
    // Nothing to mark before the remote ever delivered anything.
    if (this.reachable === undefined && !reachable) return;
    this.reachable = reachable;
    try {
      this.sink.setReachable(this.name, reachable);
    } catch (err) {
      this.link.log.error({ err }, 'sink setReachable failed');
    }
  }
}
