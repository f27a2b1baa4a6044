/** One key/value as read from etcd, with the revisions that order it. */
export interface KeyValue {
  key: string;
  value: Buffer;
  /** Revision of the last change to this key; events for one prefix arrive in increasing modRevision. */
  modRevision: number;
  createRevision: number;
  /** Lease ID as a decimal string, '0' when none. */
  lease: string;
}

/**
 * What a ListWatcher delivers. Methods may return a promise: the list-watcher awaits it before delivering the next
 * event, which gives consumers backpressure (a kvstoremesh writing each event to another etcd).
 */
export interface ListWatchHandler {
  /** A list starts (first list, or re-list after compaction): what follows up to onListDone is a full snapshot. */
  onListStart?(): void | Promise<void>;
  /** A key was created or changed (or is part of a listed snapshot). */
  onUpsert(kv: KeyValue): void | Promise<void>;
  /** A key was deleted, or vanished from history during a compaction re-list (a synthetic delete). */
  onDelete(key: string, modRevision: number): void | Promise<void>;
  /** The snapshot has been delivered completely as of `revision`; watching continues from revision + 1. */
  onListDone?(revision: number): void | Promise<void>;
  /** A connection error; the list-watcher retries by itself with backoff. Informational. */
  onError?(err: Error): void;
}
