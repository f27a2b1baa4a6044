import {
  DEFAULT_MAX_CONNECTED_CLUSTERS,
  EXTENDED_MAX_CONNECTED_CLUSTERS,
  type MaxConnectedClusters,
} from './cluster.js';
import { ValidationError } from './errors.js';
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
}

const WHAT = 'cluster config';

/** Exactly Cilium's bytes: omitempty fields dropped, `capabilities` always present. */
export function encodeClusterConfig(cfg: ClusterConfig): string {
  const c = cfg.capabilities;
  const caps: string[] = [];
  if (c.syncedCanaries) caps.push('"syncedCanaries":true');
  if (c.cached) caps.push('"cached":true');
  if (c.maxConnectedClusters) caps.push(`"maxConnectedClusters":${c.maxConnectedClusters}`);
  if (c.serviceExportsEnabled !== undefined) caps.push(`"serviceExportsEnabled":${c.serviceExportsEnabled}`);
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
  return { id: uint(o, 'id', WHAT, undefined, 0), capabilities };
}

/** The config an apiserver publishes for its own cluster. */
export function localClusterConfig(
  id: number,
  maxConnectedClusters: MaxConnectedClusters,
  serviceExportsEnabled?: boolean,
): ClusterConfig {
  const capabilities: ClusterCapabilities = { syncedCanaries: true, cached: false, maxConnectedClusters };
  if (serviceExportsEnabled !== undefined) capabilities.serviceExportsEnabled = serviceExportsEnabled;
  return { id, capabilities };
}

/** The copy a kvstoremesh publishes for a remote: the remote's config with `cached` set. */
export function cachedClusterConfig(remote: ClusterConfig): ClusterConfig {
  return { id: remote.id, capabilities: { ...remote.capabilities, cached: true } };
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
