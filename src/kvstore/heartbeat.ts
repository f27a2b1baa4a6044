import type { Etcd3 } from 'etcd3';
import { logger } from '../observe/logger.js';
import type { LeaseManager } from './lease.js';
import { ListWatcher } from './list-watcher.js';
import { SyncStore, rfc3339Now } from './sync-store.js';

/** Cilium's heartbeat key: the clustermesh-apiserver rewrites it every minute. */
export const HEARTBEAT_KEY = 'cilium/.heartbeat';
export const HEARTBEAT_INTERVAL_MS = 60_000;
/** Readers consider a remote stale after this long without a heartbeat update (Cilium: 2 minutes). */
export const HEARTBEAT_STALE_AFTER_MS = 2 * 60_000;

const log = logger('kvstore-heartbeat');

export interface HeartbeatWriterOptions {
  clusterName: string;
  /** Lease shared with the other stores of the process; a private one when unset. */
  lease?: LeaseManager;
  leaseTtlSeconds?: number;
  intervalMs?: number;
}

/** Writes `cilium/.heartbeat` = RFC3339 time under a lease, now and then every interval. */
export class HeartbeatWriter {
  private readonly store: SyncStore;
  private readonly key: string;
  private readonly intervalMs: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(client: Etcd3, opts: HeartbeatWriterOptions) {
    const [prefix, key] = splitKey(HEARTBEAT_KEY);
    this.key = key;
    this.store = new SyncStore(client, {
      prefix,
      clusterName: opts.clusterName,
      ...(opts.lease ? { lease: opts.lease } : {}),
      ...(opts.leaseTtlSeconds ? { leaseTtlSeconds: opts.leaseTtlSeconds } : {}),
    });
    this.intervalMs = opts.intervalMs ?? HEARTBEAT_INTERVAL_MS;
  }

  start(): void {
    if (this.timer) return;
    this.beat();
    this.timer = setInterval(() => {
      this.beat();
    }, this.intervalMs);
  }

  /** Resolves when the latest heartbeat has been written. */
  flush(): Promise<void> {
    return this.store.flush();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.store.close();
  }

  private beat(): void {
    this.store.upsert(this.key, rfc3339Now());
  }
}

function splitKey(key: string): [string, string] {
  const i = key.lastIndexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
}

export interface HeartbeatState {
  /** True when no heartbeat update arrived for `staleAfterMs` (or none at all since the watch started). */
  stale: boolean;
  /** The last heartbeat value read (the writer's RFC3339 time), if any. */
  lastValue: string | undefined;
  /** Local time (ms since epoch) the last update was received. */
  lastSeenAt: number | undefined;
}

export interface HeartbeatWatcherOptions {
  staleAfterMs?: number;
  /** Called on every change of `stale`. */
  onChange?: (state: HeartbeatState) => void;
}

/**
 * Watches `cilium/.heartbeat` and reports the connection stale when it has not been updated for `staleAfterMs`.
 * Any write counts, including the value found by the initial list; a deleted key (lease expired) does not.
 */
export class HeartbeatWatcher {
  private readonly watcher: ListWatcher;
  private readonly staleAfterMs: number;
  private readonly onChange: ((state: HeartbeatState) => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private current: HeartbeatState = { stale: false, lastValue: undefined, lastSeenAt: undefined };

  constructor(client: Etcd3, opts: HeartbeatWatcherOptions = {}) {
    this.staleAfterMs = opts.staleAfterMs ?? HEARTBEAT_STALE_AFTER_MS;
    this.onChange = opts.onChange;
    this.watcher = new ListWatcher(client, HEARTBEAT_KEY, {
      onUpsert: (kv) => {
        if (kv.key === HEARTBEAT_KEY) this.seen(kv.value.toString());
      },
      onDelete: () => undefined,
    });
  }

  get state(): HeartbeatState {
    return { ...this.current };
  }

  start(): void {
    this.watcher.start();
    this.arm();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.watcher.stop();
  }

  private seen(value: string): void {
    this.current = { ...this.current, lastValue: value, lastSeenAt: Date.now() };
    this.setStale(false);
    this.arm();
  }

  private arm(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      log.warn({ last: this.current.lastValue }, 'no heartbeat update received; remote considered stale');
      this.setStale(true);
    }, this.staleAfterMs);
  }

  private setStale(stale: boolean): void {
    if (this.current.stale === stale) return;
    this.current = { ...this.current, stale };
    this.onChange?.({ ...this.current });
  }
}

/** Starts a HeartbeatWatcher; returns it for stop() and state. */
export function watchHeartbeat(client: Etcd3, opts: HeartbeatWatcherOptions = {}): HeartbeatWatcher {
  const w = new HeartbeatWatcher(client, opts);
  w.start();
  return w;
}
