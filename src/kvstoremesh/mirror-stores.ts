import type { Etcd3 } from 'etcd3';
import { copyBytes, SyncStore, WatchStore, type ByteString, type LeaseManager } from '../kvstore/index.js';
import type { RemoteSessionWork } from '../kvstore/remote/index.js';
import { MalformedValueError, storePrefix, type MeshResource } from '../wire/index.js';
import { copyPrefixes } from './cache-layout.js';

/** Always copied; serviceexports only when the remote supports them. */
export const BASE_RESOURCES: readonly MeshResource[] = ['nodes', 'services', 'identities', 'ip'];

/**
 * Checks only the key layout (a kvstoremesh copies values as they are, byte for byte; validating them is the
 * reader's job): the suffix must name an entry below the prefix. Returns a copy of the value: the value read is a
 * view into the whole watch or list response, which the cache and the SyncStore would otherwise keep alive.
 */
function checkKeyLayout(suffix: string, value: Buffer): ByteString {
  if (suffix === '' || suffix.startsWith('/') || suffix.endsWith('/') || suffix.includes('//')) {
    throw new MalformedValueError(`key suffix ${JSON.stringify(suffix)} does not name an entry`);
  }
  return copyBytes(value);
}

/**
 * One resource of one remote: a WatchStore on the remote feeding a SyncStore on the local etcd. The SyncStore
 * lives as long as the remote is configured (prime() makes a restarted kvstoremesh reuse what it wrote before);
 * the WatchStore is replaced when the source prefix changes (the remote became a cache, or changed cluster ID),
 * and its first list then removes what the previous source delivered and the new one does not have.
 */
export class MirrorResource {
  readonly resource: MeshResource;
  readonly target: SyncStore;
  readonly targetPrefix: string;
  private source: WatchStore<ByteString> | undefined;
  private sourcePrefix: string | undefined;
  private primed: Promise<void> | undefined;

  constructor(
    local: Etcd3,
    lease: LeaseManager,
    private readonly remote: string,
    resource: MeshResource,
    /** Told whenever isSynced may have turned true (the source listed, or the canary written). */
    private readonly onSyncChange: () => void = () => undefined,
  ) {
    this.resource = resource;
    this.targetPrefix = copyPrefixes(resource, remote, false).target;
    this.target = new SyncStore(local, {
      prefix: this.targetPrefix,
      clusterName: remote,
      lease,
      syncedKey: storePrefix(resource, true),
    });
  }

  /** Readies the resource for a session reading with `sourceCached`; resolves once the target is primed. */
  async prepare(sourceCached: boolean, epoch: number): Promise<void> {
    this.primed ??= this.target.prime().catch((err: unknown) => {
      this.primed = undefined;
      throw err;
    });
    await this.primed;
    const prefix = copyPrefixes(this.resource, this.remote, sourceCached).source;
    const key = `${epoch}:${prefix}`;
    if (this.source && this.sourcePrefix === key) return;
    await this.source?.stop();
    this.sourcePrefix = key;
    const replacing = this.source !== undefined;
    const source: WatchStore<ByteString> = new WatchStore<ByteString>({
      prefix,
      clusterName: this.remote,
      decode: checkKeyLayout,
      observer: {
        onUpsert: (suffix, value) => {
          this.target.upsertBytes(suffix, value);
        },
        onDelete: (suffix) => {
          this.target.delete(suffix);
        },
      },
      onSessionSynced: () => {
        this.onSyncChange();
      },
      onSynced: () => {
        if (replacing) {
          for (const k of [...this.target.keys()]) if (!source.has(k)) this.target.delete(k);
        }
        // Resolves when the canary is written; isSynced reports it.
        void this.target.synced().then(() => {
          this.onSyncChange();
        });
      },
    });
    this.source = source;
  }

  get entries(): number {
    return this.target.size;
  }

