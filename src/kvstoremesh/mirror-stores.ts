import type { Etcd3 } from 'etcd3';
import { copyBytes, SyncStore, WatchStore, type ByteString, type LeaseManager } from '../kvstore/index.js';
import type { RemoteSessionWork } from '../kvstore/remote/index.js';
import {
  CACHE_CANARY_STORES,
  MalformedValueError,
  storeOffered,
  storePrefix,
  type CanaryStore,
  type ClusterCapabilities,
} from '../wire/index.js';
import { copyPrefixes } from './cache-layout.js';

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
  readonly resource: CanaryStore;
  readonly target: SyncStore;
  readonly targetPrefix: string;
  private readonly suffixPrefix: string;
  private source: WatchStore<ByteString> | undefined;
  private sourcePrefix: string | undefined;
  private primed: Promise<void> | undefined;

  constructor(
    local: Etcd3,
    lease: LeaseManager,
    private readonly remote: string,
    resource: CanaryStore,
    /** Told whenever isSynced may have turned true (the source listed, or the canary written). */
    private readonly onSyncChange: () => void = () => undefined,
  ) {
    this.resource = resource;
    const layout = copyPrefixes(resource, remote, false);
    this.targetPrefix = layout.target;
    this.suffixPrefix = layout.targetSuffixPrefix;
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
    const to = this.suffixPrefix;
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
          this.target.upsertBytes(to + suffix, value);
        },
        onDelete: (suffix) => {
          this.target.delete(to + suffix);
        },
      },
      onSessionSynced: () => {
        this.onSyncChange();
      },
      onSynced: () => {
        if (replacing) {
          for (const k of [...this.target.keys()]) {
            if (!k.startsWith(to) || !source.has(k.slice(to.length))) this.target.delete(k);
          }
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

  /**
   * The remote does not offer the resource (Cilium's disabled reflector): stops reading, deletes the copies, and
   * writes the canary at once (readers of a Cilium-compatible cache expect all six canaries).
   */
  async disable(): Promise<void> {
    await this.stop();
    this.source = undefined;
    this.sourcePrefix = undefined;
    this.primed ??= this.target.prime();
    await this.primed;
    for (const k of [...this.target.keys()]) this.target.delete(k);
    void this.target.synced().then(() => {
      this.onSyncChange();
    });
  }

  /** Stops reading and deletes the copies and the canary. */
  async drain(): Promise<void> {
    await this.stop();
    await this.target.drain();
    await this.target.close();
  }
}

/**
 * The copying stores of one remote, as the session runs them: all six of Cilium's reflectors, each active when the
 * remote's config says it offers that store (see storeOffered), else disabled (its cache emptied and its canary
 * written at once), as Cilium's kvstoremesh does.
 */
export class MirrorStores implements RemoteSessionWork {
  cached = false;
  private readonly byResource = new Map<CanaryStore, MirrorResource>();
  private readonly active = new Set<CanaryStore>();
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
    for (const r of CACHE_CANARY_STORES) this.byResource.set(r, this.make(r));
  }

  private make(r: CanaryStore): MirrorResource {
    return new MirrorResource(this.local, this.lease, this.remote, r, this.syncChanged);
  }

  /**
   * Follows the remote's config: its read mode (direct or cache), the stores it offers, and its cluster ID
   * (a new ID re-reads everything, as data of the old ID must not survive the first list of the new one).
   */
  async prepare(opts: { cached: boolean; capabilities: ClusterCapabilities; idChanged: boolean }): Promise<void> {
    if (opts.idChanged) this.epoch++;
    this.cached = opts.cached;
    for (const r of CACHE_CANARY_STORES) {
      let m = this.byResource.get(r) ?? this.make(r);
      if (storeOffered(opts.capabilities, r)) {
        if (!this.active.has(r) && m.target.isSynced) {
          // Was disabled (its canary written empty): the canary must not announce the copy before it is made.
          await m.drain();
          m = this.make(r);
        }
        this.byResource.set(r, m);
        this.active.add(r);
        await m.prepare(opts.cached, this.epoch);
      } else {
        this.active.delete(r);
        this.byResource.set(r, m);
        await m.disable();
      }
    }
  }

  /** The active reflectors: those the session starts behind the remote's canaries. */
  resources(): readonly CanaryStore[] {
    return CACHE_CANARY_STORES.filter((r) => this.active.has(r));
  }

  get(resource: CanaryStore): MirrorResource | undefined {
    return this.byResource.get(resource);
  }

  start(resource: CanaryStore, client: Etcd3): void {
    if (this.active.has(resource)) this.byResource.get(resource)?.start(client);
  }

  isSynced(resource: CanaryStore): boolean {
    return this.active.has(resource) && (this.byResource.get(resource)?.isSynced ?? false);
  }

  /** Whether all six canaries have been written once (the copies are complete as of some point). */
  get canariesWritten(): boolean {
    return CACHE_CANARY_STORES.every((r) => this.byResource.get(r)?.target.isSynced ?? false);
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
