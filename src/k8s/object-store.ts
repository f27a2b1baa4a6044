/**
 * The write side of a local cluster's state: get/list/create/update/apply/delete of Kubernetes-shaped objects in
 * the state etcd, with Kubernetes semantics (uid and creationTimestamp assigned once, resourceVersion = etcd mod
 * revision, optimistic concurrency on resourceVersion, idempotent apply).
 */
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { Etcd3, IKeyValue, IRequestOp, ICompare } from 'etcd3';
import { prefixRangeEnd } from '../kvstore/list-watcher.js';
import { logger } from '../observe/logger.js';
import { decodeObject, encodeObject, storedForm } from './codec.js';
import { AlreadyExistsError, ConflictError, DecodeError, InvalidObjectsError, NotFoundError } from './errors.js';
import { kindPrefix, objectKey, REGISTRY_PREFIX } from './keys.js';
import { toMatcher } from './label-selector.js';
import type {
  ApplyAction,
  ApplyAllOptions,
  ApplyResult,
  ListOptions,
  ListResult,
  ObjectClient,
} from './object-client.js';
import { validateObject } from './schemas.js';
import { isKindName, type AnyObject, type K8sObject, type KindName, type ObjectOf } from './types.js';
import { ValidationError } from './validation-error.js';

/** etcd's default `--max-txn-ops`: the most compares, and the most operations, one transaction may carry. */
export const MAX_TXN_OPS = 128;
/** The largest object stored: etcd's default request limit (--max-request-bytes), as Kubernetes' own limit. */
export const MAX_OBJECT_BYTES = 1.5 * 1024 * 1024;
/**
 * How often a write without a resourceVersion re-reads and retries after losing a race. Every round has a winner,
 * so this bounds the number of writers racing on one object, not a time.
 */
const MAX_WRITE_ATTEMPTS = 100;

const log = logger('k8s-store');

export type { ApplyAction, ApplyAllOptions, ApplyResult, ListOptions, ListResult } from './object-client.js';

export interface ObjectStoreOptions {
  /** Key prefix of the registry (tests and multi-tenant setups); `/registry/` by default. */
  prefix?: string;
  /** Clock for creationTimestamp. */
  now?: () => Date;
}

function b(s: string): Buffer {
  return Buffer.from(s);
}

/** Kubernetes' timestamp format: RFC 3339 in UTC, whole seconds. */
function timestamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Everything but identity and bookkeeping: a change here bumps metadata.generation. */
function specOf(obj: K8sObject): Record<string, unknown> {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = obj;
  return rest;
}

function ident(obj: K8sObject): { kind: string; namespace?: string; name: string } {
  return {
    kind: obj.kind,
    name: obj.metadata.name,
    ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}),
  };
}

interface Existing {
  obj: AnyObject | undefined;
  modRevision: string;
}

interface PlannedWrite {
  key: string;
  /** 0 when the key must not exist. */
  expectMod: string;
  next: AnyObject;
  action: ApplyAction;
}

export class ObjectStore implements ObjectClient {
  private readonly root: string;
  private readonly now: () => Date;

  constructor(
    private readonly client: Etcd3,
    opts: ObjectStoreOptions = {},
  ) {
    this.root = opts.prefix ?? REGISTRY_PREFIX;
    this.now = opts.now ?? (() => new Date());
  }

  keyOf(kind: KindName, namespace: string | undefined, name: string): string {
    return objectKey(kind, namespace, name, this.root);
  }

  async get<K extends KindName>(
    kind: K,
    namespace: string | undefined,
    name: string,
  ): Promise<ObjectOf<K> | undefined> {
    const key = this.keyOf(kind, namespace, name);
    const res = await this.client.kv.range({ key: b(key) });
    const kv = res.kvs[0];
    return kv ? decodeObject(kind, key, kv.value, kv.mod_revision, this.root) : undefined;
  }

  /** Lists objects of a kind (one consistent read). Values that fail to decode are skipped with a warning. */
  async list<K extends KindName>(kind: K, opts: ListOptions = {}): Promise<ListResult<ObjectOf<K>>> {
    const prefix = kindPrefix(kind, opts.namespace, this.root);
    const match = toMatcher(opts.labelSelector);
    const res = await this.client.kv.range({ key: b(prefix), range_end: prefixRangeEnd(b(prefix)) });
    const items: ObjectOf<K>[] = [];
    for (const kv of res.kvs) {
      const key = kv.key.toString();
      try {
        const obj = decodeObject(kind, key, kv.value, kv.mod_revision, this.root);
        if (match(obj.metadata.labels)) items.push(obj);
      } catch (err) {
        log.warn({ key, err }, 'skipping an invalid object in the state store');
      }
    }
    return { items, resourceVersion: res.header.revision };
  }

