import type { Etcd3 } from 'etcd3';
import { WatchStore, type ListWatcherOptions } from '../../kvstore/index.js';
import {
  decodeClusterService,
  decodeIPIdentityPair,
  decodeIdentityEntry,
  decodeNode,
  decodeServiceExport,
  resourceWatchPrefix,
  validateRemoteIdentity,
  validateRemoteIpcacheEntry,
  validateRemoteNode,
  validateRemoteService,
  validateRemoteServiceExport,
  type ClusterService,
  type IPIdentityPair,
  type IdentityEntry,
  type MeshResource,
  type Node,
  type RemoteClusterIdentity,
  type ServiceExport,
} from '../../wire/index.js';
import type { RemoteClusterSink } from './remote-cluster-types.js';

/** The stores this reader always has (a remote session waits for what the remote's config offers; see readinessStores). */
export const READINESS_RESOURCES: readonly MeshResource[] = ['nodes', 'services', 'identities', 'ip'];

export interface RemoteStoresOptions {
  cluster: string;
  /** Read `cilium/cache/...` (a kvstoremesh copy) instead of `cilium/state/...`. */
  cached: boolean;
  serviceExports: boolean;
  /** The remote's current identity (name, ID, layout) every entry is validated against. */
  identity: () => RemoteClusterIdentity;
  sink: RemoteClusterSink;
  /** Called for every entry rejected by decoding or validation (the WatchStore logs and counts it too). */
  onInvalid: (resource: MeshResource, suffix: string, err: unknown) => void;
  listWatcher?: ListWatcherOptions;
}

/**
 * The WatchStores of one remote for one read mode (direct or cached), each decoding and validating its
 * entries against the remote and feeding the sink. They outlive connections: each connection starts a new
 * session on them, and their stale-entry GC makes the sink converge to the remote's content.
 */
export class RemoteStores {
  readonly cached: boolean;
  readonly nodes: WatchStore<Node>;
  readonly services: WatchStore<ClusterService>;
  readonly identities: WatchStore<IdentityEntry>;
  readonly ip: WatchStore<IPIdentityPair>;
  private serviceExportStore: WatchStore<ServiceExport> | undefined;
  private syncListener: (() => void) | undefined;

  constructor(private readonly opts: RemoteStoresOptions) {
    this.cached = opts.cached;
    const { cluster, sink } = opts;
    this.nodes = this.make<Node>(
      'nodes',
      (suffix, value) => validateRemoteNode(suffix, decodeNode(value), opts.identity()),
      {
        onUpsert: (_s, node) => {
          sink.upsertNode(cluster, node);
        },
        onDelete: (_s, prev) => {
          sink.deleteNode(cluster, prev.Name);
        },
      },
    );
    this.services = this.make<ClusterService>(
      'services',
      (suffix, value) => validateRemoteService(suffix, decodeClusterService(value), opts.identity()),
      {
        onUpsert: (_s, svc) => {
          sink.upsertService(cluster, svc);
        },
        onDelete: (_s, prev) => {
          sink.deleteService(cluster, prev.namespace, prev.name);
        },
      },
    );
    this.identities = this.make<IdentityEntry>(
      'identities',
      (suffix, value) => validateRemoteIdentity(decodeIdentityEntry(suffix, value), opts.identity()),
      {
        onUpsert: (_s, entry) => {
          sink.upsertIdentity(cluster, entry.id, entry.labels);
        },
        onDelete: (_s, prev) => {
          sink.deleteIdentity(cluster, prev.id);
        },
      },
    );
    this.ip = this.make<IPIdentityPair>(
      'ip',
      (suffix, value) => validateRemoteIpcacheEntry(suffix, decodeIPIdentityPair(value, suffix), opts.identity()),
      {
        onUpsert: (suffix, entry) => {
          sink.upsertIpcache(cluster, suffix, entry);
        },
        onDelete: (suffix) => {
          sink.deleteIpcache(cluster, suffix);
        },
      },
    );
    if (opts.serviceExports) this.serviceExportStore = this.makeServiceExports();
  }

