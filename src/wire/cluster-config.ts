import {
  DEFAULT_MAX_CONNECTED_CLUSTERS,
  EXTENDED_MAX_CONNECTED_CLUSTERS,
  type MaxConnectedClusters,
} from './cluster.js';
import { MalformedValueError, ValidationError } from './errors.js';
import { CACHE_CANARY_STORES, type CanaryStore } from './keys.js';
import { asObjectField, bool, parseJsonObject, uint } from './json-fields.js';

/** `cilium/cluster-config/<cluster>`: what a reader needs to know before consuming a cluster's data. */
export interface ClusterConfig {
  /** 0 when absent (Go's omitempty zero value). */
  id: number;
  capabilities: ClusterCapabilities;
}

export interface ClusterCapabilities {
  /** Per-prefix `cilium/synced/...` canaries are written. */
  syncedCanaries: boolean;
  /** The data is a kvstoremesh copy under `cilium/cache/...`. */
  cached: boolean;
  /** 0 when absent (clusters predating the field). */
  maxConnectedClusters: number;
  /** undefined: the writer does not support MCS service exports; false: supported but off. */
  serviceExportsEnabled?: boolean;
  /**
   * Cilium 1.20's `endpointSlicesExportMode`: undefined (absent, `""`) = services only; `services-and-endpointslices`
   * = both stores; `endpointslices-only` = no services store and no services canary.
   */
  endpointSlicesExportMode?: EndpointSlicesExportMode;
}

export type EndpointSlicesExportMode = 'services-and-endpointslices' | 'endpointslices-only';
export const ENDPOINT_SLICES_EXPORT_MODES: readonly EndpointSlicesExportMode[] = [
  'services-and-endpointslices',
  'endpointslices-only',
];

const WHAT = 'cluster config';

/** Exactly Cilium's bytes: omitempty fields dropped, `capabilities` always present. */
export function encodeClusterConfig(cfg: ClusterConfig): string {
  const c = cfg.capabilities;
  const caps: string[] = [];
  if (c.syncedCanaries) caps.push('"syncedCanaries":true');
  if (c.cached) caps.push('"cached":true');
  if (c.maxConnectedClusters) caps.push(`"maxConnectedClusters":${c.maxConnectedClusters}`);
  if (c.serviceExportsEnabled !== undefined) caps.push(`"serviceExportsEnabled":${c.serviceExportsEnabled}`);
  if (c.endpointSlicesExportMode) caps.push(`"endpointSlicesExportMode":"${c.endpointSlicesExportMode}"`);
  const id = cfg.id ? `"id":${cfg.id},` : '';
  return `{${id}"capabilities":{${caps.join(',')}}}`;
}

export function decodeClusterConfig(bytes: string | Uint8Array): ClusterConfig {
  const o = parseJsonObject(bytes, WHAT);
  const capsRaw = o.capabilities ?? {};
  const caps = asObjectField(capsRaw, WHAT, 'capabilities');
  const what = `${WHAT} capabilities`;
  const se = caps.serviceExportsEnabled;
  const capabilities: ClusterCapabilities = {
    syncedCanaries: bool(caps, 'syncedCanaries', what, false),
    cached: bool(caps, 'cached', what, false),
    maxConnectedClusters: uint(caps, 'maxConnectedClusters', what, undefined, 0),
  };
  if (se !== undefined && se !== null) capabilities.serviceExportsEnabled = bool(caps, 'serviceExportsEnabled', what);
  const mode = caps.endpointSlicesExportMode;
  if (mode !== undefined && mode !== null && mode !== '') {
    if (!ENDPOINT_SLICES_EXPORT_MODES.includes(mode as EndpointSlicesExportMode)) {
      throw new MalformedValueError(
        `${what}: endpointSlicesExportMode ${JSON.stringify(mode)} is none of "", ${ENDPOINT_SLICES_EXPORT_MODES.map((m) => `"${m}"`).join(', ')}`,
      );
    }
    capabilities.endpointSlicesExportMode = mode as EndpointSlicesExportMode;
  }
  return { id: uint(o, 'id', WHAT, undefined, 0), capabilities };
}

/**
 * The config an apiserver publishes for its own cluster. `endpointSlicesExportMode` is left out unless given (cmesh's
 * apiserver writes no endpoint slices yet, so it does not claim Cilium 1.20's default `services-and-endpointslices`).
 */