  /** Creates an object; fails with AlreadyExistsError if one of that kind, namespace and name exists. */
  async create<T extends AnyObject>(obj: T): Promise<T> {
    const valid = validateObject(obj);
    const next = this.fresh(valid);
    const key = this.keyOf(valid.kind, valid.metadata.namespace, valid.metadata.name);
    const res = await this.client.kv.txn({
      compare: [{ key: b(key), target: 'Mod', result: 'Equal', mod_revision: '0' }],
      success: [{ request_put: { key: b(key), value: encodeObject(next) } }],
    });
    if (!res.succeeded) throw new AlreadyExistsError(ident(valid));
    return withVersion(next, res.header.revision) as T;
  }

  /**
   * Replaces an existing object. With metadata.resourceVersion set, the write only happens if the object is still
   * at that version (ConflictError otherwise); without, it applies to whatever version is current. uid,
   * creationTimestamp and (when `obj` has no status) status are kept from the stored object.
   */
  async update<T extends AnyObject>(obj: T): Promise<T> {
    const valid = validateObject(obj);
    const result = await this.readModifyWrite(valid, (cur) => (cur ? this.merge(cur, valid) : this.fresh(valid)));
    return result.object as T;
  }

  /** Replaces only the status of an existing object (the operator's writes); same concurrency rules as update. */
  async updateStatus<T extends AnyObject>(obj: T): Promise<T> {
    const valid = validateObject(obj);
    const result = await this.readModifyWrite(valid, (cur) => {
      if (!cur)
        throw new DecodeError(
          this.keyOf(valid.kind, valid.metadata.namespace, valid.metadata.name),
          'invalid stored object: update it whole first',
        );
      const next = { ...cur } as Record<string, unknown>;
      if ('status' in valid) next.status = valid.status;
      else delete next.status;
      return next as AnyObject;
    });
    return result.object as T;
  }

  /** Creates or replaces; writes nothing when the stored object already equals `obj` (action 'unchanged'). */
  async apply<T extends AnyObject>(obj: T): Promise<ApplyResult<T>> {
    const [result] = await this.applyAll([obj]);
    return result as ApplyResult<T>;
  }

  /**
   * Applies the objects of one manifest all-or-nothing: every object is validated first (InvalidObjectsError
   * naming each bad one, with its location; nothing written), then all changes are written in one etcd
   * transaction that only succeeds if none of the objects changed since they were read (retried otherwise).
   * Limitation: etcd caps a transaction at MAX_TXN_OPS operations, so a manifest changing more objects than that
   * is written in several transactions, each atomic on its own.
   */
  async applyAll(objects: readonly unknown[], opts: ApplyAllOptions = {}): Promise<ApplyResult[]> {
    const valid = this.validateAll(objects, opts.locations);
    const keys = valid.map((o) => this.keyOf(o.kind, o.metadata.namespace, o.metadata.name));
    const results: (ApplyResult | undefined)[] = new Array<ApplyResult | undefined>(valid.length);
    let pending = valid.map((_, i) => i);
    for (let attempt = 1; pending.length > 0; attempt++) {
      const stored = await this.readMany(pending.map((i) => keys[i]!));
      const writes: { i: number; w: PlannedWrite }[] = [];
      pending.forEach((i, j) => {
        const cur = stored[j];
        const obj = valid[i]!;
        const kind = obj.kind;
        const existing = cur ? decodeExisting(kind, keys[i]!, cur, this.root) : undefined;
        if (!existing) {
          writes.push({ i, w: { key: keys[i]!, expectMod: '0', next: this.fresh(obj), action: 'created' } });
          return;
        }
        const next = existing.obj ? this.merge(existing.obj, obj) : this.fresh(obj);
        if (existing.obj && isDeepStrictEqual(storedForm(next), storedForm(existing.obj))) {
          results[i] = { object: existing.obj, action: 'unchanged' };
        } else {
          writes.push({ i, w: { key: keys[i]!, expectMod: existing.modRevision, next, action: 'configured' } });
        }
      });
      const failed = new Set<number>();
      for (let c = 0; c < writes.length; c += MAX_TXN_OPS) {
        const chunk = writes.slice(c, c + MAX_TXN_OPS);
        const res = await this.client.kv.txn({
          compare: chunk.map(({ w }) => modEquals(w.key, w.expectMod)),
          success: chunk.map(({ w }): IRequestOp => ({ request_put: { key: b(w.key), value: encodeObject(w.next) } })),
        });
        for (const { i, w } of chunk) {
          if (res.succeeded) results[i] = { object: withVersion(w.next, res.header.revision), action: w.action };
          else failed.add(i);
        }
      }
      pending = [...failed];
      if (pending.length > 0 && attempt >= MAX_WRITE_ATTEMPTS) {
        const o = valid[pending[0]!]!;
        throw new ConflictError(ident(o), undefined, undefined);
      }
    }
    return results as ApplyResult[];
  }