  get serviceExports(): WatchStore<ServiceExport> | undefined {
    return this.serviceExportStore;
  }

  /** The stores in use, in the order they are started without canaries. */
  resources(): MeshResource[] {
    return this.serviceExportStore ? [...READINESS_RESOURCES, 'serviceexports'] : [...READINESS_RESOURCES];
  }

  store(resource: MeshResource): WatchStore<unknown> | undefined {
    switch (resource) {
      case 'nodes':
        return this.nodes;
      case 'services':
        return this.services;
      case 'identities':
        return this.identities;
      case 'ip':
        return this.ip;
      case 'serviceexports':
        return this.serviceExportStore;
    }
  }

  /** Starts a session of `resource`'s store on `client`, unless one runs already. */
  start(resource: MeshResource, client: Etcd3): void {
    const s = this.store(resource);
    if (s && !s.isWatching) s.watch(client);
  }

  isSynced(resource: MeshResource): boolean {
    return this.store(resource)?.isSynced ?? false;
  }

  setSyncListener(listener: (() => void) | undefined): void {
    this.syncListener = listener;
  }

  /**
   * Every resource needed for readiness synced in the current session, and so did the service exports when their
   * store runs in it: readiness is pushed the moment the last store lists, and a status read then must not find a
   * store that started with the others still listing.
   */
  get ready(): boolean {
    if (!READINESS_RESOURCES.every((r) => this.isSynced(r))) return false;
    const exports = this.serviceExportStore;
    return !exports?.isWatching || exports.isSynced;
  }

  /** Turns the service export store on or off to follow the remote's config. */
  async setServiceExports(enabled: boolean): Promise<void> {
    if (enabled && !this.serviceExportStore) this.serviceExportStore = this.makeServiceExports();
    if (!enabled && this.serviceExportStore) {
      const s = this.serviceExportStore;
      this.serviceExportStore = undefined;
      await s.drain();
    }
  }

  get sharedServices(): number {
    let n = 0;
    for (const [, svc] of this.services.entries()) if (svc.shared) n++;
    return n;
  }

  /**
   * Ends the current sessions; cached entries stay for the next session to reconcile. The stop flags are set
   * synchronously, so that a caller may close the client right after calling this (which unblocks pending calls).
   */
  stopAll(): Promise<void> {
    return Promise.all(this.all().map((s) => s.stop())).then(() => undefined);
  }

  /** Stops and deletes every entry through the sink (the remote left, changed ID, or its cache was revoked). */
  async drainAll(): Promise<void> {
    for (const s of this.all()) await s.drain();
  }

  private all(): WatchStore<unknown>[] {
    const out: WatchStore<unknown>[] = [this.nodes, this.services, this.identities, this.ip];
    if (this.serviceExportStore) out.push(this.serviceExportStore);
    return out;
  }

  private makeServiceExports(): WatchStore<ServiceExport> {
    // The tables side has no use for exports yet; they are read so that their sync is tracked, as Cilium does.
    return this.make<ServiceExport>('serviceexports', (suffix, value) =>
      validateRemoteServiceExport(suffix, decodeServiceExport(value), this.opts.identity()),
    );
  }

  private make<T>(
    resource: MeshResource,
    decode: (suffix: string, value: Buffer) => T,
    observer?: { onUpsert(suffix: string, value: T): void; onDelete(suffix: string, prev: T): void },
  ): WatchStore<T> {
    return new WatchStore<T>({
      prefix: resourceWatchPrefix(resource, this.opts.cluster, this.opts.cached),
      clusterName: this.opts.cluster,
      decode: (suffix, value) => {
        try {
          return decode(suffix, value);
        } catch (err) {
          this.opts.onInvalid(resource, suffix, err);
          throw err;
        }
      },
      ...(observer ? { observer } : {}),
      onSessionSynced: () => {
        this.syncListener?.();
      },
      ...(this.opts.listWatcher ? { listWatcher: this.opts.listWatcher } : {}),
    });
  }
}