export function localClusterConfig(
  id: number,
  maxConnectedClusters: MaxConnectedClusters,
  serviceExportsEnabled?: boolean,
  endpointSlicesExportMode?: EndpointSlicesExportMode,
): ClusterConfig {
  const capabilities: ClusterCapabilities = { syncedCanaries: true, cached: false, maxConnectedClusters };
  if (serviceExportsEnabled !== undefined) capabilities.serviceExportsEnabled = serviceExportsEnabled;
  if (endpointSlicesExportMode) capabilities.endpointSlicesExportMode = endpointSlicesExportMode;
  return { id, capabilities };
}

/**
 * The copy a kvstoremesh publishes for a remote: the remote's config with `syncedCanaries` and `cached` forced (a
 * kvstoremesh writes its cache canaries whatever the remote does), the rest copied, as Cilium's kvstoremesh does.
 */
export function cachedClusterConfig(remote: ClusterConfig): ClusterConfig {
  return { id: remote.id, capabilities: { ...remote.capabilities, syncedCanaries: true, cached: true } };
}

/**
 * Whether a remote with this config offers `store`, as Cilium's readers decide it: services unless the mode is
 * `endpointslices-only`; endpoint slices unless the mode is empty; service exports when `serviceExportsEnabled` is
 * present (even false: the store is then empty but its canary written). Nodes, identities and ipcache always.
 */
export function storeOffered(caps: ClusterCapabilities, store: CanaryStore): boolean {
  switch (store) {
    case 'services':
      return caps.endpointSlicesExportMode !== 'endpointslices-only';
    case 'endpointslices':
      return caps.endpointSlicesExportMode !== undefined;
    case 'serviceexports':
      return caps.serviceExportsEnabled !== undefined;
    default:
      return true;
  }
}

/** The stores (and so, with `syncedCanaries`, the canaries) a reader waits for before the remote counts as ready. */
export function readinessStores(caps: ClusterCapabilities): CanaryStore[] {
  return CACHE_CANARY_STORES.filter((s) => storeOffered(caps, s));
}

/** A config without the field predates 511 mode, so it means 255. */
export function effectiveMaxConnectedClusters(cfg: ClusterConfig): number {
  return cfg.capabilities.maxConnectedClusters || DEFAULT_MAX_CONNECTED_CLUSTERS;
}

export interface LocalMeshView {
  localId: number;
  localMaxConnectedClusters: MaxConnectedClusters;
  /** IDs of the other remotes currently connected, to their names. */
  otherRemoteIds: ReadonlyMap<number, string>;
}

/**
 * Accepts a remote's config for connecting, as Cilium's ValidateRemoteConfig plus the mesh-wide ID checks:
 * rejects ID 0 (missing config), an ID above the local maximum, the local ID, an ID another remote uses,
 * and, when the local cluster runs in 511 mode, a different MaxConnectedClusters.
 */
export function validateRemoteClusterConfig(
  remoteName: string,
  cfg: ClusterConfig,
  local: LocalMeshView,
): ClusterConfig {
  const id = cfg.id;
  if (id === 0) {
    throw new ValidationError(
      `remote cluster "${remoteName}" has cluster ID 0 (missing or incomplete cluster configuration)`,
    );
  }
  if (id > local.localMaxConnectedClusters) {
    throw new ValidationError(
      `remote cluster "${remoteName}" has cluster ID ${id}, outside 1..${local.localMaxConnectedClusters} supported locally`,
    );
  }
  if (id === local.localId) {
    throw new ValidationError(`remote cluster "${remoteName}" has cluster ID ${id}, the same as the local cluster`);
  }
  const other = local.otherRemoteIds.get(id);
  if (other !== undefined && other !== remoteName) {
    throw new ValidationError(
      `remote cluster "${remoteName}" has cluster ID ${id}, already used by remote cluster "${other}"`,
    );
  }
  const remoteMax = cfg.capabilities.maxConnectedClusters;
  if (
    local.localMaxConnectedClusters === EXTENDED_MAX_CONNECTED_CLUSTERS &&
    remoteMax !== local.localMaxConnectedClusters
  ) {
    throw new ValidationError(
      `remote cluster "${remoteName}" has mismatched MaxConnectedClusters: local=${local.localMaxConnectedClusters}, remote=${remoteMax}`,
    );
  }
  return cfg;
}