  /**
   * Deletes an object and returns it as it was, or undefined when it did not exist. With
   * `resourceVersion`, only deletes that version (ConflictError otherwise).
   */
  async delete<K extends KindName>(
    kind: K,
    namespace: string | undefined,
    name: string,
    opts: { resourceVersion?: string } = {},
  ): Promise<ObjectOf<K> | undefined> {
    const key = this.keyOf(kind, namespace, name);
    const del: IRequestOp = { request_delete_range: { key: b(key), prev_kv: true } };
    if (opts.resourceVersion === undefined) {
      const res = await this.client.kv.deleteRange({ key: b(key), prev_kv: true });
      const prev = res.prev_kvs[0];
      return prev ? decodeLenient(kind, key, prev, this.root) : undefined;
    }
    const res = await this.client.kv.txn({
      compare: [modEquals(key, opts.resourceVersion)],
      success: [del],
      failure: [{ request_range: { key: b(key) } }],
    });
    if (!res.succeeded) {
      const cur = res.responses[0]?.response_range.kvs[0];
      throw new ConflictError(
        { kind, name, ...(namespace ? { namespace } : {}) },
        opts.resourceVersion,
        cur?.mod_revision,
      );
    }
    const prev = res.responses[0]?.response_delete_range.prev_kvs[0];
    return prev ? decodeLenient(kind, key, prev, this.root) : undefined;
  }

  /**
   * Deletes the objects a manifest names (`cmesh delete -f`), in one transaction per MAX_TXN_OPS objects. Only
   * kind, namespace and name of each object are used. Returns, per object, whether it existed.
   */
  async deleteAll(objects: readonly K8sObject[]): Promise<boolean[]> {
    const keys = objects.map((o) => {
      if (!isKindName(o.kind)) throw new ValidationError(ident(o), [{ path: 'kind', message: 'unsupported kind' }]);
      return this.keyOf(o.kind, o.metadata.namespace, o.metadata.name);
    });
    const existed: boolean[] = [];
    for (let c = 0; c < keys.length; c += MAX_TXN_OPS) {
      const res = await this.client.kv.txn({
        success: keys.slice(c, c + MAX_TXN_OPS).map((k) => ({ request_delete_range: { key: b(k) } })),
      });
      for (const r of res.responses) existed.push(Number(r.response_delete_range.deleted) > 0);
    }
    return existed;
  }

  // ---- internals ----

  /** Validates every object (InvalidObjectsError naming each bad one by location) without writing anything. */
  validateAll(objects: readonly unknown[], locations: readonly (string | undefined)[] = []): AnyObject[] {
    const errors: ValidationError[] = [];
    const valid: AnyObject[] = [];
    const seen = new Map<string, number>();
    const where = (i: number): string => locations[i] ?? `object ${i + 1}`;
    objects.forEach((o, i) => {
      try {
        const v = validateObject(o);
        const size = Buffer.byteLength(JSON.stringify(v));
        if (size > MAX_OBJECT_BYTES) {
          throw new ValidationError(ident(v), [
            {
              path: '',
              message: `is ${(size / 1024 / 1024).toFixed(1)} MiB; an object may be at most ${MAX_OBJECT_BYTES / 1024 / 1024} MiB (etcd's request limit)`,
            },
          ]);
        }
        const key = objectKey(v.kind, v.metadata.namespace, v.metadata.name);
        const first = seen.get(key);
        if (first !== undefined) {
          errors.push(
            new ValidationError(ident(v), [{ path: '', message: `appears twice (also at ${where(first)})` }]).at(
              where(i),
            ),
          );
        }
        seen.set(key, i);
        valid.push(v);
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
        errors.push(err.at(where(i)));
      }
    });
    if (errors.length > 0) throw new InvalidObjectsError(errors);
    return valid;
  }

