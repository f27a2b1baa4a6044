/**
 * How components read a cluster's state: informers over one kind each, as client-go offers them. Two
 * implementations: `local` (the state etcd, local-source.ts) and `kubernetes` (a real cluster through
 * @kubernetes/client-node informers). Consumers code against these interfaces only.
 */
import type { LabelSelector } from './types.js';
import type { K8sObject, KindName, ObjectOf } from './types.js';

/**
 * Change callbacks. Calls are serialized per informer, in the order the changes happened; a returned promise is
 * awaited before the next call (backpressure for consumers that write elsewhere). Objects are the informer's
 * cached instances: never mutate them.
 */
export interface InformerHandler<T extends K8sObject> {
  onAdd?(obj: T): void | Promise<void>;
  /** Called only when the object actually changed (its resourceVersion moved). */
  onUpdate?(obj: T, old: T): void | Promise<void>;
  /** `obj` is the last state the informer knew. */
  onDelete?(obj: T): void | Promise<void>;
}

export interface InformerOptions {
  /** Only objects of this namespace (namespaced kinds). */
  namespace?: string;
  /** Only objects whose labels match; an object that stops matching is delivered as deleted. */
  labelSelector?: string | LabelSelector;
  /**
   * Keep the objects (the default). Without a cache the informer holds no object: list() and get() throw, every
   * creation or change is delivered to onAdd (there is no previous state for onUpdate), onDelete receives a stub
   * with only apiVersion, kind and metadata.name/namespace, and handlers must be registered before start(). For
   * a consumer of a numerous kind that keeps only what it derives: the apiserver's 100k CiliumEndpoints were two
   * thirds of its heap.
   */
  cache?: boolean;
}

/**
 * A cache of one kind, kept current by list+watch. After a lost connection, a server restart or a compaction it
 * re-lists and delivers only the difference: objects deleted meanwhile -> onDelete, changed -> onUpdate,
 * unchanged -> nothing.
 */
export interface Informer<T extends K8sObject> {
  readonly kind: KindName;
  /**
   * Registers a handler. One registered after objects are cached first receives onAdd for each of them (as
   * client-go does), then the changes that follow. Returns a function that unregisters it.
   */
  on(handler: InformerHandler<T>): () => void;
  /** Starts list+watch in the background; idempotent. */
  start(): void;
  /** Resolves once the initial list is cached and delivered to the handlers registered before it completed. */
  readonly synced: Promise<void>;
  hasSynced(): boolean;
  /** Cached objects (a snapshot array; the objects themselves are shared). */
  list(): T[];
  /** A cached object; `namespace` is ignored (pass undefined) for cluster-scoped kinds. */
  get(namespace: string | undefined, name: string): T | undefined;
  /** Stops watching; once resolved, no handler is called again. Idempotent. */
  stop(): Promise<void>;
}

export type SourceKind = 'local' | 'kubernetes';

export interface ClusterSource {
  readonly type: SourceKind;
  /** A new informer (not started) over `kind`; the source stops it on close(). */
  informer<K extends KindName>(kind: K, opts?: InformerOptions): Informer<ObjectOf<K>>;
  /** Stops every informer created by this source. */
  close(): Promise<void>;
}
