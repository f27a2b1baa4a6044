import { MalformedValueError } from './errors.js';

/**
 * Every etcd key Cilium's clustermesh uses. Keys are relative (no leading slash). Prefix constants have no
 * trailing slash; watchers watch `<prefix>/`, which the `*WatchPrefix` helpers return.
 */

export const BASE_KEY_PREFIX = 'cilium';
export const STATE_PREFIX = 'cilium/state';
export const CACHE_PREFIX = 'cilium/cache';
export const HEARTBEAT_KEY = 'cilium/.heartbeat';
export const CLUSTER_CONFIG_PREFIX = 'cilium/cluster-config';
export const SYNCED_PREFIX = 'cilium/synced';
export const INIT_LOCK_PREFIX = 'cilium/.initlock';

export const NODES_PREFIX = 'cilium/state/nodes/v1';
export const SERVICES_PREFIX = 'cilium/state/services/v1';
export const SERVICE_EXPORTS_PREFIX = 'cilium/state/serviceexports/v1';
export const IDENTITIES_PREFIX = 'cilium/state/identities/v1';
export const IPCACHE_PREFIX = 'cilium/state/ip/v1';
export const NODE_REGISTER_PREFIX = 'cilium/state/noderegister/v1';

/** The ipcache's single address space: ipcache keys carry no cluster name. */
export const IPCACHE_ADDRESS_SPACE = 'default';
export const IDENTITY_ID_SEGMENT = 'id';
export const IDENTITY_VALUE_SEGMENT = 'value';

/** The per-cluster resources a clustermesh-apiserver exports and a kvstoremesh caches. */
export type MeshResource = 'nodes' | 'services' | 'serviceexports' | 'identities' | 'ip';
export const MESH_RESOURCES: readonly MeshResource[] = ['nodes', 'services', 'serviceexports', 'identities', 'ip'];

/** The stores a sync canary may announce: the mesh resources and Cilium 1.20's endpoint slices. */
export type CanaryStore = MeshResource | 'endpointslices';
/** The six canaries a kvstoremesh writes for every remote, in Cilium's order. */
export const CACHE_CANARY_STORES: readonly CanaryStore[] = [
  'nodes',
  'services',
  'serviceexports',
  'endpointslices',
  'identities',
  'ip',
];

/** `cilium/state/<resource>/v1`, or `cilium/cache/<resource>/v1` when `cached`. */
export function storePrefix(resource: CanaryStore, cached = false): string {
  return `${cached ? CACHE_PREFIX : STATE_PREFIX}/${resource}/v1`;
}

/** `cilium/state/...` -> `cilium/cache/...` (other prefixes unchanged), like Cilium's StateToCachePrefix. */
export function stateToCachePrefix(prefix: string): string {
  return prefix.startsWith(STATE_PREFIX) ? CACHE_PREFIX + prefix.slice(STATE_PREFIX.length) : prefix;
}

export function clusterConfigKey(cluster: string): string {
  return `${CLUSTER_CONFIG_PREFIX}/${cluster}`;
}

/**
 * The canary announcing that `cluster`'s `resource` store finished its initial sync:
 * `cilium/synced/<cluster>/cilium/state/<resource>/v1` (or `.../cilium/cache/...` when written by kvstoremesh).
 */
export function syncedCanaryKey(cluster: string, resource: CanaryStore, cached = false): string {
  return `${SYNCED_PREFIX}/${cluster}/${storePrefix(resource, cached)}`;
}

export function syncedCanaryPrefix(cluster: string): string {
  return `${SYNCED_PREFIX}/${cluster}/`;
}

export function nodeKey(cluster: string, node: string): string {
  return `${NODES_PREFIX}/${cluster}/${node}`;
}

export function serviceKey(cluster: string, namespace: string, name: string): string {
  return `${SERVICES_PREFIX}/${cluster}/${namespace}/${name}`;
}

export function serviceExportKey(cluster: string, namespace: string, name: string): string {
  return `${SERVICE_EXPORTS_PREFIX}/${cluster}/${namespace}/${name}`;
}

/** `cilium/state/ip/v1/default/<ip>`, or `.../<ip>/<prefixLen>` for a CIDR entry. */
export function ipcacheKey(ip: string, prefixLen?: number): string {
  return `${IPCACHE_PREFIX}/${IPCACHE_ADDRESS_SPACE}/${ip}${prefixLen === undefined ? '' : `/${prefixLen}`}`;
}

/** The identity master key `cilium/state/identities/v1/id/<id>`. */
export function identityKey(id: number): string {
  return `${IDENTITIES_PREFIX}/${IDENTITY_ID_SEGMENT}/${id}`;
}

/** The identity slave key `cilium/state/identities/v1/value/<label string>/<node suffix>`. */
export function identityValueKey(labelString: string, nodeSuffix: string): string {
  return `${IDENTITIES_PREFIX}/${IDENTITY_VALUE_SEGMENT}/${labelString}/${nodeSuffix}`;
}

