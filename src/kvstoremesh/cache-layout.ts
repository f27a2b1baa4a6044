import {
  IDENTITIES_PREFIX,
  IPCACHE_ADDRESS_SPACE,
  storePrefix,
  syncedCanaryKey,
  SYNCED_PREFIX,
  type MeshResource,
} from '../wire/index.js';

/**
 * Where kvstoremesh reads a remote's resource and where it writes the copy, both with a trailing slash; the key
 * suffix after each is the same. Unlike the agent's read prefixes (`resourceWatchPrefix`), identities are copied
 * whole (`id/<n>` and `value/...`), as Cilium's kvstoremesh does.
 *
 * | resource | source (direct) | source (remote is itself a cache) | target |
 * |---|---|---|---|
 * | nodes, services, serviceexports | `cilium/state/<r>/v1/<remote>/` | `cilium/cache/<r>/v1/<remote>/` | `cilium/cache/<r>/v1/<remote>/` |
 * | identities | `cilium/state/identities/v1/` | `cilium/cache/identities/v1/<remote>/` | `cilium/cache/identities/v1/<remote>/` |
 * | ip | `cilium/state/ip/v1/default/` | `cilium/cache/ip/v1/<remote>/` | `cilium/cache/ip/v1/<remote>/` |
 */
export interface CopyPrefixes {
  source: string;
  target: string;
}

export function copyPrefixes(resource: MeshResource, remote: string, sourceCached: boolean): CopyPrefixes {
  const target = `${storePrefix(resource, true)}/${remote}/`;
  if (sourceCached) return { source: target, target };
  switch (resource) {
    case 'identities':
      return { source: `${IDENTITIES_PREFIX}/`, target };
    case 'ip':
      return { source: `${storePrefix('ip')}/${IPCACHE_ADDRESS_SPACE}/`, target };
    default:
      return { source: `${storePrefix(resource)}/${remote}/`, target };
  }
}

/** The canary kvstoremesh writes once `remote`'s `resource` is copied: `cilium/synced/<remote>/cilium/cache/<r>/v1`. */
export function cacheCanaryKey(remote: string, resource: MeshResource): string {
  return syncedCanaryKey(remote, resource, true);
}

/** Every canary kvstoremesh may have written for `remote` lives under this prefix. */
export function cacheCanaryPrefix(remote: string): string {
  return `${SYNCED_PREFIX}/${remote}/cilium/cache/`;
}
