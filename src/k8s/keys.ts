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

/** Splits a key under `kindPrefix(kind)` into namespace and name; undefined when the key has the wrong shape. */
export function parseObjectKey(
  kind: KindName,
  key: string,
  root: string = REGISTRY_PREFIX,
): { namespace?: string; name: string } | undefined {
  const prefix = kindPrefix(kind, undefined, root);
  if (!key.startsWith(prefix)) return undefined;
  const parts = key.slice(prefix.length).split('/');
  if (KINDS[kind].namespaced) {
    const [namespace, name] = parts;
    if (parts.length !== 2 || !namespace || !name) return undefined;
    return { namespace, name };
  }
  const [name] = parts;
  if (parts.length !== 1 || !name) return undefined;
  return { name };
}

/** `namespace/name` or `name`: how objects are named in logs, errors and informer caches. */
export function objectRef(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}
