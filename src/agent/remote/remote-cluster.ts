import { hostname } from 'node:os';
import type { Etcd3 } from 'etcd3';
import {
  Backoff,
  DIAL_TIMEOUT_MS,
  HEARTBEAT_STALE_AFTER_MS,
  createEtcdClient,
  loadEtcdConfigFile,
  sleep,
  toError,
  type BackoffOptions,
  type EtcdClientOptions,
} from '../../kvstore/index.js';
import { logger, type Logger } from '../../observe/logger.js';
import {
  clusterConfigKey,
  decodeClusterConfig,
  effectiveMaxConnectedClusters,
  validateRemoteClusterConfig,
  type ClusterConfig,
  type MaxConnectedClusters,
  type MeshResource,
  type RemoteClusterIdentity,
} from '../../wire/index.js';
import type { RemoteClusterSink, RemoteClusterStatus } from '../remote-cluster-types.js';
import {
  forgetRemoteClusterMetrics,
  remoteClusterCacheRevocations,
  remoteClusterFailures,
  remoteClusterInvalidEntries,
  remoteClusterLastFailureTs,
  remoteClusterNodes,
  remoteClusterReadiness,
  type RemoteMetricLabels,
} from './metrics.js';
import { RemoteSession, type SessionTimings } from './remote-session.js';
import { RemoteStores } from './remote-stores.js';

/** Probing every few seconds bounds the detection of a silent partition; a broken stream triggers a probe at once. */
export const PROBE_INTERVAL_MS = 5_000;
export const PROBE_TIMEOUT_MS = 5_000;
export const PROBE_FAILURE_THRESHOLD = 2;
export const READINESS_POLL_MS = 50;

const log = logger('clustermesh');

/** What a RemoteCluster needs from the mesh it belongs to. */
export interface RemoteClusterMeshView {
  readonly localClusterName: string;
  readonly localClusterId: number;
  readonly localMaxConnectedClusters: MaxConnectedClusters;
  /** Cluster IDs held by the other remotes, to their names. */
  otherRemoteIds(self: string): ReadonlyMap<number, string>;
  /** Records that `remote` now uses `id` (replacing the ID it held before). */
  claimClusterId(remote: string, id: number): void;
  releaseClusterId(remote: string): void;
}

/** Knobs with production defaults; tests shorten them. */
export interface RemoteClusterTuning extends SessionTimings {
  /** Deadline of the first request to a new connection (the config file's dial-timeout wins when set). */
  connectTimeoutMs: number;
  /** Reconnect and config-retry delays. */
  backoff: BackoffOptions;
  /** Labels metrics (`source_node_name`). */
  nodeName: string;
}

export function defaultRemoteClusterTuning(): RemoteClusterTuning {
  return {
    probeIntervalMs: PROBE_INTERVAL_MS,
    probeTimeoutMs: PROBE_TIMEOUT_MS,
    probeFailureThreshold: PROBE_FAILURE_THRESHOLD,
    heartbeatStaleMs: HEARTBEAT_STALE_AFTER_MS,
    readinessPollMs: READINESS_POLL_MS,
    connectTimeoutMs: DIAL_TIMEOUT_MS,
    backoff: {},
    nodeName: hostname(),
  };
}

export interface RemoteClusterOptions {
  name: string;
  configFile: string;
  mesh: RemoteClusterMeshView;
  sink: RemoteClusterSink;
  /** 0: keep a disconnected remote's entries until it comes back; otherwise revoke them after this long. */
  cacheTtlMs?: number;
  tuning?: Partial<RemoteClusterTuning>;
}

/** The remote's cluster config could not be parsed. */
export class RemoteClusterConfigError extends Error {
  override name = 'RemoteClusterConfigError';
}

/** A call, not a property read, so that the compiler does not assume it unchanged across awaits. */
function aborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

/** Resolves with `p`'s value, or with undefined as soon as `signal` aborts (p is then abandoned). */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      resolve(undefined);
      p.catch(() => undefined);
      return;
    }
    const onAbort = (): void => {
      resolve(undefined);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(toError(err));
      },
    );
  });
}

/**
 * One remote cluster: a restartable loop that connects with the remote's etcd config file, fetches and
 * validates its cluster config, runs a session (stores, heartbeat, probes) until the connection is lost or
 * the config changes, and reconnects with backoff. Entries stay in the sink across reconnects (marked
 * unreachable) and are reconciled by the next session's re-list; they are drained when the remote is removed,
 * changes its cluster ID, or stays away longer than the cache TTL.
 */