  private async readMany(keys: readonly string[]): Promise<(IKeyValue | undefined)[]> {
    const out: (IKeyValue | undefined)[] = [];
    for (let c = 0; c < keys.length; c += MAX_TXN_OPS) {
      const res = await this.client.kv.txn({
        success: keys.slice(c, c + MAX_TXN_OPS).map((k) => ({ request_range: { key: b(k) } })),
      });
      for (const r of res.responses) out.push(r.response_range.kvs[0]);
    }
    return out;
  }

  private async readModifyWrite(
    obj: AnyObject,
    modify: (cur: AnyObject | undefined) => AnyObject,
  ): Promise<ApplyResult> {
    const key = this.keyOf(obj.kind, obj.metadata.namespace, obj.metadata.name);
    const wanted = obj.metadata.resourceVersion;
    for (let attempt = 1; ; attempt++) {
      const res = await this.client.kv.range({ key: b(key) });
      const kv = res.kvs[0];
      if (!kv) throw new NotFoundError(ident(obj));
      if (wanted !== undefined && kv.mod_revision !== wanted) {
        throw new ConflictError(ident(obj), wanted, kv.mod_revision);
      }
      const cur = decodeExisting(obj.kind, key, kv, this.root);
      const next = storedForm(modify(cur.obj));
      if (cur.obj && isDeepStrictEqual(next, storedForm(cur.obj))) return { object: cur.obj, action: 'unchanged' };
      const put = await this.client.kv.txn({
        compare: [modEquals(key, kv.mod_revision)],
        success: [{ request_put: { key: b(key), value: encodeObject(next) } }],
      });
      if (put.succeeded) return { object: withVersion(next, put.header.revision), action: 'configured' };
      if (wanted !== undefined) {
        // Someone wrote between our read and our write: the caller's version is stale.
        const now = await this.client.kv.range({ key: b(key) });
        throw new ConflictError(ident(obj), wanted, now.kvs[0]?.mod_revision);
      }
      if (attempt >= MAX_WRITE_ATTEMPTS) throw new ConflictError(ident(obj), kv.mod_revision, 'newer');
    }
  }

  /** A new object as create stores it: fresh uid, timestamp, generation 1. */
  private fresh(obj: AnyObject): AnyObject {
    const { resourceVersion: _rv, uid: _uid, creationTimestamp: _ts, generation: _g, ...metadata } = obj.metadata;
    return {
      ...obj,
      metadata: { ...metadata, uid: randomUUID(), creationTimestamp: timestamp(this.now()), generation: 1 },
    };
  }

  /** `obj` replacing `cur`: identity and bookkeeping kept from `cur`; `cur`'s status kept unless `obj` has one. */
  private merge(cur: AnyObject, obj: AnyObject): AnyObject {
    const { resourceVersion: _rv, uid: _uid, creationTimestamp: _ts, generation: _g, ...metadata } = obj.metadata;
    const generation = (cur.metadata.generation ?? 1) + (isDeepStrictEqual(specOf(cur), specOf(obj)) ? 0 : 1);
    const next: Record<string, unknown> = {
      ...obj,
      metadata: {
        ...metadata,
        ...(cur.metadata.uid !== undefined ? { uid: cur.metadata.uid } : {}),
        ...(cur.metadata.creationTimestamp !== undefined ? { creationTimestamp: cur.metadata.creationTimestamp } : {}),
        generation,
      },
    };
    if (!('status' in obj) && 'status' in cur) next.status = cur.status;
    return next as AnyObject;
  }
}

function modEquals(key: string, mod: string): ICompare {
  return { key: b(key), target: 'Mod', result: 'Equal', mod_revision: mod };
}

function withVersion<T extends K8sObject>(obj: T, revision: string): T {
  return { ...obj, metadata: { ...obj.metadata, resourceVersion: revision } };
}

/**
 * The stored object, or `obj: undefined` when the stored value no longer decodes (written around the store): the
 * caller's object then replaces it as if newly created, at that key's revision.
 */
function decodeExisting(kind: KindName, key: string, kv: IKeyValue, root: string): Existing {
  try {
    return { obj: decodeObject(kind, key, kv.value, kv.mod_revision, root), modRevision: kv.mod_revision };
  } catch (err) {
    log.warn({ key, err }, 'replacing an invalid stored object');
    return { obj: undefined, modRevision: kv.mod_revision };
  }
}

function decodeLenient<K extends KindName>(kind: K, key: string, kv: IKeyValue, root: string): ObjectOf<K> | undefined {
  try {
    return decodeObject(kind, key, kv.value, kv.mod_revision, root);
  } catch (err) {
    log.warn({ key, err }, 'deleted an invalid stored object');
    return undefined;
  }
}
