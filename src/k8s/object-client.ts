/**
 * What components read and write cluster state with, whichever store holds it: ObjectStore (a local cluster's
 * state etcd) and KubeObjectClient (a Kubernetes API server) implement it with the same signatures and the same
 * error classes (errors.ts), so that callers do not change with the source.
 */
import type { AnyObject, K8sObject, KindName, LabelSelector, ObjectOf } from './types.js';

export interface ListOptions {
  /** Only this namespace (namespaced kinds); all namespaces when unset. */
  namespace?: string;
  /** String form (`app=web,tier!=db`) or structured. */
  labelSelector?: string | LabelSelector;
}

export interface ListResult<T> {
  items: T[];
  /** The resourceVersion the list was read at; a watch from here misses nothing. */
  resourceVersion: string;
}

export type ApplyAction = 'created' | 'configured' | 'unchanged';

export interface ApplyResult<T extends K8sObject = AnyObject> {
  /** The object as stored, with its resourceVersion. */
  object: T;
  action: ApplyAction;
}

export interface ApplyAllOptions {
  /** Where each object came from (`web.yaml: document 2 (line 14)`), used in error messages. */
  locations?: readonly (string | undefined)[];
}

export interface DeleteOptions {
  /** Only delete this version of the object (ConflictError otherwise). */
  resourceVersion?: string;
}

export interface ObjectClient {
  /** The object, or undefined when it does not exist. */
  get<K extends KindName>(kind: K, namespace: string | undefined, name: string): Promise<ObjectOf<K> | undefined>;
  /** Objects of a kind, in one consistent read. */
  list<K extends KindName>(kind: K, opts?: ListOptions): Promise<ListResult<ObjectOf<K>>>;
  /** Creates an object; AlreadyExistsError when one of that kind, namespace and name exists. */
  create<T extends AnyObject>(obj: T): Promise<T>;
  /**
   * Replaces an existing object (NotFoundError otherwise). With metadata.resourceVersion set, only if the object
   * is still at that version (ConflictError otherwise).
   */
  update<T extends AnyObject>(obj: T): Promise<T>;
  /** Replaces only the status of an existing object; same concurrency rules as update. */
  updateStatus<T extends AnyObject>(obj: T): Promise<T>;
  /** Creates or changes an object to match `obj`; action 'unchanged' when nothing had to be written. */
  apply<T extends AnyObject>(obj: T): Promise<ApplyResult<T>>;
  /**
   * Applies the objects of one manifest, all or nothing as far as checks go: every object is checked first
   * (InvalidObjectsError naming each bad one with its location; nothing written), then written.
   */
  applyAll(objects: readonly unknown[], opts?: ApplyAllOptions): Promise<ApplyResult[]>;
  /** Deletes an object; returns it as it was, or undefined when it did not exist. */
  delete<K extends KindName>(
    kind: K,
    namespace: string | undefined,
    name: string,
    opts?: DeleteOptions,
  ): Promise<ObjectOf<K> | undefined>;
  /** Deletes the objects a manifest names (kind, namespace and name of each); returns, per object, whether it existed. */
  deleteAll(objects: readonly K8sObject[]): Promise<boolean[]>;
}
