/** Where each kind lives in the Kubernetes API: `/api/v1/namespaces/shop/pods/web`, `/apis/cilium.io/v2/ciliumnodes`. */
import { KINDS, type KindName } from './types.js';

/**
 * The path of a kind's collection (no `name`) or of one object, optionally of a subresource (`status`). A
 * namespaced kind without `namespace` is the collection across all namespaces; a cluster-scoped kind ignores
 * `namespace`.
 */
export function resourcePath(kind: KindName, namespace?: string, name?: string, subresource?: 'status'): string {
  const info = KINDS[kind];
  const parts = [info.group === 'core' ? `/api/${info.apiVersion}` : `/apis/${info.apiVersion}`];
  if (info.namespaced && namespace !== undefined && namespace !== '') {
    parts.push('namespaces', encodeURIComponent(namespace));
  }
  parts.push(info.resource);
  if (name !== undefined) parts.push(encodeURIComponent(name));
  if (subresource && name !== undefined) parts.push(subresource);
  return parts.join('/');
}
