import type { Etcd3 } from 'etcd3';
import { ClusterConfigPublisher } from '../kvstore/cluster-config-publisher.js';
import { LeaseManager, type BackoffOptions } from '../kvstore/index.js';
import { RemoteClusterManager, type RemoteClusterTuning } from '../kvstore/remote/index.js';
import { logger } from '../observe/logger.js';
import {
  CACHE_PREFIX,
  CACHE_REACHABILITY_WRITER_KEY,
  CACHE_REACHABILITY_WRITER_VALUE,
  type MaxConnectedClusters,
} from '../wire/index.js';
import { bootstrapSeconds, remoteClusters } from './metrics.js';
import { cachedRemotes, retrying } from './cache-cleanup.js';
import { RemoteMirror, type RemoteMirrorStatus } from './remote-mirror.js';
import { GLOBAL_READY_TIMEOUT_MS, PER_CLUSTER_READY_TIMEOUT_MS } from './defaults.js';

/** Cilium's defaults (--per-cluster-ready-timeout, --global-ready-timeout). */
export { GLOBAL_READY_TIMEOUT_MS, PER_CLUSTER_READY_TIMEOUT_MS };
/** How often readiness is re-evaluated while not ready (for synced() and the bootstrap metric). */
const READINESS_CHECK_MS = 100;

const log = logger('kvstoremesh');

/** Test and tuning knobs outside the flags. */
export interface KVStoreMeshTuning extends Partial<RemoteClusterTuning> {
  configDebounceMs?: number;
  configRescanMs?: number;
  removalBackoff?: BackoffOptions;
  leaseTtlSeconds?: number;
}

export interface KVStoreMeshOptions {
  clusterName: string;
  clusterId: number;
  maxConnectedClusters: MaxConnectedClusters;
  /** One etcd config file per remote, named after it (the agents' format). */
  configDir: string;
  /** The local clustermesh etcd: the cache is written there. */
  local: Etcd3;
  perClusterReadyTimeoutMs?: number;
  globalReadyTimeoutMs?: number;
  /** How long a removed remote's cache outlives its cluster config. */
  disconnectGracePeriodMs?: number;
  tuning?: KVStoreMeshTuning;
}

export interface KVStoreMeshStatus {
  cluster: string;
  ready: boolean;
  remotes: RemoteMirrorStatus[];
  /** Remotes whose config file is gone and whose cache is being removed. */
  removing: string[];
}

/**
 * KVStoreMesh: caches every remote cluster of the config directory in the local clustermesh etcd, so that the
 * local agents read one nearby etcd instead of every remote. Ready once every remote has written its canaries
 * (a remote that does not connect within the per-cluster timeout stops blocking; after the global timeout nothing
 * blocks); readiness, once reached, stays.
 */
export class KVStoreMesh {
  private readonly lease: LeaseManager;
  private readonly manager: RemoteClusterManager<RemoteMirror>;
  private readonly shutdown = new AbortController();
  private readonly perClusterMs: number;
  private readonly globalMs: number;
  private startedAt = 0;
  private isReady = false;
  private readyTimer: NodeJS.Timeout | undefined;
  private readonly readyPromise: Promise<void>;
  private resolveReady!: () => void;
  private started = false;
  private writerKey: ClusterConfigPublisher | undefined;

  constructor(private readonly opts: KVStoreMeshOptions) {
    const tuning = opts.tuning ?? {};
    this.perClusterMs = opts.perClusterReadyTimeoutMs ?? PER_CLUSTER_READY_TIMEOUT_MS;
    this.globalMs = opts.globalReadyTimeoutMs ?? GLOBAL_READY_TIMEOUT_MS;
    this.lease = new LeaseManager(opts.local, tuning.leaseTtlSeconds ? { ttlSeconds: tuning.leaseTtlSeconds } : {});
    this.readyPromise = new Promise((resolve) => {
      this.resolveReady = resolve;
    });
    const { configDebounceMs, configRescanMs, removalBackoff, leaseTtlSeconds: _ttl, ...linkTuning } = tuning;
    this.manager = new RemoteClusterManager<RemoteMirror>({
      localClusterName: opts.clusterName,
      localClusterId: opts.clusterId,
      localMaxConnectedClusters: opts.maxConnectedClusters,
      configDir: opts.configDir,
      ...(configDebounceMs !== undefined ? { debounceMs: configDebounceMs } : {}),
      ...(configRescanMs !== undefined ? { rescanMs: configRescanMs } : {}),
      create: (name, configFile, mesh) =>
        new RemoteMirror({
          name,
          configFile,
          mesh,
          local: opts.local,
          lease: this.lease,
          shutdown: this.shutdown.signal,
          ...(opts.disconnectGracePeriodMs !== undefined ? { gracePeriodMs: opts.disconnectGracePeriodMs } : {}),
          tuning: linkTuning,
          ...(removalBackoff ? { removalBackoff } : {}),
        }),
      onCountChange: (count) => {
        remoteClusters().set(count);
      },
    });
  }