  start(client: Etcd3): void {
    if (this.source && !this.source.isWatching) this.source.watch(client);
  }

  /** Copied in the current session: the source listed, and the canary written. */
  get isSynced(): boolean {
    return (this.source?.isSynced ?? false) && this.target.isSynced;
  }

  /** Ends the source's session (stop flags set synchronously); the copies stay. */
  stop(): Promise<void> {
    return this.source?.stop() ?? Promise.resolve();
  }

  /** Stops reading and lets the copies go: the local keys stay (until deleted or their lease ends). */
  async close(): Promise<void> {
    await this.stop();
    await this.target.close();
  }

  /** Stops reading and deletes the copies and the canary (the remote no longer offers the resource). */
  async drain(): Promise<void> {
    await this.stop();
    await this.target.drain();
    await this.target.close();
  }
}

/** The copying stores of one remote, as the session runs them. */
export class MirrorStores implements RemoteSessionWork {
  cached = false;
  private readonly byResource = new Map<MeshResource, MirrorResource>();
  private serviceExportsReady = false;
  private epoch = 0;
  private syncListener: (() => void) | undefined;
  private readonly syncChanged = (): void => {
    this.syncListener?.();
  };

  constructor(
    private readonly local: Etcd3,
    private readonly lease: LeaseManager,
    private readonly remote: string,
  ) {
    for (const r of BASE_RESOURCES)
      this.byResource.set(r, new MirrorResource(local, lease, remote, r, this.syncChanged));
  }

  /**
   * Follows the remote's config: its read mode (direct or cache), service export support, and its cluster ID
   * (a new ID re-reads everything, as data of the old ID must not survive the first list of the new one).
   */
  async prepare(opts: { cached: boolean; serviceExports: boolean | undefined; idChanged: boolean }): Promise<void> {
    if (opts.idChanged) this.epoch++;
    this.cached = opts.cached;
    const supported = opts.serviceExports !== undefined;
    const se = this.byResource.get('serviceexports');
    if (supported && !se) {
      this.byResource.set(
        'serviceexports',
        new MirrorResource(this.local, this.lease, this.remote, 'serviceexports', this.syncChanged),
      );
    } else if (!supported && se) {
      this.byResource.delete('serviceexports');
      await se.drain();
    }
    // A remote that supports exports but has them off writes no export canary: readiness does not wait for it.
    this.serviceExportsReady = opts.serviceExports === true;
    for (const m of this.byResource.values()) await m.prepare(opts.cached, this.epoch);
  }

  resources(): readonly MeshResource[] {
    return [...this.byResource.keys()];
  }

  get(resource: MeshResource): MirrorResource | undefined {
    return this.byResource.get(resource);
  }

  start(resource: MeshResource, client: Etcd3): void {
    this.byResource.get(resource)?.start(client);
  }

  isSynced(resource: MeshResource): boolean {
    return this.byResource.get(resource)?.isSynced ?? false;
  }

  get ready(): boolean {
    const needed = this.serviceExportsReady ? [...BASE_RESOURCES, 'serviceexports' as const] : BASE_RESOURCES;
    return needed.every((r) => this.isSynced(r));
  }

  /** Whether every resource's canary has been written once (the copies are complete as of some point). */
  get canariesWritten(): boolean {
    const needed = this.serviceExportsReady ? [...BASE_RESOURCES, 'serviceexports' as const] : BASE_RESOURCES;
    return needed.every((r) => this.byResource.get(r)?.target.isSynced ?? false);
  }

  stopAll(): Promise<void> {
    return Promise.all([...this.byResource.values()].map((m) => m.stop())).then(() => undefined);
  }

  setSyncListener(listener: (() => void) | undefined): void {
    this.syncListener = listener;
  }

  /** Stops reading; the copies stay in the local etcd. */
  async closeAll(): Promise<void> {
    await Promise.all([...this.byResource.values()].map((m) => m.close()));
  }
}
