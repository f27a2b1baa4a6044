import type { Etcd3 } from 'etcd3';
import { logger, type Logger } from '../observe/logger.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { copyBytes, utf8Bytes, type ByteString } from './byte-string.js';
import { StoreClosedError, isLeaseNotFoundError, toError } from './errors.js';
import { rangeRaw, txnPutsDeletes } from './kv-calls.js';
import type { TxnOp } from './kv-wire.js';
import { LeaseManager } from './lease.js';
import { prefixRangeEnd } from './list-watcher.js';
import {
  countQuorumError,
  initialSyncCompleted,
  operationsDuration,
  scopeFromKey,
  syncErrors,
  syncQueueSize,
} from './metrics.js';

/** etcd's default --max-txn-ops. */
export const MAX_TXN_OPS = 128;
/** Stays well below etcd's default --max-request-bytes (1.5 MiB); a single bigger value goes alone. */
export const MAX_TXN_BYTES = 1024 * 1024;
/** Transactions in flight at once: pipelining hides the round trip; keys never appear in two at a time. */
export const MAX_TXNS_IN_FLIGHT = 4;
/** Cilium's kvstore.SyncedPrefix: canaries live at `<SYNCED_PREFIX>/<cluster>/<store prefix>`. */
export const SYNCED_PREFIX = 'cilium/synced';

export interface SyncStoreOptions {
  /** Keys are written at `<prefix>/<key>`, e.g. prefix `cilium/state/nodes/v1`, key `cluster1/node1`. */
  prefix: string;
  /** The cluster whose data this is: names the canary key and labels the metrics. */
  clusterName: string;
  /** A lease shared with other stores of the process (one lease for all keys). Created per store when unset. */
  lease?: LeaseManager;
  /** TTL of the store's own lease when `lease` is unset. */
  leaseTtlSeconds?: number;
  /** Write keys without a lease (they survive the writer). */
  noLease?: boolean;
  /** With noLease: the lease the canary is written under (every canary carries the writer's lease). */
  canaryLease?: LeaseManager;
  /** Overrides the part of the canary key after the cluster name (default: the prefix). */
  syncedKey?: string;
  maxTxnOps?: number;
  maxTxnsInFlight?: number;
  backoff?: BackoffOptions;
}