  /**
   * Takes over the lease of a previous run when it is still alive (its copies then need no rewrite), then reads
   * the config directory and connects to every remote.
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.startedAt = Date.now();
    try {
      await this.lease.adoptFrom([`${CACHE_PREFIX}/`]);
    } catch (err) {
      log.warn({ err }, 'could not look for the lease of a previous run; copies will be rewritten');
    }
    // Before any cached cluster config: agents that find this key require our per-remote reachability markers.
    this.writerKey = new ClusterConfigPublisher(this.opts.local, this.lease, {
      clusterName: this.opts.clusterName,
      key: CACHE_REACHABILITY_WRITER_KEY,
      value: CACHE_REACHABILITY_WRITER_VALUE,
      skipUnchanged: true,
    });
    this.writerKey.start();
    await this.writerKey.firstPublish;
    log.info({ configDir: this.opts.configDir, cluster: this.opts.clusterName }, 'starting kvstoremesh');
    this.manager.start();
    this.checkReady();
    void this.removeStaleRemotes();
  }

  /**
   * A remote whose config file went away while kvstoremesh was down left its copies behind, under the lease this
   * run adopted: without this they would never go. They are removed as any other removed remote.
   */
  private async removeStaleRemotes(): Promise<void> {
    let found = new Set<string>();
    const ok = await retrying(
      'looking for remotes removed while kvstoremesh was down',
      async () => {
        found = await cachedRemotes(this.opts.local);
      },
      { signal: this.shutdown.signal, log },
    );
    if (!ok) return;
    for (const name of found) this.manager.removeStale(name);
  }

  /** Resolves once ready (see the class comment). */
  synced(): Promise<void> {
    return this.readyPromise;
  }

  ready(): boolean {
    return this.checkReady();
  }

  status(): KVStoreMeshStatus {
    return {
      cluster: this.opts.clusterName,
      ready: this.ready(),
      remotes: this.manager.remotes().map((r) => r.status()),
      removing: this.manager.removals(),
    };
  }

  /** Stops copying; the cache and its lease stay (they expire with the lease if kvstoremesh does not come back). */
  async stop(): Promise<void> {
    clearTimeout(this.readyTimer);
    this.shutdown.abort();
    await this.manager.stop();
    await this.writerKey?.stop();
    await this.lease.close();
    this.resolveReady();
  }

  private checkReady(): boolean {
    if (this.isReady) return true;
    if (!this.started) return false;
    const now = Date.now();
    const blocking = this.manager
      .remotes()
      .filter((r) => !r.synced && (r.hasConnected || now - r.createdAt < this.perClusterMs))
      .map((r) => r.name);
    const timedOut = now - this.startedAt >= this.globalMs;
    if (blocking.length === 0 || timedOut) {
      this.isReady = true;
      clearTimeout(this.readyTimer);
      bootstrapSeconds().set({ source_cluster: this.opts.clusterName }, (now - this.startedAt) / 1000);
      if (timedOut && blocking.length > 0) {
        log.warn({ notSynced: blocking }, 'global ready timeout reached; ready without these remote clusters');
      } else log.info('every remote cluster is cached; ready');
      this.resolveReady();
      return true;
    }
    clearTimeout(this.readyTimer);
    this.readyTimer = setTimeout(() => this.checkReady(), READINESS_CHECK_MS);
    this.readyTimer.unref();
    return false;
  }
}
