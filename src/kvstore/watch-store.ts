import type { Etcd3 } from 'etcd3';
import { logger, type Logger } from '../observe/logger.js';
import { ListWatcher, type ListWatcherOptions } from './list-watcher.js';
import { initialSyncCompleted, invalidEntries, scopeFromKey, watchStoreEntries } from './metrics.js';
import type { KeyValue, ListWatchHandler } from './types.js';

/** Receives the typed changes of a WatchStore, in order. */
export interface WatchStoreObserver<T> {
  onUpsert(suffix: string, value: T, prev: T | undefined): void;
  onDelete(suffix: string, prev: T): void;
}

export interface WatchStoreOptions<T> {
  /** The watched prefix; a trailing `/` is added when missing, so that `.../c1` does not match `.../c10`. */
  prefix: string;
  /** Parses and validates one entry; throwing rejects it (skipped with a warning and a metric). */
  decode(suffix: string, value: Buffer): T;
  observer?: WatchStoreObserver<T>;
  /** The cluster the data comes from: labels metrics and logs. */
  clusterName?: string;
  /** Runs once, after the first complete list. */
  onSynced?: () => void;
  /** Runs after the first complete list of every session (each watch(client)), before onSynced. */
  onSessionSynced?: () => void;
  listWatcher?: ListWatcherOptions;
}

/**
 * The read side of a store, as Cilium's restartable watch store: a typed cache of `<prefix><suffix>` entries fed
 * by list+watch sessions. Each session (watch(client), one per etcd connection) starts by marking every cached
 * entry stale; entries not listed again are deleted once the session's first list completes, so after any
 * reconnect the cache converges to exactly what etcd holds. `synced` fires once, after the first list ever.
 */
export class WatchStore<T> {
  readonly prefix: string;
  /** Resolves once, after the first complete list. */
  readonly synced: Promise<void>;
  private resolveSynced!: () => void;
  private syncedOnce = false;
  private sessionSynced = false;
  private readonly cache = new Map<string, T>();
  private stale: Set<string> | undefined;
  private watcher: ListWatcher | undefined;
  private readonly decode: (suffix: string, value: Buffer) => T;
  private readonly observers: WatchStoreObserver<T>[] = [];
  private readonly onSynced: (() => void) | undefined;
  private readonly onSessionSynced: (() => void) | undefined;
  private readonly lwOptions: ListWatcherOptions;
  private readonly labels: { scope: string; source_cluster: string };
  private readonly log: Logger;
  private readonly entriesGauge: { set(value: number): void };
  private gaugeUpdateScheduled = false;

  constructor(opts: WatchStoreOptions<T>) {
    this.prefix = opts.prefix.endsWith('/') ? opts.prefix : `${opts.prefix}/`;
    this.decode = (suffix, value) => opts.decode(suffix, value);
    if (opts.observer) this.observers.push(opts.observer);
    this.onSynced = opts.onSynced;
    this.onSessionSynced = opts.onSessionSynced;
    this.lwOptions = opts.listWatcher ?? {};
    this.labels = { scope: scopeFromKey(this.prefix), source_cluster: opts.clusterName ?? '' };
    this.log = logger('kvstore-watchstore', { prefix: this.prefix, clusterName: opts.clusterName });
    this.entriesGauge = watchStoreEntries().labels(this.labels);
    this.synced = new Promise((resolve) => {
      this.resolveSynced = resolve;
    });
  }

  /** Whether the current session has completed its first list (false between sessions). */
  get isSynced(): boolean {
    return this.sessionSynced;
  }

  get isWatching(): boolean {
    return this.watcher !== undefined;
  }

  get size(): number {
    return this.cache.size;
  }

  get(suffix: string): T | undefined {
    return this.cache.get(suffix);
  }

  has(suffix: string): boolean {
    return this.cache.has(suffix);
  }

  entries(): IterableIterator<[string, T]> {
    return this.cache.entries();
  }

