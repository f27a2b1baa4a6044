/**
 * The `local` cluster source: informers over the objects a local cluster keeps in its state etcd, fed by the
 * kvstore ListWatcher (which resumes watches after errors and re-lists after compactions, delivering only
 * differences).
 */
import type { Etcd3 } from 'etcd3';
import { ListWatcher, type ListWatcherOptions } from '../kvstore/list-watcher.js';
import type { KeyValue, ListWatchHandler } from '../kvstore/types.js';
import { logger } from '../observe/logger.js';
import { decodeObject } from './codec.js';
import { objectRef } from '../wire/object-ref.js';
import { kindPrefix, objectKeyParser, REGISTRY_PREFIX, type ParsedObjectKey } from './keys.js';
import { toMatcher, type LabelMatcher } from './label-selector.js';
import { invalidObjects } from './metrics.js';
import { InformerDispatcher, type InformerEventType } from './informer-dispatch.js';
import type { ClusterSource, Informer, InformerHandler, InformerOptions } from './source.js';
import { KINDS, type KindName, type ObjectOf } from './types.js';

const log = logger('k8s-local-source');

export interface LocalSourceOptions {
  /** Key prefix of the registry; `/registry/` by default. */
  prefix?: string;
  listWatcher?: ListWatcherOptions;
}

export class LocalClusterSource implements ClusterSource {
  readonly type = 'local' as const;
  private readonly informers = new Set<LocalInformer<KindName>>();
  private closed = false;

  constructor(
    private readonly client: Etcd3,
    private readonly opts: LocalSourceOptions = {},
  ) {}

  informer<K extends KindName>(kind: K, opts: InformerOptions = {}): Informer<ObjectOf<K>> {
    if (this.closed) throw new Error('LocalClusterSource is closed');
    const inf = new LocalInformer(this.client, kind, opts, this.opts);
    this.informers.add(inf);
    return inf;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.informers].map((i) => i.stop()));
    this.informers.clear();
  }
}

export class LocalInformer<K extends KindName> implements Informer<ObjectOf<K>> {
  readonly synced: Promise<void>;
  private resolveSynced!: () => void;
  private isSynced = false;
  /** objectRef (namespace/name) -> cached object. */
  private readonly cache = new Map<string, ObjectOf<K>>();
  private readonly dispatcher: InformerDispatcher<ObjectOf<K>>;
  private readonly watcher: ListWatcher;
  private readonly match: LabelMatcher;
  private readonly root: string;
  private readonly parseKey: (key: string) => ParsedObjectKey | undefined;
  private readonly caching: boolean;
  private started = false;
  private stopped = false;

  constructor(
    client: Etcd3,
    readonly kind: K,
    private readonly opts: InformerOptions,
    sourceOpts: LocalSourceOptions,
  ) {
    if (opts.namespace && !KINDS[kind].namespaced) {
      throw new Error(`${kind} is cluster-scoped: an informer over it cannot be limited to a namespace`);
    }
    this.root = sourceOpts.prefix ?? REGISTRY_PREFIX;
    this.match = toMatcher(opts.labelSelector);
    this.parseKey = objectKeyParser(kind, this.root);
    this.caching = opts.cache ?? true;
    this.dispatcher = new InformerDispatcher(kind, log);
    this.synced = new Promise((resolve) => {
      this.resolveSynced = resolve;
    });
    const handler: ListWatchHandler = {
      onUpsert: (kv) => this.upsert(kv),
      onDelete: (key) => this.remove(key),
      onListDone: () =>
        this.dispatcher.enqueueTask(() => {
          this.markSynced();
        }),
      onError: (err) => {
        log.debug({ kind, err: err.message }, 'state store connection interrupted; retrying');
      },
    };
    this.watcher = new ListWatcher(
      client,
      kindPrefix(kind, opts.namespace, this.root),
      handler,
      sourceOpts.listWatcher ?? {},
    );
  }

  on(handler: InformerHandler<ObjectOf<K>>): () => void {
    return this.dispatcher.register(handler, [...this.cache.values()]);
  }

  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.watcher.start();
  }

  hasSynced(): boolean {
    return this.isSynced;
  }

  list(): ObjectOf<K>[] {
    this.assertCaching('list()');
    return [...this.cache.values()];
  }

  get(namespace: string | undefined, name: string): ObjectOf<K> | undefined {
    this.assertCaching('get()');
    return this.cache.get(objectRef(KINDS[this.kind].namespaced ? namespace : undefined, name));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.dispatcher.stop();
    await this.watcher.stop();
    await this.dispatcher.idle();
  }

  private assertCaching(what: string): void {
    if (!this.caching)
      throw new Error(`${what} on a ${this.kind} informer created with cache: false, which keeps no objects`);
  }

  /** What onDelete receives from an informer without a cache: the object's identity only. */
  private stub(where: ParsedObjectKey): ObjectOf<K> {
    const info = KINDS[this.kind];
    const metadata: { name: string; namespace?: string } = { name: where.name };
    if (where.namespace !== undefined) metadata.namespace = where.namespace;
    return { apiVersion: info.apiVersion, kind: this.kind, metadata } as ObjectOf<K>;
  }

  private markSynced(): void {
    if (this.isSynced) return;
    this.isSynced = true;
    this.resolveSynced();
  }

  private upsert(kv: KeyValue): Promise<void> | undefined {
    const where = this.parseKey(kv.key);
    if (!where) {
      invalidObjects().inc({ kind: this.kind });
      log.warn({ key: kv.key, kind: this.kind }, 'ignoring a key that does not name an object');
      return undefined;
    }
    const ref = where.ref;
    let obj: ObjectOf<K>;
    try {
      obj = decodeObject(this.kind, kv.key, kv.value, kv.modRevision, this.root, where);
    } catch (err) {
      invalidObjects().inc({ kind: this.kind });
      log.warn({ key: kv.key, err }, 'ignoring an invalid object in the state store');
      // Whatever was cached under this key is gone: it was replaced by something unusable.
      if (!this.caching) return this.enqueue('delete', this.stub(where), undefined);
      const old = this.cache.get(ref);
      return old ? this.removeRef(ref, old) : undefined;
    }
    if (!this.caching) {
      // The ListWatcher delivers each revision of a key once, so this is a real change.
      if (!this.match(obj.metadata.labels)) return this.enqueue('delete', this.stub(where), undefined);
      return this.enqueue('add', obj, undefined);
    }
    const old = this.cache.get(ref);
    if (!this.match(obj.metadata.labels)) return old ? this.removeRef(ref, old) : undefined;
    if (old?.metadata.resourceVersion === obj.metadata.resourceVersion) return undefined;
    this.cache.set(ref, obj);
    return old ? this.enqueue('update', obj, old) : this.enqueue('add', obj, undefined);
  }

  private remove(key: string): Promise<void> | undefined {
    const where = this.parseKey(key);
    if (!where) return undefined;
    if (!this.caching) return this.enqueue('delete', this.stub(where), undefined);
    const old = this.cache.get(where.ref);
    return old ? this.removeRef(where.ref, old) : undefined;
  }

  private removeRef(ref: string, old: ObjectOf<K>): Promise<void> | undefined {
    this.cache.delete(ref);
    return this.enqueue('delete', old, undefined);
  }

  private enqueue(type: InformerEventType, obj: ObjectOf<K>, old: ObjectOf<K> | undefined): Promise<void> | undefined {
    return this.dispatcher.enqueue(type, obj, old);
  }
}