export class RemoteCluster {
  readonly name: string;
  private readonly configFile: string;
  private readonly mesh: RemoteClusterMeshView;
  private readonly sink: RemoteClusterSink;
  private readonly cacheTtlMs: number;
  private readonly tuning: RemoteClusterTuning;
  private readonly log: Logger;
  private readonly labels: RemoteMetricLabels;
  private readonly backoff: Backoff;

  private stopping = false;
  private attemptCtl = new AbortController();
  private loop: Promise<void> | undefined;
  private stores: RemoteStores | undefined;
  private identity: RemoteClusterIdentity | undefined;
  /** The ID of the config whose data the stores hold; a different one on reconnect drains them first. */
  private heldId: number | undefined;
  private config: ClusterConfig | undefined;
  private connected = false;
  private ready = false;
  private statusText = 'waiting for initial connection to be established';
  private failures = 0;
  private lastFailure: Date | undefined;
  private lastFailureMessage: string | undefined;
  private invalid = 0;
  private revocations = 0;
  private reachable: boolean | undefined;
  private ttlTimer: NodeJS.Timeout | undefined;
  private revokePending = false;
  private readonly firstReady: Promise<void>;
  private resolveFirstReady!: () => void;

  constructor(opts: RemoteClusterOptions) {
    this.name = opts.name;
    this.configFile = opts.configFile;
    this.mesh = opts.mesh;
    this.sink = opts.sink;
    this.cacheTtlMs = opts.cacheTtlMs ?? 0;
    this.tuning = { ...defaultRemoteClusterTuning(), ...opts.tuning };
    this.backoff = new Backoff(this.tuning.backoff);
    this.log = log.child({ clusterName: this.name, config: this.configFile });
    this.labels = {
      source_cluster: this.mesh.localClusterName,
      source_node_name: this.tuning.nodeName,
      target_cluster: this.name,
    };
    this.firstReady = new Promise((resolve) => {
      this.resolveFirstReady = resolve;
    });
    remoteClusterReadiness().set(this.labels, 0);
    remoteClusterFailures().set(this.labels, 0);
  }

  /** Resolves the first time the remote is ready, or when it is stopped. */
  whenReady(): Promise<void> {
    return this.firstReady;
  }

  get isReady(): boolean {
    return this.ready;
  }

  start(): void {
    if (this.loop || this.stopping) return;
    this.log.info('connecting to remote cluster');
    this.loop = this.run().catch((err: unknown) => {
      this.log.error({ err }, 'remote cluster loop failed');
    });
  }

  /** The config file changed: reconnect with its new content (entries are kept and reconciled). */
  restart(): void {
    if (this.stopping) return;
    this.log.info('etcd configuration changed; re-creating the connection');
    this.backoff.reset();
    this.attemptCtl.abort();
  }

  /** Stops the connection and keeps every entry (the agent is shutting down, not the remote leaving). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.attemptCtl.abort();
    clearTimeout(this.ttlTimer);
    this.ttlTimer = undefined;
    await this.loop;
    await this.stores?.stopAll();
    this.ready = false;
    this.connected = false;
    this.statusText = 'stopped';
    this.resolveFirstReady();
  }

  /** The remote left the mesh (its config file is gone): stop and delete everything learned from it. */
  async remove(): Promise<void> {
    await this.stop();
    await this.stores?.drainAll();
    this.stores = undefined;
    this.mesh.releaseClusterId(this.name);
    forgetRemoteClusterMetrics(this.labels);
    this.statusText = 'removed';
    this.log.info('remote cluster disconnected; its entries were removed');
  }

