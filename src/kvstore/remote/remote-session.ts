/**
 * One connection's worth of work on a remote cluster: the readers behind their sync canaries, the heartbeat and
 * the probes, ending on the first sign of trouble. Readiness is pushed by the readers' sync events.
 */
import type { Etcd3 } from 'etcd3';
import type { Logger } from '../../observe/logger.js';
import {
  clusterConfigKey,
  decodeClusterConfig,
  encodeClusterConfig,
  syncedCanaryKey,
  syncedCanaryPrefix,
  readinessStores,
  CACHE_CANARY_STORES,
  type CanaryStore,
  type ClusterConfig,
  cacheReachabilityKey,
  cacheReachabilityPrefix,
  CACHE_REACHABILITY_WRITER_KEY,
} from '../../wire/index.js';
import { toError } from '../errors.js';
import { HeartbeatWatcher } from '../heartbeat.js';
import { ListWatcher } from '../list-watcher.js';

/**
 * What a session runs on a remote: the per-resource readers of one component (the agent's validating stores,
 * kvstoremesh's copying stores). They outlive connections: each session starts them on its client.
 */
export interface RemoteSessionWork {
  /** Reads `cilium/cache/...` (a kvstoremesh copy): the canaries to wait for are the cache ones. */
  readonly cached: boolean;
  /** The resources read, in the order they are started without canaries. */
  resources(): readonly CanaryStore[];
  /** Starts reading `resource` on `client`, unless it is read already in this session. */
  start(resource: CanaryStore, client: Etcd3): void;
  isSynced(resource: CanaryStore): boolean;
  /** Ends the readers' sessions; their flags must be set synchronously (the client is closed right after). */
  stopAll(): Promise<void>;
  /**
   * Who to tell whenever a resource may have become synced (undefined: nobody). The session sets it while it runs,
   * so that readiness is pushed by the readers rather than polled.
   */
  setSyncListener(listener: (() => void) | undefined): void;
}

/** Why a session ended. */
export type SessionEnd =
  /** The connection is gone (probe failures, stale heartbeat): reconnect with backoff. */
  | { kind: 'lost'; reason: string }
  /** The remote's cluster config changed under a live connection: reconnect at once to re-validate it. */
  | { kind: 'config-changed'; reason: string }
  /** The owner aborted (stop, config file change, cache revocation). */
  | { kind: 'aborted' };

export interface SessionTimings {
  /** A liveness probe (a read of the remote's cluster config key) runs this often. */
  probeIntervalMs: number;
  /** A probe not answered within this counts as failed. */
  probeTimeoutMs: number;
  /** Consecutive failed probes that declare the connection lost (one suffices right after a watch stream error). */
  probeFailureThreshold: number;
  heartbeatStaleMs: number;
}

export interface SessionOptions extends SessionTimings {
  cluster: string;
  client: Etcd3;
  /** The validated config the session was started with. */
  config: ClusterConfig;
  work: RemoteSessionWork;
  signal: AbortSignal;
  log: Logger;
  /** Called synchronously the moment a loss is detected, before teardown. */
  onLost(reason: string): void;
  /** Called once when every store needed for readiness has synced in this session. */
  onReady(): void;
  /** Progress for the status line while not ready. */
  onProgress(status: string): void;
}

/**
 * One connection's worth of work on a remote: starts the readers' sessions (each behind its sync canary when the
 * remote writes them), watches the heartbeat, probes the connection, and ends on the first sign of trouble.
 * The session owns the client: run() closes it before returning.
 */
export class RemoteSession {
  private ended = false;
  private finish!: (end: SessionEnd) => void;
  private readonly done: Promise<SessionEnd>;
  private probeTimer: NodeJS.Timeout | undefined;
  private readyReported = false;
  private probeFailures = 0;
  private probing = false;
  private streamBroken = false;
  private heartbeat: HeartbeatWatcher | undefined;
  private canaries: ListWatcher | undefined;
  private reachability: ListWatcher | undefined;
  private readonly seenCanaries = new Set<CanaryStore>();
  private readonly expectedConfig: string;
  /** What readiness waits for, from the remote's config alone (as Cilium's readers decide it). */
  private readonly required: readonly CanaryStore[];

