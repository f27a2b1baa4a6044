/**
 * CiliumIdentity allocation in CRD mode, as cilium-operator does it: one identity per distinct security label set,
 * numbered inside the cluster's identity range, reused whenever an identity with the same labels exists (also
 * after a restart: the existing CiliumIdentities are the allocator's state), and garbage-collected once no
 * CiliumEndpoint (and no pod being reconciled) has used it for a grace period.
 */
import { AlreadyExistsError, ConflictError, NotFoundError } from '../k8s/errors.js';
import type { ObjectClient } from '../k8s/object-client.js';
import type { CiliumIdentity } from '../k8s/types.js';
import { logger } from '../observe/logger.js';
import { identityRange, type MaxConnectedClusters } from '../wire/index.js';
import { IdPool } from './id-pool.js';
import { operatorMetrics } from './metrics.js';
import { labelSetKey, NAMESPACE_LABEL } from './security-labels.js';

/**
 * The operator numbers identities from range.min + this offset: the lowest local parts are left to identities
 * applied by hand (and are never garbage-collected).
 */
export const IDENTITY_LOCAL_OFFSET = 256;
/** How long an identity must stay unused before it is deleted (Cilium: --identity-gc-interval / heartbeat). */
export const DEFAULT_IDENTITY_GC_GRACE_MS = 30_000;

const log = logger('operator-identities');

interface Known {
  key: string;
  resourceVersion: string | undefined;
}

export interface IdentityAllocatorOptions {
  clusterId: number;
  maxConnectedClusters: MaxConnectedClusters;
  store: ObjectClient;
}

export class IdentityAllocator {
  readonly pool: IdPool;
  private readonly store: ObjectClient;
  private readonly rangeMin: number;
  private readonly rangeMax: number;
  /** label-set key -> ids with those labels (duplicates are possible: the lowest wins). */
  private readonly byKey = new Map<string, Set<number>>();
  private readonly byId = new Map<number, Known>();
  /** Being deleted by the GC: never handed out meanwhile. */
  private readonly retiring = new Set<number>();
  private readonly inflight = new Map<string, Promise<number>>();
  /** A user (`p:<pod>` or `c:<cep>`) -> the identity it uses. */
  private readonly refs = new Map<string, number>();
  private readonly users = new Map<number, number>();
  private readonly unusedSince = new Map<number, number>();

  constructor(opts: IdentityAllocatorOptions) {
    const range = identityRange(opts.clusterId, opts.maxConnectedClusters);
    this.rangeMin = range.min;
    this.rangeMax = range.max;
    this.pool = new IdPool(range.min + IDENTITY_LOCAL_OFFSET, range.max);
    this.store = opts.store;
  }

  get size(): number {
    return this.byId.size;
  }

  /** A stored identity (informer add/update). Identities outside the cluster's range are not ours to reuse. */
  observe(identity: CiliumIdentity): void {
    const id = Number(identity.metadata.name);
    if (!(id >= this.rangeMin && id <= this.rangeMax)) return;
    const key = labelSetKey(identity['security-labels']);
    const prev = this.byId.get(id);
    if (prev && prev.key !== key) this.unindex(id, prev.key);
    this.byId.set(id, { key, resourceVersion: identity.metadata.resourceVersion });
    let ids = this.byKey.get(key);
    if (!ids) this.byKey.set(key, (ids = new Set()));
    ids.add(id);
    this.pool.claim(id);
  }

  /** A deleted identity (informer delete). Returns the users that referenced it: they need a new one. */
  forget(identity: CiliumIdentity): string[] {
    const id = Number(identity.metadata.name);
    const prev = this.byId.get(id);
    if (!prev) return [];
    this.byId.delete(id);
    this.unindex(id, prev.key);
    this.retiring.delete(id);
    this.unusedSince.delete(id);
    this.pool.release(id);
    const affected: string[] = [];
    for (const [user, used] of this.refs) if (used === id) affected.push(user);
    return affected;
  }

  /** The identity of an existing label set, if any. */
  lookup(labels: Readonly<Record<string, string>>): number | undefined {
    return this.lookupKey(labelSetKey(labels));
  }

