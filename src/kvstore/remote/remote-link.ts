/**
 * One remote cluster's connection lifecycle, shared by the agent and KVStoreMesh: a restartable loop driving the
 * link's state machine (link-state.ts) through connect, config validation, sessions and reconnects.
 */
import { hostname } from 'node:os';
import type { Etcd3 } from 'etcd3';
import { logger, type Logger } from '../../observe/logger.js';
import {
  clusterConfigKey,
  decodeClusterConfig,
  validateRemoteClusterConfig,
  type ClusterConfig,
  type MaxConnectedClusters,
  effectiveMaxConnectedClusters,
} from '../../wire/index.js';
import { Backoff, sleep, type BackoffOptions } from '../backoff.js';
import { DIAL_TIMEOUT_MS, createEtcdClient, loadEtcdConfigFile, type EtcdClientOptions } from '../client.js';
import { toError } from '../errors.js';
import { HEARTBEAT_STALE_AFTER_MS } from '../heartbeat.js';
import { LinkStateMachine, type LinkStateListener, type RemoteLinkState } from './link-state.js';
import { RemoteSession, type RemoteSessionWork, type SessionTimings } from './remote-session.js';

/** Probing every few seconds bounds the detection of a silent partition; a broken stream triggers a probe at once. */
export const PROBE_INTERVAL_MS = 5_000;
export const PROBE_TIMEOUT_MS = 5_000;
export const PROBE_FAILURE_THRESHOLD = 2;

const log = logger('clustermesh');

/** What a remote needs from the mesh it belongs to: the local identity and the cluster IDs of the other remotes. */
export interface RemoteClusterMeshView {
  readonly localClusterName: string;
  readonly localClusterId: number;
  readonly localMaxConnectedClusters: MaxConnectedClusters;
  /** Cluster IDs held by the other remotes, to their names. */
  otherRemoteIds(self: string): ReadonlyMap<number, string>;
  /** Records that `remote` now uses `id` (replacing the ID it held before); throws if another remote holds it. */
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
    connectTimeoutMs: DIAL_TIMEOUT_MS,
    backoff: {},
    nodeName: hostname(),
  };
}

/** The component-specific part of a remote: what to read from it, and what to do on the lifecycle's events. */
export interface RemoteClusterHandler {
  /**
   * A config was fetched and validated (and its ID claimed): prepare the readers for it (a changed ID or read
   * mode may need to drop what the previous config delivered) and return them. Throwing fails the attempt.
   */
  prepare(config: ClusterConfig): Promise<RemoteSessionWork>;
  /** The current session has synced everything needed for readiness. */
  onReady?(): void;
  /** A live session lost its connection (called at once, before teardown). */
  onLost?(reason: string): void;
}

/** Where the lifecycle reports readiness, failures and state transitions (each component has its own metric names). */
export interface RemoteClusterLinkMetrics {
  setReady(ready: boolean): void;
  setFailures(count: number, last: Date): void;
  /** Counts one state transition. */
  transition(from: RemoteLinkState, to: RemoteLinkState): void;
}

export interface RemoteClusterLinkOptions {
  name: string;
  configFile: string;
  mesh: RemoteClusterMeshView;
  handler: RemoteClusterHandler;
  metrics?: RemoteClusterLinkMetrics;
  tuning?: Partial<RemoteClusterTuning>;
  log?: Logger;
}

/** How a remote's cluster config shows in status views (agent and kvstoremesh alike). */
export interface RemoteConfigView {
  clusterID: number;
  maxConnectedClusters: number;
  syncedCanaries: boolean;
  serviceExportsEnabled: boolean | null;
  /** Read from a KVStoreMesh cache (`cilium/cache/...`). */
  cached: boolean;
}

export function remoteConfigView(cfg: ClusterConfig | undefined): RemoteConfigView | null {
  return cfg
    ? {
        clusterID: cfg.id,
        maxConnectedClusters: effectiveMaxConnectedClusters(cfg),
        syncedCanaries: cfg.capabilities.syncedCanaries,
        serviceExportsEnabled: cfg.capabilities.serviceExportsEnabled ?? null,
        cached: cfg.capabilities.cached,
      }
    : null;
}

/**
 * The one remote-cluster status: what the agent and KVStoreMesh report of each remote (each adds its own fields)
 * and what the CLI reads back. `ready` and `connected` are derived from the link's state.
 */
