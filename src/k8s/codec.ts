/**
 * How objects are stored in the state etcd: compact JSON without `metadata.resourceVersion` (the key's mod
 * revision is the resourceVersion; a stored one would go stale on the first write).
 */
import { DecodeError } from './errors.js';
import { parseObjectKey, REGISTRY_PREFIX } from './keys.js';
import type { K8sObject, KindName, ObjectOf } from './types.js';

export function encodeObject(obj: K8sObject): Buffer {
  const { resourceVersion: _rv, ...metadata } = obj.metadata;
  return Buffer.from(JSON.stringify({ ...obj, metadata }));
}

/** The object as stored (no resourceVersion), for change detection. */
export function storedForm<T extends K8sObject>(obj: T): T {
  const { resourceVersion: _rv, ...metadata } = obj.metadata;
  return { ...obj, metadata };
}

/**
 * Decodes and validates the value at `key`, checking that it is an object of `kind` named as its key says, and
 * stamps `resourceVersion` = `modRevision`. Throws DecodeError.
 */
export function decodeObject<K extends KindName>(
  kind: K,
  key: string,
  value: Buffer,
  modRevision: number | string,
  root: string = REGISTRY_PREFIX,
  /** The key already parsed by the caller (saves parsing it twice per object on a list). */
  parsed?: { namespace?: string; name: string },
): ObjectOf<K> {
  const where = parsed ?? parseObjectKey(kind, key, root);
  if (!where) throw new DecodeError(key, `not a ${kind} key`);
  let raw: unknown;
  try {
    raw = JSON.parse(value.toString('utf8'));
  } catch (err) {
    throw new DecodeError(key, `invalid JSON: ${(err as Error).message}`, { cause: err });
  }
  // Objects are fully validated when written (ObjectStore); reading checks the envelope only, because a full
  // schema check of every object is the dominant cost of listing 100k objects. Consumers read fields defensively.
  const obj = checkEnvelope(key, raw);
  if (obj.kind !== kind) throw new DecodeError(key, `holds a ${obj.kind}, expected ${kind}`);
  if (obj.metadata.name !== where.name || obj.metadata.namespace !== where.namespace) {
    throw new DecodeError(
      key,
      `object is named ${obj.metadata.namespace ? `${obj.metadata.namespace}/` : ''}${obj.metadata.name}, which does not match its key`,
    );
  }
  obj.metadata.resourceVersion = String(modRevision);
  return obj as ObjectOf<K>;
}

function checkEnvelope(key: string, raw: unknown): K8sObject {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new DecodeError(key, 'not a JSON object');
  const o = raw as Record<string, unknown>;
  const meta = o.metadata as Record<string, unknown> | null | undefined;
  if (typeof o.apiVersion !== 'string' || typeof o.kind !== 'string') {
    throw new DecodeError(key, 'apiVersion and kind must be strings');
  }
  if (typeof meta !== 'object' || meta === null || typeof meta.name !== 'string') {
    throw new DecodeError(key, 'metadata.name must be a string');
  }
  if (meta.namespace !== undefined && typeof meta.namespace !== 'string') {
    throw new DecodeError(key, 'metadata.namespace must be a string');
  }
  for (const f of ['labels', 'annotations'] as const) {
    const m = meta[f];
    if (m !== undefined && (typeof m !== 'object' || m === null || Array.isArray(m))) {
      throw new DecodeError(key, `metadata.${f} must be a map`);
    }
  }
  return o as K8sObject;
}
