import type { Etcd3 } from 'etcd3';
import { ClusterConfigPublisher } from '../kvstore/cluster-config-publisher.js';
import { sleep, type BackoffOptions, type LeaseManager } from '../kvstore/index.js';
import {
  RemoteClusterLink,
  type RemoteLinkStatus,
  type ManagedRemote,
  type RemoteClusterHandler,
  type RemoteClusterMeshView,
  type RemoteClusterTuning,
  type RemoteSessionWork,
} from '../kvstore/remote/index.js';
import { logger } from '../observe/logger.js';
import {
  cachedClusterConfig,
  encodeClusterConfig,
  type ClusterConfig,
  type CanaryStore,
  cacheReachabilityKey,
} from '../wire/index.js';
import { deleteCachedClusterConfig, deleteRemoteCache, retrying } from './cache-cleanup.js';
import {
  forgetRemoteClusterMetrics,
  remoteClusterFailures,
  remoteClusterLastFailureTs,
  remoteClusterReadiness,
  remoteClusterStateTransitions,
} from './metrics.js';
import { MirrorStores } from './mirror-stores.js';
import { DISCONNECT_GRACE_PERIOD_MS } from './defaults.js';

/** Cilium's default: a removed remote's cache stays this long after its cluster config is deleted. */
export { DISCONNECT_GRACE_PERIOD_MS };

const log = logger('kvstoremesh');

/** One remote's state, as `cmesh kvstoremesh status` and /readyz show it. */
/** The shared remote-cluster status, and what KVStoreMesh copied of the remote. */
export interface RemoteMirrorStatus extends RemoteLinkStatus {
  /** Every canary written at least once: the remote no longer blocks kvstoremesh's readiness. */
  synced: boolean;
  /** Per resource: entries in the cache, and whether it is copied in the current session. */
  resources: Partial<Record<CanaryStore, { entries: number; synced: boolean }>>;
}

export interface RemoteMirrorOptions {
  name: string;
  configFile: string;
  mesh: RemoteClusterMeshView;
  /** The local clustermesh etcd, where the copies go. */
  local: Etcd3;
  /** The lease every key kvstoremesh writes is attached to. */
  lease: LeaseManager;
  gracePeriodMs?: number;
  /** Aborts when kvstoremesh shuts down: a removal in flight stops waiting and leaves the rest to the next run. */
  shutdown: AbortSignal;
  tuning?: Partial<RemoteClusterTuning>;
  /** Retry delays of the removal's deletions. */
  removalBackoff?: BackoffOptions;
}

/**
 * One remote cluster of a kvstoremesh: the shared connection lifecycle, copying the remote's nodes, services,
 * service exports, identities and ipcache byte for byte into `cilium/cache/<resource>/v1/<remote>/` of the local
 * etcd (each behind the remote's canary, each followed by kvstoremesh's own canary), and publishing the remote's
 * cluster config there with `cached: true`.
 */
export class RemoteMirror implements ManagedRemote, RemoteClusterHandler {
  readonly name: string;
  readonly createdAt = Date.now();
  private readonly link: RemoteClusterLink;
  private readonly stores: MirrorStores;
  private publisher: ClusterConfigPublisher | undefined;
  private published: string | undefined;
  private heldId: number | undefined;
  private everSynced = false;
  /** The reachability marker has been written at least once. */
  private markedReachable = false;

  constructor(private readonly opts: RemoteMirrorOptions) {
    this.name = opts.name;
    const labels = { target_cluster: opts.name };
    remoteClusterFailures().set(labels, 0);
    this.stores = new MirrorStores(opts.local, opts.lease, opts.name);
    this.link = new RemoteClusterLink({
      name: opts.name,
      configFile: opts.configFile,
      mesh: opts.mesh,
      handler: this,
      ...(opts.tuning ? { tuning: opts.tuning } : {}),
      log: log.child({ clusterName: opts.name, config: opts.configFile }),
      metrics: {
        setReady: (ready) => {
          remoteClusterReadiness().set(labels, ready ? 1 : 0);
        },
        setFailures: (count, last) => {
          remoteClusterFailures().set(labels, count);
          remoteClusterLastFailureTs().set(labels, last.getTime() / 1000);
        },
        transition: (from, to) => {
          remoteClusterStateTransitions().inc({ ...labels, from, to });
        },
      },
    });
  }

  /** Whether a session ever started (the remote's config was retrieved and accepted). */
  get hasConnected(): boolean {
    return this.link.hasConnected;
  }