  constructor(private readonly opts: SessionOptions) {
    this.done = new Promise((resolve) => {
      this.finish = resolve;
    });
    this.expectedConfig = encodeClusterConfig(opts.config);
    this.required = readinessStores(opts.config.capabilities);
  }

  async run(): Promise<SessionEnd> {
    const { signal } = this.opts;
    const onAbort = (): void => {
      this.end({ kind: 'aborted' });
    };
    if (signal.aborted) {
      this.opts.client.close();
      return { kind: 'aborted' };
    }
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      this.startHeartbeat();
      if (this.opts.config.capabilities.cached) this.startReachabilityWatch();
      this.startStores();
      this.scheduleProbe();
      this.opts.work.setSyncListener(() => {
        this.checkReadiness();
      });
      this.checkReadiness();
      return await this.done;
    } finally {
      signal.removeEventListener('abort', onAbort);
      await this.teardown();
    }
  }

  private end(end: SessionEnd): void {
    if (this.ended) return;
    this.ended = true;
    if (end.kind === 'lost') this.opts.onLost(end.reason);
    this.finish(end);
  }

  private startHeartbeat(): void {
    this.heartbeat = new HeartbeatWatcher(this.opts.client, {
      staleAfterMs: this.opts.heartbeatStaleMs,
      onChange: (state) => {
        if (!state.stale) return;
        const last = state.lastValue === undefined ? 'none received' : `last ${state.lastValue}`;
        this.end({
          kind: 'lost',
          reason: `heartbeat stale: no update of cilium/.heartbeat for ${this.opts.heartbeatStaleMs} ms (${last})`,
        });
      },
    });
    this.heartbeat.start();
  }

  /**
   * Reading a KVStoreMesh cache, the connection to the cache says nothing about the remote itself: the marker a cmesh
   * KVStoreMesh keeps while it reaches the remote does. The marker is required only from a writer that announces it
   * keeps markers (its `.writer` key, under its lease): a Cilium KVStoreMesh writes neither, and its cache is read
   * as Cilium's agents read it. Once the writer key was seen in this session, the marker's absence (after the first
   * list), its deletion, or the writer key's deletion (the KVStoreMesh's lease is gone) -> lost.
   */
  private startReachabilityWatch(): void {
    const key = cacheReachabilityKey(this.opts.cluster);
    let writer = false;
    let marker = false;
    let listed = false;
    const lost = (why: string): void => {
      this.end({ kind: 'lost', reason: `KVStoreMesh reports ${this.opts.cluster} unreachable (${why})` });
    };
    this.reachability = new ListWatcher(this.opts.client, cacheReachabilityPrefix(), {
      onUpsert: (kv) => {
        if (kv.key === key) marker = true;
        else if (kv.key === CACHE_REACHABILITY_WRITER_KEY) {
          writer = true;
          // A cmesh KVStoreMesh took over the cache mid-session: from now on its marker is required.
          if (listed && !marker) lost(`no ${key}`);
        }
      },
      onDelete: (k) => {
        if (k === key) {
          marker = false;
          if (writer) lost(`${key} deleted`);
        } else if (k === CACHE_REACHABILITY_WRITER_KEY && writer) {
          lost(`${CACHE_REACHABILITY_WRITER_KEY} deleted`);
        }
      },
      onListDone: () => {
        listed = true;
        if (writer && !marker) lost(`no ${key}`);
      },
    });
    this.reachability.start();
  }

  private startStores(): void {
    const { work, client, config, cluster } = this.opts;
    const gated = config.capabilities.syncedCanaries;
    if (!gated) for (const r of work.resources()) work.start(r, client);
    else this.opts.onProgress('waiting for sync canaries');
    // Each store starts only once the remote announced that store's initial sync: before that, a list would
    // return a partial view, and its stale GC would delete entries the remote still has. The canary watch
    // runs without canaries too: its stream breaks the moment the connection does, which triggers a probe.
    // Stores the work has no reader for (endpoint slices) count as synced once their canary exists.
    const readers = new Set<CanaryStore>(work.resources());
    const byKey = new Map(CACHE_CANARY_STORES.map((r) => [syncedCanaryKey(cluster, r, work.cached), r] as const));
    this.canaries = new ListWatcher(client, syncedCanaryPrefix(cluster), {
      onUpsert: (kv) => {
        const store = byKey.get(kv.key);
        if (!gated || store === undefined || this.ended) return;
        this.seenCanaries.add(store);
        if (readers.has(store)) work.start(store, client);
        this.checkReadiness(); // the status line names the canaries still awaited
      },
      onDelete: () => undefined, // a canary once seen stays valid for the session, as in Cilium
      onError: () => {
        this.streamBroken = true;
        this.probeNow();
      },
    });
    this.canaries.start();
  }

  /** Runs at the start and on every sync event of the readers: reports progress, then readiness once. */
  private checkReadiness(): void {
    if (this.ended || this.readyReported) return;
    if (this.pending().length === 0) {
      this.readyReported = true;
      this.opts.onReady();
      return;
    }
    this.opts.onProgress(this.progress());
  }

  /**
   * The stores readiness still waits for in this session: those the remote's config says it offers (nothing else),
   * each synced by its reader, or, for a store the work has no reader for, announced by its canary.
   */
  private pending(): CanaryStore[] {
    const { work, config } = this.opts;
    const readers = new Set<CanaryStore>(work.resources());
    return this.required.filter((r) =>
      readers.has(r) ? !work.isSynced(r) : config.capabilities.syncedCanaries && !this.seenCanaries.has(r),
    );
  }

  private progress(): string {
    const { config } = this.opts;
    const pending = this.pending();
    if (config.capabilities.syncedCanaries) {
      const noCanary = pending.filter((r) => !this.seenCanaries.has(r));
      if (noCanary.length > 0) return `waiting for sync canaries: ${noCanary.join(', ')}`;
    }
    return `waiting for initial sync: ${pending.join(', ')}`;
  }

  private scheduleProbe(delayMs = this.opts.probeIntervalMs): void {
    clearTimeout(this.probeTimer);
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      this.probing = true;
      void this.probe().finally(() => {
        this.probing = false;
        if (!this.ended) this.scheduleProbe();
      });
    }, delayMs);
  }

  /** Probes at once (unless a probe is in flight, whose result will do). */
  private probeNow(): void {
    if (this.ended || this.probing) return;
    this.scheduleProbe(0);
  }

  private async probe(): Promise<void> {
    const { client, cluster, probeTimeoutMs } = this.opts;
    let value: Buffer | undefined;
    try {
      const res = await client.kv.range(
        { key: Buffer.from(clusterConfigKey(cluster)) },
        { deadline: Date.now() + probeTimeoutMs },
      );
      value = res.kvs[0]?.value;
    } catch (e) {
      if (this.ended) return;
      const err = toError(e);
      this.probeFailures++;
      this.opts.log.debug({ err: err.message, failures: this.probeFailures }, 'etcd probe failed');
      // A broken watch stream plus a failed probe is conclusive; a failed probe alone may be a slow etcd.
      if (this.streamBroken || this.probeFailures >= this.opts.probeFailureThreshold) {
        this.end({ kind: 'lost', reason: `etcd unreachable: ${err.message}` });
      }
      return;
    }
    this.probeFailures = 0;
    this.streamBroken = false;
    // A missing config is transient (the remote's apiserver re-asserts it); only a different one matters.
    if (value === undefined || this.ended) return;
    let current: string;
    try {
      current = encodeClusterConfig(decodeClusterConfig(value));
    } catch {
      current = `malformed: ${value.toString()}`;
    }
    if (current !== this.expectedConfig) {
      this.end({ kind: 'config-changed', reason: `cluster config changed to ${current}` });
    }
  }

  private async teardown(): Promise<void> {
    clearTimeout(this.probeTimer);
    this.opts.work.setSyncListener(undefined);
    // The stops set their flags synchronously; closing the client then fails the calls still pending (a range
    // to an unresponsive etcd would otherwise hold the teardown until its deadline).
    const stopping = Promise.all([
      this.heartbeat?.stop(),
      this.canaries?.stop(),
      this.reachability?.stop(),
      this.opts.work.stopAll(),
    ]);
    this.opts.client.close();
    await stopping;
  }
}