  /** The identity for `labels`: an existing one, or a new CiliumIdentity. Concurrent calls share one creation. */
  allocate(labels: Readonly<Record<string, string>>): Promise<number> {
    const key = labelSetKey(labels);
    const existing = this.lookupKey(key);
    if (existing !== undefined) return Promise.resolve(existing);
    const pending = this.inflight.get(key);
    if (pending) return pending;
    const p = this.create(key, labels).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  /** Records that `user` now uses identity `id` (undefined: none). */
  use(user: string, id: number | undefined): void {
    const prev = this.refs.get(user);
    if (prev === id) return;
    if (prev !== undefined) {
      const n = (this.users.get(prev) ?? 1) - 1;
      if (n > 0) this.users.set(prev, n);
      else this.users.delete(prev);
    }
    if (id === undefined) {
      this.refs.delete(user);
      return;
    }
    this.refs.set(user, id);
    this.users.set(id, (this.users.get(id) ?? 0) + 1);
    this.unusedSince.delete(id);
  }

  usersOf(id: number): number {
    return this.users.get(id) ?? 0;
  }

  /**
   * Deletes the identities of the operator's range that have been unused for at least `graceMs` (measured from
   * the first collection that saw them unused). Returns how many were deleted.
   */
  async collect(now: number, graceMs: number): Promise<number> {
    const due: { id: number; resourceVersion: string | undefined }[] = [];
    let alive = 0;
    for (const [id, known] of this.byId) {
      if (!this.pool.inRange(id) || this.retiring.has(id)) continue;
      alive++;
      if (this.usersOf(id) > 0) {
        this.unusedSince.delete(id);
        continue;
      }
      const since = this.unusedSince.get(id);
      if (since === undefined) this.unusedSince.set(id, now);
      else if (now - since >= graceMs) due.push({ id, resourceVersion: known.resourceVersion });
    }
    let deleted = 0;
    for (const { id, resourceVersion } of due) {
      // Re-checked here, synchronously with marking it retiring: an allocation that ran meanwhile may use it.
      if (this.usersOf(id) > 0 || !this.byId.has(id)) continue;
      this.retiring.add(id);
      try {
        await this.store.delete('CiliumIdentity', undefined, String(id), {
          ...(resourceVersion !== undefined ? { resourceVersion } : {}),
        });
        deleted++;
        log.info({ identity: id }, 'deleted unused identity');
      } catch (err) {
        this.retiring.delete(id);
        if (!(err instanceof ConflictError || err instanceof NotFoundError)) throw err;
      }
    }
    const m = operatorMetrics();
    m.identityGcEntries.set({ status: 'alive' }, alive - deleted);
    m.identityGcEntries.set({ status: 'deleted' }, deleted);
    return deleted;
  }

  private lookupKey(key: string): number | undefined {
    const ids = this.byKey.get(key);
    if (!ids) return undefined;
    let best: number | undefined;
    for (const id of ids) if (!this.retiring.has(id) && (best === undefined || id < best)) best = id;
    return best;
  }

  private unindex(id: number, key: string): void {
    const ids = this.byKey.get(key);
    ids?.delete(id);
    if (ids?.size === 0) this.byKey.delete(key);
  }

  private async create(key: string, labels: Readonly<Record<string, string>>): Promise<number> {
    const namespace = labels[`k8s:${NAMESPACE_LABEL}`];
    for (;;) {
      const id = this.pool.allocate();
      const obj: CiliumIdentity = {
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumIdentity',
        metadata: { name: String(id), ...(namespace ? { labels: { [NAMESPACE_LABEL]: namespace } } : {}) },
        'security-labels': { ...labels },
      };
      try {
        const stored = await this.store.create(obj);
        this.observe(stored);
        operatorMetrics().identitiesAllocated.inc();
        log.debug({ identity: id, labels: key }, 'allocated identity');
        return id;
      } catch (err) {
        // Taken by someone we have not heard of yet: the informer will tell us its labels; try the next one.
        if (err instanceof AlreadyExistsError) continue;
        this.pool.release(id);
        throw err;
      }
    }
  }
}