  status(): RemoteClusterStatus {
    const s = this.stores;
    const cfg = this.config;
    return {
      name: this.name,
      ready: this.ready,
      connected: this.connected,
      status: this.statusText,
      numNodes: s?.nodes.size ?? 0,
      numEndpoints: s?.ip.size ?? 0,
      numIdentities: s?.identities.size ?? 0,
      numSharedServices: s?.sharedServices ?? 0,
      numFailures: this.failures,
      lastFailure: this.lastFailure?.toISOString() ?? null,
      lastFailureMessage: this.lastFailureMessage ?? null,
      config: cfg
        ? {
            clusterID: cfg.id,
            maxConnectedClusters: effectiveMaxConnectedClusters(cfg),
            syncedCanaries: cfg.capabilities.syncedCanaries,
            serviceExportsEnabled: cfg.capabilities.serviceExportsEnabled ?? null,
            cached: cfg.capabilities.cached,
          }
        : null,
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

  private isStopping(): boolean {
    return this.stopping;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      const ctl = new AbortController();
      this.attemptCtl = ctl;
      let retryNow = false;
      try {
        retryNow = await this.attempt(ctl.signal);
      } catch (err) {
        this.fail(`unexpected error: ${toError(err).message}`);
        this.log.error({ err }, 'remote cluster connection attempt failed unexpectedly');
      }
      this.connected = false;
      this.setReady(false);
      if (this.isStopping()) break;
      if (this.revokePending) {
        this.revokePending = false;
        await this.revoke();
      }
      if (!retryNow && !ctl.signal.aborted) await sleep(this.backoff.next(), ctl.signal);
    }
  }

  /** One connection: returns true when the next one should start without waiting. */
  private async attempt(signal: AbortSignal): Promise<boolean> {
    let etcdOpts: EtcdClientOptions;
    try {
      etcdOpts = await loadEtcdConfigFile(this.configFile);
    } catch (err) {
      this.fail(`invalid etcd config file: ${toError(err).message}`);
      return false;
    }
    if (signal.aborted) return true;
    let client: Etcd3;
    try {
      client = createEtcdClient(etcdOpts);
    } catch (err) {
      this.fail(`invalid etcd config file: ${toError(err).message}`);
      return false;
    }
    let handedOver = false;
    try {
      this.statusText = `connecting to ${etcdOpts.endpoints.join(', ')}`;
      const cfg = await this.fetchClusterConfig(client, signal, etcdOpts.dialTimeoutMs ?? this.tuning.connectTimeoutMs);
      if (!cfg || aborted(signal)) return true;
      try {
        validateRemoteClusterConfig(this.name, cfg, {
          localId: this.mesh.localClusterId,
          localMaxConnectedClusters: this.mesh.localMaxConnectedClusters,
          otherRemoteIds: this.mesh.otherRemoteIds(this.name),
        });
      } catch (err) {
        this.fail(`invalid cluster config: ${toError(err).message}`);
        return false;
      }
      // Claimed in the same turn as the check, so that two remotes cannot both pass it with the same ID.
      this.mesh.claimClusterId(this.name, cfg.id);
      await this.apply(cfg);
      if (aborted(signal)) return true;
      this.config = cfg;
      this.connected = true;
      handedOver = true;
      const session = new RemoteSession({
        ...this.tuning,
        cluster: this.name,
        client,
        config: cfg,
        stores: this.requireStores(),
        signal,
        log: this.log,
        onLost: (reason) => {
          this.lost(reason);
        },
        onReady: () => {
          this.markReady();
        },
        onProgress: (status) => {
          this.statusText = status;
        },
      });
      const end = await session.run();
      if (end.kind === 'lost') return false;
      if (end.kind === 'config-changed') {
        this.log.info({ reason: end.reason }, 'remote cluster config changed; reconnecting to re-validate it');
        this.statusText = 'cluster config changed; reconnecting';
      }
      return true;
    } catch (err) {
      if (aborted(signal)) return true;
      const e = toError(err);
      this.fail(
        e instanceof RemoteClusterConfigError
          ? `invalid cluster config: ${e.message}`
          : `cannot reach etcd at ${etcdOpts.endpoints.join(', ')}: ${e.message}`,
      );
      return false;
    } finally {
      if (!handedOver) client.close();
    }
  }

  /** Reads the remote's cluster config, waiting (with a clear status) while it does not exist. */
  private async fetchClusterConfig(
    client: Etcd3,
    signal: AbortSignal,
    timeoutMs: number,
  ): Promise<ClusterConfig | undefined> {
    const key = clusterConfigKey(this.name);
    const backoff = new Backoff(this.tuning.backoff);
    for (;;) {
      const res = await abortable(
        client.kv.range({ key: Buffer.from(key) }, { deadline: Date.now() + timeoutMs }),
        signal,
      );
      if (res === undefined) return undefined;
      this.connected = true;
      const kv = res.kvs[0];
      if (kv) {
        try {
          return decodeClusterConfig(kv.value);
        } catch (err) {
          throw new RemoteClusterConfigError(`${key}: ${toError(err).message}`, { cause: err });
        }
      }
      this.statusText =
        `waiting for cluster config: key ${key} not found; ` + `is the clustermesh-apiserver of ${this.name} running?`;
      await sleep(backoff.next(), signal);
      if (aborted(signal)) return undefined;
    }
  }

  /** Prepares the stores for a validated config: a new ID or read mode first drops what the old one delivered. */
  private async apply(cfg: ClusterConfig): Promise<void> {
    if (this.heldId !== undefined && this.heldId !== cfg.id && this.stores) {
      this.log.warn(
        { from: this.heldId, to: cfg.id },
        'remote cluster ID changed; draining everything learned from it',
      );
      await this.stores.drainAll();
      this.stores = undefined;
    }
    this.heldId = cfg.id;
    this.identity = { name: this.name, id: cfg.id, maxConnectedClusters: this.mesh.localMaxConnectedClusters };
    if (this.stores && this.stores.cached !== cfg.capabilities.cached) {
      // Direct and cached data live under different prefixes: the old stores cannot reconcile the new ones.
      this.log.info({ cached: cfg.capabilities.cached }, 'remote cluster read mode changed; re-reading its data');
      await this.stores.drainAll();
      this.stores = undefined;
    }
    this.stores ??= this.makeStores(cfg.capabilities.cached);
    await this.stores.setServiceExports(cfg.capabilities.serviceExportsEnabled === true);
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
        this.log.debug({ resource, suffix, err: toError(err).message }, 'rejected entry from remote cluster');
      },
    });
    const nodes = remoteClusterNodes();
    const update = (): void => {
      nodes.set(this.labels, stores.nodes.size);
    };
    stores.nodes.addObserver({ onUpsert: update, onDelete: update });
    return stores;
  }

  private requireStores(): RemoteStores {
    if (!this.stores) throw new Error('remote cluster stores missing after apply()');
    return this.stores;
  }

  private markReady(): void {
    this.setReady(true);
    this.backoff.reset();
    clearTimeout(this.ttlTimer);
    this.ttlTimer = undefined;
    this.statusText = 'ready';
    this.setReachable(true);
    this.log.info(
      { nodes: this.stores?.nodes.size, endpoints: this.stores?.ip.size, identities: this.stores?.identities.size },
      'remote cluster ready',
    );
    this.resolveFirstReady();
  }

  /** Called by the session the moment it detects the loss. */
  private lost(reason: string): void {
    this.log.warn({ reason }, 'connection to remote cluster lost; reconnecting');
    this.connected = false;
    this.setReady(false);
    this.setReachable(false);
    this.fail(`unreachable: ${reason}; reconnecting`);
    this.armCacheTtl();
  }

  private armCacheTtl(): void {
    if (this.cacheTtlMs <= 0 || this.ttlTimer) return;
    this.ttlTimer = setTimeout(() => {
      this.ttlTimer = undefined;
      if (this.ready || this.stopping) return;
      this.revokePending = true;
      this.attemptCtl.abort();
    }, this.cacheTtlMs);
    this.ttlTimer.unref();
  }

  private async revoke(): Promise<void> {
    if (!this.stores) return;
    this.log.warn(
      { ttlMs: this.cacheTtlMs },
      'remote cluster unreachable longer than the cache TTL; revoking its entries',
    );
    await this.stores.drainAll();
    this.revocations++;
    remoteClusterCacheRevocations().set(this.labels, this.revocations);
    this.statusText = `cache revoked: unreachable for more than ${this.cacheTtlMs} ms; reconnecting`;
  }

  private setReady(ready: boolean): void {
    if (this.ready === ready) return;
    this.ready = ready;
    remoteClusterReadiness().set(this.labels, ready ? 1 : 0);
  }

  private setReachable(reachable: boolean): void {
    if (this.reachable === reachable) return;
    // Nothing to mark before the remote ever delivered anything.
    if (this.reachable === undefined && !reachable) return;
    this.reachable = reachable;
    try {
      this.sink.setReachable(this.name, reachable);
    } catch (err) {
      this.log.error({ err }, 'sink setReachable failed');
    }
  }

  private fail(message: string): void {
    this.failures++;
    this.lastFailure = new Date();
    this.lastFailureMessage = message;
    this.statusText = message;
    remoteClusterFailures().set(this.labels, this.failures);
    remoteClusterLastFailureTs().set(this.labels, this.lastFailure.getTime() / 1000);
    this.log.warn({ failures: this.failures }, message);
  }
}
