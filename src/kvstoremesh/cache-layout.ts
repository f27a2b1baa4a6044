import {
  IDENTITIES_PREFIX,
  IDENTITY_ID_SEGMENT,
  IPCACHE_ADDRESS_SPACE,
  storePrefix,
  syncedCanaryKey,
  SYNCED_PREFIX,
  type CanaryStore,
} from '../wire/index.js';

/**
 * Where kvstoremesh reads a remote's resource and where it writes the copy, both with a trailing slash; the key
 * suffix after the source prefix is the one after the target prefix with `targetSuffixPrefix` in front. Only identity
 * master keys are copied (`id/<n>`; nothing under `value/` or `locks/`), as Cilium's kvstoremesh does.
 *
 * | resource | source (direct) | source (remote is itself a cache) | target |
 * |---|---|---|---|
 * | nodes, services, serviceexports, endpointslices | `cilium/state/<r>/v1/<remote>/` | `cilium/cache/<r>/v1/<remote>/` | `cilium/cache/<r>/v1/<remote>/` |
 * | identities | `cilium/state/identities/v1/id/` | `cilium/cache/identities/v1/<remote>/id/` | `cilium/cache/identities/v1/<remote>/` + `id/` |
 * | ip | `cilium/state/ip/v1/default/` | `cilium/cache/ip/v1/<remote>/` | `cilium/cache/ip/v1/<remote>/` |
 */
export interface CopyPrefixes {
  source: string;
  target: string;
  /** Put before a source suffix to make the target suffix (`id/` for identities, else empty). */
  targetSuffixPrefix: string;
}

export function copyPrefixes(resource: CanaryStore, remote: string, sourceCached: boolean): CopyPrefixes {
  const target = `${storePrefix(resource, true)}/${remote}/`;
  if (resource === 'identities') {
    const id = `${IDENTITY_ID_SEGMENT}/`;
    return { source: sourceCached ? `${target}${id}` : `${IDENTITIES_PREFIX}/${id}`, target, targetSuffixPrefix: id };
  }
  if (sourceCached) return { source: target, target, targetSuffixPrefix: '' };
  if (resource === 'ip') {
    return { source: `${storePrefix('ip')}/${IPCACHE_ADDRESS_SPACE}/`, target, targetSuffixPrefix: '' };
  }
  return { source: `${storePrefix(resource)}/${remote}/`, target, targetSuffixPrefix: '' };
}

/** The canary kvstoremesh writes once `remote`'s `resource` is copied: `cilium/synced/<remote>/cilium/cache/<r>/v1`. */
export function cacheCanaryKey(remote: string, resource: CanaryStore): string {
  return syncedCanaryKey(remote, resource, true);
}

/** Every canary kvstoremesh may have written for `remote` lives under this prefix. */
export function cacheCanaryPrefix(remote: string): string {
  return `${SYNCED_PREFIX}/${remote}/cilium/cache/`;
}