export interface RemoteLinkStatus {
  name: string;
  /** Connected, config retrieved and valid, and everything needed for readiness synced. */
  ready: boolean;
  connected: boolean;
  /** Human-readable progress or outcome, e.g. "waiting for cluster config", "ready", "unreachable: ...". */
  status: string;
  /**
   * Established connections lost (Cilium's failure count, and the time of the last): a remote that stays down
   * counts once, however many reconnection attempts fail meanwhile.
   */
  numFailures: number;
  lastFailure: string | null;
  /** The last error of any kind: a lost connection or a failed attempt (an invalid config, etcd unreachable). */
  lastFailureMessage: string | null;
  config: RemoteConfigView | null;
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
 * The generic lifecycle of one remote cluster, shared by the agent and kvstoremesh: a restartable loop that
 * loads the remote's etcd config file, connects, fetches and validates its cluster config (with the mesh's
 * cluster ID bookkeeping), runs a session (the handler's readers behind their sync canaries, heartbeat, probes)
 * until the connection is lost or the config changes, and reconnects with backoff.
 */
export class RemoteClusterLink {
  readonly name: string;
  private readonly configFile: string;
  private readonly mesh: RemoteClusterMeshView;
  private readonly handler: RemoteClusterHandler;
  private readonly metrics: RemoteClusterLinkMetrics | undefined;
  readonly tuning: RemoteClusterTuning;
  readonly log: Logger;
  private readonly backoff: Backoff;

  private stopping = false;
  private attemptCtl = new AbortController();
  private loop: Promise<void> | undefined;
  /** Work to run between two attempts (e.g. the agent's cache revocation), queued by interrupt(). */
  private readonly between: (() => Promise<void>)[] = [];
  private config: ClusterConfig | undefined;
  private readonly machine = new LinkStateMachine();
  private everConnected = false;
  private statusText = 'waiting for initial connection to be established';
  private failures = 0;
  private lastFailure: Date | undefined;
  private lastFailureMessage: string | undefined;
  private readonly firstReady: Promise<unknown>;

  constructor(opts: RemoteClusterLinkOptions) {
    this.name = opts.name;
    this.configFile = opts.configFile;
    this.mesh = opts.mesh;
    this.handler = opts.handler;
    this.metrics = opts.metrics;
    this.tuning = { ...defaultRemoteClusterTuning(), ...opts.tuning };
    this.backoff = new Backoff(this.tuning.backoff);
    this.log = opts.log ?? log.child({ clusterName: this.name, config: this.configFile });
    this.machine.subscribe((from, to, reason) => {
      // While the remote stays away, each retry goes unreachable -> connecting -> unreachable: debug, not info.
      const retrying =
        (from === 'unreachable' && to === 'connecting') || (from === 'connecting' && to === 'unreachable');
      this.log[retrying ? 'debug' : 'info']({ from, to, reason }, `remote cluster link ${to}`);
      this.metrics?.transition(from, to);
      if (from === 'ready' || to === 'ready') this.metrics?.setReady(to === 'ready');
    });
    this.firstReady = this.machine.until((s) => s === 'ready' || s === 'removed');
    this.metrics?.setReady(false);
  }

  /** Resolves the first time the remote is ready, or when it is stopped. */
  async whenReady(): Promise<void> {
    await this.firstReady;
  }

  /** The link's state: one of connecting, syncing, ready, unreachable, draining, removed. */
  get linkState(): RemoteLinkState {
    return this.machine.state;
  }

  /** Tells `listener` of every state transition; the returned function unsubscribes. */
  subscribe(listener: LinkStateListener): () => void {
    return this.machine.subscribe(listener);
  }

  get isReady(): boolean {
    return this.machine.state === 'ready';
  }

  /** The remote's etcd answered in the current attempt (the session may still be syncing). */
  private get connected(): boolean {
    const s = this.machine.state;
    return s === 'syncing' || s === 'ready';
  }

  /** Whether a session ever started (the remote's config was retrieved and accepted). */
  get hasConnected(): boolean {
    return this.everConnected;
  }

  get currentConfig(): ClusterConfig | undefined {
    return this.config;
  }

  status(): RemoteLinkStatus {
    return {
      name: this.name,
      ready: this.isReady,
      connected: this.connected,
      status: this.statusText,
      numFailures: this.failures,
      lastFailure: this.lastFailure?.toISOString() ?? null,
      lastFailureMessage: this.lastFailureMessage ?? null,
      config: remoteConfigView(this.config),
    };
  }

  /** Replaces the status line (the handler's own progress or outcome). */
  setStatus(text: string): void {
    this.statusText = text;
  }

  start(): void {
    if (this.loop || this.stopping) return;
    this.log.info('connecting to remote cluster');
    this.loop = this.run().catch((err: unknown) => {
      this.log.error({ err }, 'remote cluster loop failed');
    });
  }

  /** The config file changed: reconnect with its new content. */
  restart(): void {
    if (this.stopping) return;
    this.log.info('etcd configuration changed; re-creating the connection');
    this.backoff.reset();
    this.attemptCtl.abort();
  }

  /** Ends the current attempt and runs `task` before the next one (reconnecting right after it). */
  interrupt(task: () => Promise<void>): void {
    if (this.stopping) return;
    this.between.push(task);
    this.attemptCtl.abort();
  }

  /**
   * Stops the loop (draining), runs `finish` (the component's own teardown: drain or keep what the remote
   * delivered), and ends the link (removed). The handler's readers are left as they are (the session stopped them).
   */
  async stop(finish?: () => Promise<void>): Promise<void> {
    this.stopping = true;
    this.enter('draining', 'stopped');
    this.attemptCtl.abort();
    await this.loop;
    this.statusText = 'stopped';
    try {
      await finish?.();
    } finally {
      this.enter('removed', 'stopped');
    }
  }

  /**
   * Moves the state machine, unless the link is being stopped: the loop's late reports (a failure the abort
   * caused) must not pull a draining link back. An illegal transition throws (a bug in this class).
   */
  private enter(to: RemoteLinkState, reason: string): void {
    const s = this.machine.state;
    if ((s === 'draining' || s === 'removed') && to !== 'removed') return;
    this.machine.transition(to, reason);
  }

  /** A connection attempt failed: status line, last error and a warning; not counted (see numFailures). */
  private attemptFailed(message: string): void {
    this.lastFailureMessage = message;
    this.statusText = message;
    this.enter('unreachable', message);
    this.log.warn({ failures: this.failures }, message);
  }

  private isStopping(): boolean {
    return this.stopping;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      const ctl = new AbortController();
      this.attemptCtl = ctl;
      this.enter('connecting', 'connection attempt');
      let retryNow = false;
      try {
        retryNow = await this.attempt(ctl.signal);
      } catch (err) {
        this.attemptFailed(`unexpected error: ${toError(err).message}`);
        this.log.error({ err }, 'remote cluster connection attempt failed unexpectedly');
      }
      if (this.isStopping()) break;
      // Aborted (config file change, cache revocation) or the cluster config changed: the next attempt starts now.
      if (this.connected) this.enter('connecting', 'reconnecting');
      for (const task of this.between.splice(0)) {
        try {
          await task();
        } catch (err) {
          this.log.error({ err }, 'remote cluster task failed');
        }
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
      this.attemptFailed(`invalid etcd config file: ${toError(err).message}`);
      return false;
    }
    if (signal.aborted) return true;
    let client: Etcd3;
    try {
      client = createEtcdClient(etcdOpts);
    } catch (err) {
      this.attemptFailed(`invalid etcd config file: ${toError(err).message}`);
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
        this.attemptFailed(`invalid cluster config: ${toError(err).message}`);
        return false;
      }
      // Claimed in the same turn as the check, so that two remotes cannot both pass it with the same ID.
      this.mesh.claimClusterId(this.name, cfg.id);
      let work: RemoteSessionWork;
      try {
        work = await this.handler.prepare(cfg);
      } catch (err) {
        if (aborted(signal)) return true;
        this.attemptFailed(`cannot prepare for the remote cluster: ${toError(err).message}`);
        return false;
      }
      if (aborted(signal)) return true;
      this.config = cfg;
      this.everConnected = true;
      handedOver = true;
      const session = new RemoteSession({
        ...this.tuning,
        cluster: this.name,
        client,
        config: cfg,
        work,
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
      this.attemptFailed(
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
      this.enter('syncing', 'remote etcd answered');
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

  private markReady(): void {
    this.backoff.reset();
    this.statusText = 'ready';
    this.enter('ready', 'initial sync done');
    this.handler.onReady?.();
  }

  /** Called by the session the moment it detects the loss. */
  private lost(reason: string): void {
    this.log.warn({ reason }, 'connection to remote cluster lost; reconnecting');
    this.enter('unreachable', reason);
    this.handler.onLost?.(reason);
    this.failures++;
    this.lastFailure = new Date();
    this.metrics?.setFailures(this.failures, this.lastFailure);
    this.attemptFailed(`unreachable: ${reason}; reconnecting`);
  }
}