export function nodeRegisterKey(nodeName: string): string {
  return `${NODE_REGISTER_PREFIX}/${nodeName}`;
}

export function initLockKey(name: string): string {
  return `${INIT_LOCK_PREFIX}/${name}`;
}

/**
 * The prefix (with trailing slash) under which `cluster`'s entries of `resource` live, directly
 * (`cached` false: in that cluster's own etcd) or in a kvstoremesh cache (`cached` true):
 *
 * | resource | state | cache |
 * |---|---|---|
 * | nodes, services, serviceexports | `cilium/state/<r>/v1/<cluster>/` | `cilium/cache/<r>/v1/<cluster>/` |
 * | identities | `cilium/state/identities/v1/id/` | `cilium/cache/identities/v1/<cluster>/id/` |
 * | ip | `cilium/state/ip/v1/default/` | `cilium/cache/ip/v1/<cluster>/` |
 *
 * The part of a key after this prefix (its suffix) is the same in both places.
 */
export function resourceWatchPrefix(resource: MeshResource, cluster: string, cached = false): string {
  const base = storePrefix(resource, cached);
  switch (resource) {
    case 'identities':
      return cached ? `${base}/${cluster}/${IDENTITY_ID_SEGMENT}/` : `${base}/${IDENTITY_ID_SEGMENT}/`;
    case 'ip':
      return cached ? `${base}/${cluster}/` : `${base}/${IPCACHE_ADDRESS_SPACE}/`;
    default:
      return `${base}/${cluster}/`;
  }
}

/** Where kvstoremesh reads `remote`'s `resource` (in the remote etcd) and where it writes the copies (locally). */
export interface MirrorPrefixes {
  source: string;
  target: string;
}

export function mirrorPrefixes(resource: MeshResource, remote: string): MirrorPrefixes {
  return { source: resourceWatchPrefix(resource, remote, false), target: resourceWatchPrefix(resource, remote, true) };
}

/**
 * cmesh extension (not written by Cilium): present while a KVStoreMesh reaches `remote` and has its copy in sync,
 * deleted the moment it loses it. Agents reading the cache treat an absent marker like a lost connection, so a dead
 * remote's backends stop being selected even though its cached copy stays readable.
 */
export function cacheReachabilityKey(remote: string): string {
  return `${cacheReachabilityPrefix()}${remote}`;
}

/** Where the reachability markers (and their writer's announcement) live, with the trailing slash. */
export function cacheReachabilityPrefix(): string {
  return `${CACHE_PREFIX}/.reachable/`;
}

/**
 * cmesh extension: written by a cmesh KVStoreMesh under its lease before any cached cluster config, it says "this
 * cache's writer maintains reachability markers". An agent requires a remote's marker only while this key exists,
 * so a cache written by Cilium's KVStoreMesh (which writes neither) is read as Cilium's agents read it. `.writer`
 * cannot be a cluster name (names start with a letter or digit), so it never collides with a marker.
 */
export const CACHE_REACHABILITY_WRITER_KEY = `${CACHE_PREFIX}/.reachable/.writer`;
/** The writer key's value (readers test only that the key exists). */
export const CACHE_REACHABILITY_WRITER_VALUE = 'cmesh-kvstoremesh';

/** The cache key for a remote's entry: `cilium/cache/<resource>/v1/<cluster>/...` + suffix. */
export function cacheKey(resource: MeshResource, remote: string, suffix: string): string {
  return resourceWatchPrefix(resource, remote, true) + suffix;
}

function withSlash(prefix: string): string {
  return prefix.endsWith('/') ? prefix : prefix + '/';
}

/** The part of `key` after `prefix/`, or undefined if `key` is not strictly below `prefix`. */
export function keySuffix(key: string, prefix: string): string | undefined {
  const p = withSlash(prefix);
  return key.length > p.length && key.startsWith(p) ? key.slice(p.length) : undefined;
}

/** Like keySuffix, but a key outside the prefix is an error. */
export function requireKeySuffix(key: string, prefix: string): string {
  const s = keySuffix(key, prefix);
  if (s === undefined)
    throw new MalformedValueError(`key ${JSON.stringify(key)} is not under prefix "${withSlash(prefix)}"`);
  return s;
}

/** Maps a key under `from` to the same suffix under `to` (e.g. a state key to its cache copy). */
export function rebaseKey(key: string, from: string, to: string): string {
  return withSlash(to) + requireKeySuffix(key, from);
}

/** Splits an ipcache suffix `<ip>` or `<ip>/<len>`. */
export function splitIpcacheSuffix(suffix: string): { ip: string; prefixLen?: number } {
  const i = suffix.lastIndexOf('/');
  if (i < 0) return { ip: suffix };
  return { ip: suffix.slice(0, i), prefixLen: Number(suffix.slice(i + 1)) };
}