/** Current time in Go's time.RFC3339 layout (second precision), as Cilium writes canaries and heartbeats. */
export function rfc3339Now(now = new Date()): string {
  return now.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * One key's state. A single record per key, rather than a map per aspect, halves the hashing per write. Values are
 * byte strings (see byte-string.ts): held for the life of the key, a Buffer would pin the buffer it is a view into.
 */
interface Entry {
  /** Relative to the prefix. */
  readonly key: string;
  /** What etcd should contain; undefined: the key should not exist. */
  desired: ByteString | undefined;
  /** What this store last wrote: undefined when nothing (the key is absent), null when the outcome is unknown. */
  written: ByteString | null | undefined;
  inFlight: boolean;
  /** Upserted before synced() and not written yet: the canary waits for it. */
  pendingSync: boolean;
}

function newEntry(key: string, desired: ByteString | undefined, written: ByteString | null | undefined): Entry {
  return { key, desired, written, inFlight: false, pendingSync: false };
}

/** An entry that needs a write: its desired content differs from what was last written (strings compare by content). */
function needsWrite(e: Entry): boolean {
  return e.desired !== e.written;
}

/**
 * The write side of a store, as Cilium's workqueue SyncStore: callers declare the desired content with upsert()
 * and delete(); a worker applies it to etcd in batched transactions, coalescing repeated operations on a key
 * (the latest wins), skipping writes of a value identical to the one it last wrote successfully, retrying
 * failures with backoff (nothing is ever dropped), and rewriting every key when its lease is lost. synced()
 * writes the canary once every upsert issued before it has been applied.
 */
export class SyncStore {
  readonly prefix: string;
  readonly canaryKey: string;
  /** `<prefix>/` as bytes, written before each key of a transaction. */
  private readonly keyPrefix: Buffer;
  private readonly lease: LeaseManager | undefined;
  private readonly ownsLease: boolean;
  private readonly unsubscribeLease: (() => void) | undefined;
  private readonly maxTxnOps: number;
  private readonly maxInFlight: number;
  private readonly backoff: Backoff;
  private readonly log: Logger;
  private readonly labels: { scope: string; source_cluster: string };

  /** Every key desired, written, or being written. */
  private readonly entries = new Map<string, Entry>();
  /** Entries whose desired state may differ from the written one, in the order they changed. */
  private readonly dirty = new Set<Entry>();
  private desiredCount = 0;
  private inFlightCount = 0;
  private pendingSyncCount = 0;
  private txnsInFlight = 0;
  /** Incremented on lease loss; a write under an older generation did not survive. */
  private leaseGeneration = 0;

  /** Keys found in etcd by prime(): the ones not upserted by the time synced() is called are stale. */
  private readonly primed = new Map<string, ByteString>();
  private readonly canaryLease: LeaseManager | undefined;

  private syncRequested = false;
  private canaryDone = false;
  private canaryInFlight = false;
  private readonly syncCallbacks: (() => void)[] = [];
  private readonly syncedPromise: Promise<void>;
  private resolveSynced!: () => void;

  private pumpScheduled = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private idleWaiters: (() => void)[] = [];
  private closed = false;

  constructor(
    private readonly client: Etcd3,
    opts: SyncStoreOptions,
  ) {
    this.prefix = opts.prefix.replace(/\/+$/, '');
    this.keyPrefix = Buffer.from(`${this.prefix}/`);
    this.canaryKey = `${SYNCED_PREFIX}/${opts.clusterName}/${(opts.syncedKey ?? this.prefix).replace(/^\/+/, '')}`;
    this.maxTxnOps = opts.maxTxnOps ?? MAX_TXN_OPS;
    this.maxInFlight = opts.maxTxnsInFlight ?? MAX_TXNS_IN_FLIGHT;
    this.backoff = new Backoff(opts.backoff);
    this.labels = { scope: scopeFromKey(this.prefix), source_cluster: opts.clusterName };
    this.log = logger('kvstore-syncstore', { prefix: this.prefix, clusterName: opts.clusterName });
    if (opts.noLease) {
      this.lease = undefined;
      this.ownsLease = false;
      // The keys survive a lost lease, the canary does not: write it again.
      this.unsubscribeLease = opts.canaryLease?.onLost(() => {
        if (this.closed || !this.canaryDone) return;
        this.canaryDone = false;
        this.schedulePump();
      });
    } else {
      this.ownsLease = opts.lease === undefined;
      this.lease =
        opts.lease ?? new LeaseManager(client, opts.leaseTtlSeconds ? { ttlSeconds: opts.leaseTtlSeconds } : {});
      this.unsubscribeLease = this.lease.onLost(() => {
        this.onLeaseLost();
      });
    }
    this.canaryLease = opts.noLease ? opts.canaryLease : this.lease;
    this.syncedPromise = new Promise((resolve) => {
      this.resolveSynced = resolve;
    });
    initialSyncCompleted().set({ ...this.labels, action: 'write' }, 0);
  }

  /** Number of keys the store wants in etcd. */
  get size(): number {
    return this.desiredCount;
  }

  /** Keys waiting to be written or being written. */
  get queueSize(): number {
    return this.dirty.size + this.inFlightCount;
  }

  /** Whether the canary has been written. */
  get isSynced(): boolean {
    return this.canaryDone;
  }

  /** The value the store wants at `key`, if any. */
  get(key: string): ByteString | undefined {
    return this.entries.get(key)?.desired;
  }

  /** What prime() found in etcd at `key`, until synced() is called. */
  primedValue(key: string): ByteString | undefined {
    return this.primed.get(key);
  }

  *keys(): IterableIterator<string> {
    for (const e of this.entries.values()) if (e.desired !== undefined) yield e.key;
  }

  /**
   * Queues a write of `value` (text, written as UTF-8, or bytes) at `<prefix>/<key>`; a no-op when that exact value
   * is already written. The store keeps a copy: the caller's Buffer may be reused, and is not kept alive.
   */
  upsert(key: string, value: string | Uint8Array): void {
    this.upsertBytes(key, typeof value === 'string' ? utf8Bytes(value) : copyBytes(value));
  }

  /** upsert() for a value already held as a byte string, which the store keeps as it is. */
  upsertBytes(key: string, value: ByteString): void {
    if (this.closed) throw new StoreClosedError('sync store');
    let e = this.entries.get(key);
    if (e === undefined) {
      e = newEntry(key, value, undefined);
      this.entries.set(key, e);
      this.desiredCount++;
    } else {
      if (e.desired === undefined) this.desiredCount++;
      // An unchanged value (a recomputed service, a resynced node) shares the string already held: one copy.
      const w = e.written;
      e.desired = w === value ? w : value;
    }
    this.changed(e, !this.syncRequested);
  }

  /** Queues the deletion of `<prefix>/<key>`; a no-op when the store never wrote it. */
  delete(key: string): void {
    if (this.closed) throw new StoreClosedError('sync store');
    const e = this.entries.get(key);
    if (e === undefined) return;
    if (e.desired !== undefined) this.desiredCount--;
    e.desired = undefined;
    this.changed(e, false);
  }

  /**
   * Reads what etcd already holds under `<prefix>/<subPrefix>` (a previous run's keys) before the initial sync:
   * a key whose value and lease match is not written again, and keys that the initial sync does not upsert are
   * deleted before the canary. Call it before the first upsert.
   */
  async prime(subPrefix = ''): Promise<void> {
    const from = Buffer.from(this.fullKey(subPrefix));
    const rangeEnd = prefixRangeEnd(from);
    const leaseId = this.lease?.id ?? '0';
    const res = await rangeRaw(this.client, { key: from, rangeEnd });
    const base = this.prefix.length + 1;
    for (const kv of res.kvs) {
      const key = kv.key.slice(base);
      // A copy: the values are views into the one response that holds the whole prefix.
      const value = copyBytes(kv.value);
      this.primed.set(key, value);
      const e = this.entries.get(key);
      if (e?.desired !== undefined) continue;
      // Only a key under the lease we hold (or lease-less keys of a lease-less store) survives us as written.
      const written = kv.lease === leaseId ? value : null;
      if (e) e.written = written;
      else this.entries.set(key, newEntry(key, undefined, written));
    }
  }

  /**
   * Requests the canary: it is written (under the lease) once every upsert issued before this call has been
   * applied, then `callback` runs and the promise resolves. Only the first call has an effect.
   */
  synced(callback?: () => void): Promise<void> {
    if (!this.syncRequested) {
      for (const key of this.primed.keys()) {
        const e = this.entries.get(key);
        if (e && e.desired === undefined) this.changed(e, true);
      }
      this.primed.clear();
      this.syncRequested = true;
      if (callback) this.syncCallbacks.push(callback);
      this.schedulePump();
    }
    return this.syncedPromise;
  }

  /** Resolves once the canary has been written, without requesting it (see synced()). */
  waitSynced(): Promise<void> {
    return this.syncedPromise;
  }

  /** Resolves once every queued operation (and a requested canary) has been applied. */
  flush(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
    });
  }

  /** Deletes every key the store wrote, and its canary, and waits until etcd has applied it. */
  async drain(): Promise<void> {
    for (const key of [...this.keys()]) this.delete(key);
    await this.flush();
    if (this.canaryDone) {
      await this.client.kv.deleteRange({ key: Buffer.from(this.canaryKey) });
      this.canaryDone = false;
    }
  }

  /**
   * Stops the worker (queued operations are abandoned; call flush() first to wait for them) and the store's own
   * lease keepalive. Keys stay in etcd until their lease expires.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.unsubscribeLease?.();
    while (this.txnsInFlight > 0 || this.canaryInFlight) await new Promise((r) => setTimeout(r, 10));
    if (this.ownsLease) await this.lease?.close();
    initialSyncCompleted().set({ ...this.labels, action: 'write' }, 0);
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private fullKey(key: string): string {
    return `${this.prefix}/${key}`;
  }

  private setPending(e: Entry): void {
    if (e.pendingSync) return;
    e.pendingSync = true;
    this.pendingSyncCount++;
  }

  /** Returns whether the entry was pending. */
  private clearPending(e: Entry): boolean {
    if (!e.pendingSync) return false;
    e.pendingSync = false;
    this.pendingSyncCount--;
    return true;
  }

  /** Drops an entry that holds nothing: neither desired, nor written, nor queued. */
  private forgetIfEmpty(e: Entry): void {
    if (e.desired === undefined && e.written === undefined && !e.inFlight && !e.pendingSync && !this.dirty.has(e)) {
      this.entries.delete(e.key);
    }
  }

  private changed(e: Entry, beforeSync: boolean): void {
    if (needsWrite(e)) {
      this.dirty.add(e);
      if (beforeSync) this.setPending(e);
      this.schedulePump();
    } else if (!e.inFlight) {
      this.dirty.delete(e);
      const wasPending = this.clearPending(e);
      this.forgetIfEmpty(e);
      if (wasPending) this.schedulePump();
      else if (this.idleWaiters.length > 0) this.notifyIfIdle();
    }
  }

  private onLeaseLost(): void {
    if (this.closed) return;
    this.leaseGeneration++;
    for (const e of this.entries.values()) {
      e.written = undefined;
      if (e.desired !== undefined) {
        this.dirty.add(e);
        // The canary went with the lease: write it again only once every key is back.
        if (this.syncRequested) this.setPending(e);
      } else {
        this.dirty.delete(e);
        this.clearPending(e);
        this.forgetIfEmpty(e);
      }
    }
    if (this.canaryDone) {
      this.canaryDone = false;
      initialSyncCompleted().set({ ...this.labels, action: 'write' }, 0);
    }
    this.log.info({ keys: this.desiredCount }, 'lease lost; rewriting all keys under a new lease');
    this.schedulePump();
  }

  private schedulePump(): void {
    if (this.pumpScheduled || this.closed) return;
    this.pumpScheduled = true;
    // Deferred so that a burst of synchronous upserts is batched into full transactions.
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.closed || this.retryTimer) return;
    while (this.txnsInFlight < this.maxInFlight) {
      // Like Nagle: while a transaction is in flight, only full batches go out; the rest accumulates until a slot
      // frees. A producer that trickles keys in (an informer listing 100k objects) then still fills transactions.
      if (this.txnsInFlight > 0 && this.dirty.size < this.maxTxnOps) break;
      const batch = this.pickBatch();
      if (batch.length === 0) break;
      this.txnsInFlight++;
      void this.runTxn(batch);
    }
    if (
      this.syncRequested &&
      !this.canaryDone &&
      !this.canaryInFlight &&
      this.pendingSyncCount === 0 &&
      this.txnsInFlight < this.maxInFlight
    ) {
      this.canaryInFlight = true;
      void this.writeCanary();
    }
    syncQueueSize().set(this.labels, this.queueSize);
    this.notifyIfIdle();
  }

  private pickBatch(): Entry[] {
    const batch: Entry[] = [];
    let bytes = 0;
    for (const e of this.dirty) {
      // Never in two transactions at once; it is looked at again when its transaction settles.
      if (e.inFlight) continue;
      this.dirty.delete(e);
      if (!needsWrite(e)) {
        this.clearPending(e);
        this.forgetIfEmpty(e);
        continue;
      }
      const size = e.key.length + this.prefix.length + (e.desired?.length ?? 0);
      if (batch.length > 0 && bytes + size > MAX_TXN_BYTES) {
        this.dirty.add(e);
        break;
      }
      batch.push(e);
      e.inFlight = true;
      this.inFlightCount++;
      bytes += size;
      if (batch.length >= this.maxTxnOps) break;
    }
    return batch;
  }

  private async runTxn(batch: Entry[]): Promise<void> {
    const generation = this.leaseGeneration;
    const started = performance.now();
    let leaseId: string | undefined;
    // The values as sent: an entry may change while its transaction is in flight.
    const values: (ByteString | undefined)[] = batch.map((e) => e.desired);
    try {
      leaseId = this.lease ? await this.lease.current() : undefined;
      const ops: TxnOp[] = new Array<TxnOp>(batch.length);
      for (let i = 0; i < batch.length; i++) ops[i] = { key: batch[i]!.key, value: values[i] };
      await txnPutsDeletes(this.client, ops, leaseId, this.keyPrefix);
      this.observe('txn', started, 'success');
      this.backoff.reset();
      const survived = generation === this.leaseGeneration;
      for (let i = 0; i < batch.length; i++) {
        const e = batch[i]!;
        const value = values[i];
        if (value === undefined) e.written = undefined;
        else if (survived) e.written = value;
        this.settle(e);
      }
    } catch (e) {
      const err = toError(e);
      this.observe('txn', started, 'failure');
      for (const entry of batch) {
        // A failed put may still have been applied (e.g. a timeout after commit): the key may exist.
        if (entry.desired !== undefined && generation === this.leaseGeneration) entry.written = null;
        this.settle(entry);
      }
      this.failed(err, leaseId);
    } finally {
      this.txnsInFlight--;
      // Directly, not deferred: the freed slot is refilled at once to keep the pipeline full.
      this.pump();
    }
  }

  private settle(e: Entry): void {
    e.inFlight = false;
    this.inFlightCount--;
    if (needsWrite(e)) this.dirty.add(e);
    else {
      this.clearPending(e);
      this.forgetIfEmpty(e);
    }
  }

  private async writeCanary(): Promise<void> {
    const started = performance.now();
    const generation = this.leaseGeneration;
    let leaseId: string | undefined;
    try {
      leaseId = this.canaryLease ? await this.canaryLease.current() : undefined;
      await this.client.kv.put({
        key: Buffer.from(this.canaryKey),
        value: Buffer.from(rfc3339Now()),
        ...(leaseId !== undefined ? { lease: leaseId } : {}),
      });
      this.observe('put', started, 'success');
      if (generation === this.leaseGeneration) {
        this.canaryDone = true;
        initialSyncCompleted().set({ ...this.labels, action: 'write' }, 1);
        this.log.info('initial synchronization completed; canary written');
        this.resolveSynced();
        for (const cb of this.syncCallbacks.splice(0)) {
          try {
            cb();
          } catch (err) {
            this.log.error({ err }, 'synced callback failed');
          }
        }
      }
    } catch (e) {
      this.observe('put', started, 'failure');
      this.failed(toError(e), leaseId);
    } finally {
      this.canaryInFlight = false;
      this.schedulePump();
    }
  }

  private failed(err: Error, leaseId: string | undefined): void {
    if (this.closed) return;
    syncErrors().inc(this.labels);
    if (leaseId !== undefined && isLeaseNotFoundError(err)) {
      // Not an outage: retry at once under a new lease.
      (this.lease ?? this.canaryLease)?.reportLost(leaseId);
      return;
    }
    countQuorumError(err);
    const delay = this.backoff.next();
    this.log.warn({ err: err.message, retryInMs: delay }, 'kvstore write failed; retrying');
    this.retryTimer ??= setTimeout(() => {
      this.retryTimer = undefined;
      this.schedulePump();
    }, delay);
  }

  private observe(action: string, started: number, outcome: 'success' | 'failure'): void {
    operationsDuration().observe(
      { action, kind: 'sync-store', outcome, scope: this.labels.scope },
      (performance.now() - started) / 1000,
    );
  }

  private isIdle(): boolean {
    return (
      this.dirty.size === 0 &&
      this.txnsInFlight === 0 &&
      !this.canaryInFlight &&
      (!this.syncRequested || this.canaryDone)
    );
  }

  private notifyIfIdle(): void {
    if (this.idleWaiters.length === 0 || !this.isIdle()) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