  addObserver(observer: WatchStoreObserver<T>): void {
    this.observers.push(observer);
  }

  /** Starts a list+watch session on `client`. Throws if a session is running: stop() it first. */
  watch(client: Etcd3): void {
    if (this.watcher) throw new Error(`watch store ${this.prefix} is already watching; stop() it first`);
    this.sessionSynced = false;
    this.stale = new Set(this.cache.keys());
    const handler: ListWatchHandler = {
      onUpsert: (kv) => {
        this.handleUpsert(kv);
      },
      onDelete: (key) => {
        this.handleDelete(key.slice(this.prefix.length));
      },
      onListDone: () => {
        this.handleListDone();
      },
    };
    this.watcher = new ListWatcher(client, this.prefix, handler, this.lwOptions);
    this.watcher.start();
    this.log.info('started watch store session');
  }

  /** Ends the current session (if any); cached entries are kept for the next session to reconcile. */
  async stop(): Promise<void> {
    const w = this.watcher;
    if (!w) return;
    await w.stop();
    this.watcher = undefined;
    this.stale = undefined;
    this.sessionSynced = false;
    initialSyncCompleted().set({ ...this.labels, action: 'read' }, 0);
  }

  /** Stops watching and deletes every cached entry, notifying the observers (a remote went away). */
  async drain(): Promise<void> {
    await this.stop();
    for (const suffix of [...this.cache.keys()]) this.handleDelete(suffix);
  }

  private handleUpsert(kv: KeyValue): void {
    const suffix = kv.key.slice(this.prefix.length);
    this.stale?.delete(suffix);
    const prev = this.cache.get(suffix);
    let value: T;
    try {
      value = this.decode(suffix, kv.value);
    } catch (err) {
      invalidEntries().inc(this.labels);
      this.log.warn(
        { key: kv.key, err: (err as Error).message, value: kv.value.toString().slice(0, 512) },
        'skipping invalid kvstore entry',
      );
      // The entry no longer says what it said: its previous valid value must not linger.
      if (prev !== undefined) this.handleDelete(suffix);
      return;
    }
    this.cache.set(suffix, value);
    if (prev === undefined) this.updateEntriesGauge();
    for (const o of this.observers) {
      try {
        o.onUpsert(suffix, value, prev);
      } catch (err) {
        this.observerFailed(err);
      }
    }
  }

  private handleDelete(suffix: string): void {
    const prev = this.cache.get(suffix);
    if (prev === undefined) return;
    this.cache.delete(suffix);
    this.updateEntriesGauge();
    for (const o of this.observers) {
      try {
        o.onDelete(suffix, prev);
      } catch (err) {
        this.observerFailed(err);
      }
    }
  }

  private handleListDone(): void {
    // Later re-lists within the session (after compaction) are reconciled by the list-watcher's synthetic deletes.
    const stale = this.stale;
    this.stale = undefined;
    if (stale) for (const suffix of stale) this.handleDelete(suffix);
    if (!this.sessionSynced) {
      this.sessionSynced = true;
      initialSyncCompleted().set({ ...this.labels, action: 'read' }, 1);
      this.notify(this.onSessionSynced);
    }
    if (!this.syncedOnce) {
      this.syncedOnce = true;
      this.resolveSynced();
      this.notify(this.onSynced);
    }
  }

  private notify(callback: (() => void) | undefined): void {
    if (!callback) return;
    try {
      callback();
    } catch (err) {
      this.observerFailed(err);
    }
  }

  /** Coalesced to one update per macrotask: a per-entry update costs as much as decoding the entry. */
  private updateEntriesGauge(): void {
    if (this.gaugeUpdateScheduled) return;
    this.gaugeUpdateScheduled = true;
    setImmediate(() => {
      this.gaugeUpdateScheduled = false;
      this.entriesGauge.set(this.cache.size);
    });
  }

  private observerFailed(err: unknown): void {
    this.log.error({ err }, 'watch store observer failed');
  }
}
