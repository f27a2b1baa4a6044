/**
 * The one home of an object reference, `namespace/name` (or `name` for a cluster-scoped object): how objects are
 * named in logs, errors, caches and work queues, and how services and service exports key their entries in etcd.
 */

/** `namespace/name`, or `name` when there is no namespace. */
export function objectRef(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

/** Splits a `<namespace>/<name>` reference; undefined when it has another shape (no namespace, empty parts). */
export function splitNamespacedName(ref: string): { namespace: string; name: string } | undefined {
  const i = ref.indexOf('/');
  if (i <= 0 || i === ref.length - 1 || ref.includes('/', i + 1)) return undefined;
  return { namespace: ref.slice(0, i), name: ref.slice(i + 1) };
}
