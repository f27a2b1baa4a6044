/**
 * Where objects live in a local cluster's state etcd, as the Kubernetes apiserver lays them out:
 * `/registry/<group>/<resource>/<namespace>/<name>` (cluster-scoped: `/registry/<group>/<resource>/<name>`).
 */
import { KINDS, type KindName } from './types.js';

export const REGISTRY_PREFIX = '/registry/';

export class KeyError extends Error {
  override name = 'KeyError';
}

/** The prefix holding every object of `kind`, or only those of one namespace. Always ends with `/`. */
export function kindPrefix(kind: KindName, namespace?: string, root: string = REGISTRY_PREFIX): string {
  const info = KINDS[kind];
  const base = `${root}${info.group}/${info.resource}/`;
  if (namespace === undefined || namespace === '') return base;
  if (!info.namespaced) throw new KeyError(`${kind} is cluster-scoped: it has no namespace (got "${namespace}")`);
  return `${base}${namespace}/`;
}

/** The key of one object. */
export function objectKey(
  kind: KindName,
  namespace: string | undefined,
  name: string,
  root: string = REGISTRY_PREFIX,
): string {
  const info = KINDS[kind];
  if (info.namespaced) {
    if (!namespace) throw new KeyError(`${kind} "${name}" is namespaced: a namespace is required`);
    return `${kindPrefix(kind, namespace, root)}${name}`;
  }
  if (namespace) throw new KeyError(`${kind} "${name}" is cluster-scoped: it has no namespace (got "${namespace}")`);
  return `${kindPrefix(kind, undefined, root)}${name}`;
}

/** Where a key names an object: its namespace (namespaced kinds), name, and objectRef. */
export interface ParsedObjectKey {
  namespace?: string;
  name: string;
  /** objectRef(namespace, name), which for a well-formed key is just the key after the kind's prefix. */
  ref: string;
}

/**
 * A parser for the keys of one kind, with the kind's prefix computed once (an informer parses every key it lists).
 * It returns undefined for a key of the wrong shape.
 */
export function objectKeyParser(
  kind: KindName,
  root: string = REGISTRY_PREFIX,
): (key: string) => ParsedObjectKey | undefined {
  const prefix = kindPrefix(kind, undefined, root);
  const from = prefix.length;
  if (KINDS[kind].namespaced) {
    return (key) => {
      if (!key.startsWith(prefix)) return undefined;
      const slash = key.indexOf('/', from);
      if (slash <= from || slash === key.length - 1 || key.includes('/', slash + 1)) return undefined;
      return { namespace: key.slice(from, slash), name: key.slice(slash + 1), ref: key.slice(from) };
    };
  }
  return (key) => {
    if (!key.startsWith(prefix) || key.length === from || key.includes('/', from)) return undefined;
    const name = key.slice(from);
    return { name, ref: name };
  };
}

/** Splits a key under `kindPrefix(kind)` into namespace and name; undefined when the key has the wrong shape. */
export function parseObjectKey(
  kind: KindName,
  key: string,
  root: string = REGISTRY_PREFIX,
): ParsedObjectKey | undefined {
  return objectKeyParser(kind, root)(key);
}