  /**
   * Every canary, and the reachability marker, have been written at least once: an agent that starts reading the
   * cache once kvstoremesh is ready must not find the remote unreachable for want of the marker.
   */
  get synced(): boolean {
    this.everSynced ||= this.stores.canariesWritten && this.link.hasConnected && this.markedReachable;
    return this.everSynced;
  }

  start(): void {
    this.link.start();
  }

  restart(): void {
    this.link.restart();
  }

  /** kvstoremesh is shutting down: stop copying; the copies stay (a restart picks them up). */
  async stop(): Promise<void> {
    await this.link.stop(async () => {
      await this.publisher?.stop();
      await this.stores.closeAll();
    });
  }

  /**
   * The remote left: its cluster config goes first (readers stop trusting the cache), then, after the grace period,
   * its copies and canaries. Configured again meanwhile (`signal`), the copies stay for the new instance.
   */
  async remove(signal: AbortSignal): Promise<void> {
    const { local, shutdown } = this.opts;
    const rlog = this.link.log;
    await this.stop();
    this.link.setStatus('removing');
    const either = AbortSignal.any([signal, shutdown]);
    const retry = {
      signal: either,
      log: rlog,
      ...(this.opts.removalBackoff ? { backoff: this.opts.removalBackoff } : {}),
    };
    if (
      !(await retrying('deleting the cached cluster config', () => deleteCachedClusterConfig(local, this.name), retry))
    ) {
      return;
    }
    const graceMs = this.opts.gracePeriodMs ?? DISCONNECT_GRACE_PERIOD_MS;
    rlog.info(
      { graceMs },
      'remote cluster removed; its cluster config is deleted, its cache follows after the grace period',
    );
    await sleep(graceMs, either);
    if (either.aborted) {
      rlog.info('remote cluster removal interrupted; keeping its cache');
      return;
    }
    if (await retrying('deleting the cached data', () => deleteRemoteCache(local, this.name), retry)) {
      forgetRemoteClusterMetrics(this.name);
      rlog.info('remote cluster cache deleted');
    }
  }

  status(): RemoteMirrorStatus {
    const resources: RemoteMirrorStatus['resources'] = {};
    for (const r of this.stores.resources()) {
      const m = this.stores.get(r);
      if (m) resources[r] = { entries: m.entries, synced: m.isSynced };
    }
    return { ...this.link.status(), synced: this.synced, resources };
  }

  async prepare(cfg: ClusterConfig): Promise<RemoteSessionWork> {
    const idChanged = this.heldId !== undefined && this.heldId !== cfg.id;
    if (idChanged) this.link.log.warn({ from: this.heldId, to: cfg.id }, 'remote cluster ID changed; re-copying it');
    this.heldId = cfg.id;
    this.publish(cachedClusterConfig(cfg));
    await this.stores.prepare({
      cached: cfg.capabilities.cached,
      capabilities: cfg.capabilities,
      idChanged,
    });
    return this.stores;
  }

  onReady(): void {
    this.link.log.info({ resources: this.status().resources }, 'remote cluster copied');
    void this.markReachable(true);
  }

  onLost(reason: string): void {
    this.link.log.warn({ reason }, 'lost the remote cluster; marking it unreachable for the local agents');
    void this.markReachable(false);
  }

  /** Writes or deletes the cache's reachability marker for this remote (under kvstoremesh's lease). */
  private async markReachable(reachable: boolean): Promise<void> {
    const key = Buffer.from(cacheReachabilityKey(this.name));
    try {
      if (reachable) {
        const lease = await this.opts.lease.current();
        // Already marked under our (possibly adopted) lease: leave it, a restart rewrites nothing unchanged.
        const cur = await this.opts.local.kv.range({ key });
        if (cur.kvs[0]?.lease !== lease) {
          await this.opts.local.kv.put({ key, value: Buffer.from(new Date().toISOString()), lease });
        }
        this.markedReachable = true;
      } else {
        await this.opts.local.kv.deleteRange({ key });
      }
    } catch (err) {
      this.link.log.warn({ err: (err as Error).message, reachable }, 'could not update the reachability marker');
    }
  }

  /** (Re)starts the publisher when the config to publish differs from the one published. */
  private publish(cfg: ClusterConfig): void {
    const encoded = encodeClusterConfig(cfg);
    if (this.publisher && this.published === encoded) return;
    const old = this.publisher;
    // Stopped before the new one writes, so that the old one does not restore its value over the new one.
    void old?.stop();
    this.published = encoded;
    this.publisher = new ClusterConfigPublisher(this.opts.local, this.opts.lease, {
      clusterName: this.name,
      config: cfg,
    });
    this.publisher.start();
  }
}
