import type { Informer } from '../k8s/source.js';
import type {
  CiliumEndpoint,
  CiliumIdentity,
  CiliumNode,
  EndpointSlice,
  Namespace,
  Service,
  ServiceExport,
} from '../k8s/types.js';
import { bytesToBuffer, utf8Bytes, type ByteString } from '../kvstore/byte-string.js';
import type { SyncStore } from '../kvstore/sync-store.js';
import type { Logger } from '../observe/logger.js';
import {
  CLUSTER_LABEL,
  NAMESPACE_LABEL,
  decodeIPIdentityPair,
  encodeClusterService,
  encodeIPIdentityPair,
  encodeNode,
  objectRef,
  splitNamespacedName,
} from '../wire/index.js';
import { isGlobalNamespace } from '../k8s/cilium-annotations.js';
import { endpointToIpcache } from '../k8s/endpoint-converter.js';
import { identityToKv } from './identity-converter.js';
import { IpcacheClaims } from './ipcache-claims.js';
import { ciliumNodeToNode, type ClusterIdentity } from '../k8s/node-converter.js';
import { isExportedService, serviceToClusterService, sliceServiceName } from '../k8s/service-converter.js';
import { serviceToExport } from './service-export-converter.js';

/**
 * Decides which namespaces export anything, and tells the syncers when a namespace's decision changes so that
 * they re-evaluate that namespace's objects.
 */
export class NamespaceFilter {
  private readonly listeners: ((ns: string) => void)[] = [];
  private readonly global = new Map<string, boolean>();
  private namespacesListed = false;

  constructor(
    private readonly namespaces: Informer<Namespace>,
    private readonly defaultGlobal: boolean,
  ) {
    void namespaces.synced.then(() => {
      this.namespacesListed = true;
    });
    namespaces.on({
      onAdd: (ns) => {
        this.update(ns);
      },
      onUpdate: (ns) => {
        this.update(ns);
      },
      onDelete: (ns) => {
        this.global.delete(ns.metadata.name);
        this.notify(ns.metadata.name);
      },
    });
  }

  /** A namespace that does not exist (yet) follows the default. */
  isGlobal(ns: string | undefined): boolean {
    if (ns === undefined || ns === '') return true;
    return this.global.get(ns) ?? this.defaultGlobal;
  }

  /**
   * Whether the namespace exists: `true` or `false` once the namespaces are listed, `undefined` before (not known
   * yet: a caller waits for the namespace's add, which notifies).
   */
  exists(ns: string): boolean | undefined {
    if (this.global.has(ns)) return true;
    return this.namespacesListed ? false : undefined;
  }

  onChange(listener: (ns: string) => void): void {
    this.listeners.push(listener);
  }

  private update(ns: Namespace): void {
    const name = ns.metadata.name;
    const existed = this.global.has(name);
    const before = this.isGlobal(name);
    this.global.set(name, isGlobalNamespace(ns.metadata.annotations, this.defaultGlobal));
    // A namespace that appears is news too: identities wait for their namespace to exist.
    if (!existed || before !== this.isGlobal(name)) this.notify(name);
  }

  private notify(ns: string): void {
    for (const l of this.listeners) l(ns);
  }
}

/**
 * CiliumIdentity -> `cilium/state/identities/v1/id/<id>`, under the apiserver's lease as Cilium 1.20 writes it. As in
 * Cilium 1.20, an identity without a namespace label is never exported, and one whose namespace does not exist is
 * not exported until the namespace appears (then at once; the canary does not wait for it).
 */
export function syncIdentities(
  informer: Informer<CiliumIdentity>,
  store: SyncStore,
  filter: NamespaceFilter,
  cluster: ClusterIdentity,
  log: Logger,
): void {
  const apply = (ci: CiliumIdentity): void => {
    let kv;
    try {
      kv = identityToKv(ci);
    } catch (err) {
      log.warn({ identity: ci.metadata.name, err: (err as Error).message }, 'skipping invalid CiliumIdentity');
      return;
    }
    const ns = ci['security-labels'][`k8s:${NAMESPACE_LABEL}`];
    const ownCluster = ci['security-labels'][`k8s:${CLUSTER_LABEL}`];
    const key = `id/${kv.id}`;
    const exists = ns ? filter.exists(ns) : false;
    // Namespaces not listed yet: the namespace's add re-applies this identity (a primed key the initial sync does
    // not upsert is removed as stale when the store reports synced).
    if (exists === undefined) return;
    if (exists && filter.isGlobal(ns) && (ownCluster === undefined || ownCluster === cluster.name)) {
      store.upsert(key, kv.labels);
    } else store.delete(key);
  };
  informer.on({
    onAdd: apply,
    onUpdate: apply,
    onDelete: (ci) => {
      store.delete(`id/${ci.metadata.name}`);
    },
  });
  filter.onChange((ns) => {
    for (const ci of informer.list()) if (ci['security-labels'][`k8s:${NAMESPACE_LABEL}`] === ns) apply(ci);
  });
}

/** CiliumNode -> `cilium/state/nodes/v1/<cluster>/<node>`. */
export function syncNodes(informer: Informer<CiliumNode>, store: SyncStore, cluster: ClusterIdentity): void {
  const apply = (cn: CiliumNode): void => {
    store.upsert(`${cluster.name}/${cn.metadata.name}`, encodeNode(ciliumNodeToNode(cn, cluster)));
  };
  informer.on({
    onAdd: apply,
    onUpdate: apply,
    onDelete: (cn) => {
      store.delete(`${cluster.name}/${cn.metadata.name}`);
    },
  });
}

/** An ipcache entry as syncIpcache keeps it: the address and its value as written. */
export interface EncodedIpcacheEntry {
  readonly IP: string;
  readonly value: ByteString;
}

/**
 * CiliumEndpoint -> `cilium/state/ip/v1/default/<ip>` for each address, with first-claim-wins ownership of IPs.
 * `store` is keyed by the bare IP: its prefix is `cilium/state/ip/v1/default`.
 * At start-up a contested IP stays with the endpoint etcd already names, so a restart never flips an owner.
 *
 * The informer may be one without a cache (every change arrives at onAdd, deletes carry the name only): what is
 * kept per endpoint is its addresses, exported or not, so that a namespace turning global can claim them.
 */
export function syncIpcache(
  informer: Informer<CiliumEndpoint>,
  store: SyncStore,
  filter: NamespaceFilter,
  existingOwner: (ip: string) => string | undefined,
): IpcacheClaims<EncodedIpcacheEntry> {
  const claims = new IpcacheClaims<EncodedIpcacheEntry>({
    upsert: (ip, entry) => {
      store.upsertBytes(ip, entry.value);
    },
    delete: (ip) => {
      store.delete(ip);
    },
    published: (ip) => {
      const value = store.get(ip);
      return value ? { IP: ip, value } : undefined;
    },
  });
  /**
   * namespace -> endpoint name -> its ipcache entries (whether the namespace is exported or not). Encoded: the
   * store holds the same strings, where pair objects were half of the apiserver's heap at 100k endpoints.
   */
  const addresses = new Map<string, Map<string, EncodedIpcacheEntry[]>>();
  const apply = (cep: CiliumEndpoint): void => {
    const ns = cep.metadata.namespace ?? '';
    const entries = endpointToIpcache(cep).map((p): EncodedIpcacheEntry => ({
      IP: p.IP,
      value: utf8Bytes(encodeIPIdentityPair(p)),
    }));
    let inNs = addresses.get(ns);
    if (entries.length > 0) {
      if (!inNs) addresses.set(ns, (inNs = new Map<string, EncodedIpcacheEntry[]>()));
      inNs.set(cep.metadata.name, entries);
    } else inNs?.delete(cep.metadata.name);
    claims.set(
      objectRef(cep.metadata.namespace, cep.metadata.name),
      filter.isGlobal(ns) ? entries : [],
      informer.hasSynced() ? undefined : existingOwner,
    );
  };
  informer.on({
    onAdd: apply,
    onUpdate: apply,
    onDelete: (cep) => {
      addresses.get(cep.metadata.namespace ?? '')?.delete(cep.metadata.name);
      claims.remove(objectRef(cep.metadata.namespace, cep.metadata.name));
    },
  });
  filter.onChange((ns) => {
    const global = filter.isGlobal(ns);
    for (const [name, pairs] of addresses.get(ns) ?? []) claims.set(objectRef(ns, name), global ? pairs : []);
  });
  return claims;
}

/** Reads `<ns>/<pod>` of the endpoint an existing ipcache value names (to keep ownership across restarts). */
export function ipcacheOwnerFromValue(value: ByteString | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    const p = decodeIPIdentityPair(bytesToBuffer(value));
    return p.K8sPodName ? objectRef(p.K8sNamespace, p.K8sPodName) : undefined;
  } catch {
    return undefined;
  }
}

export interface ServiceSyncOptions {
  services: Informer<Service>;
  slices: Informer<EndpointSlice>;
  filter: NamespaceFilter;
  cluster: ClusterIdentity;
  store: SyncStore;
  /** MCS-API ServiceExports, when enabled: the export objects and where to write them. */
  exports?: { informer: Informer<ServiceExport>; store: SyncStore };
}

/**
 * Global services -> `cilium/state/services/v1/<cluster>/<ns>/<name>`: recomputed whenever the service, one of its
 * EndpointSlices or its namespace changes.
 */
export function syncServices(o: ServiceSyncOptions): void {
  const slicesBySvc = new Map<string, Map<string, EndpointSlice>>();
  const recompute = (key: string): void => {
    const { namespace: ns, name } = splitNamespacedName(key) ?? { namespace: '', name: key };
    const svc = o.services.get(ns, name);
    const storeKey = `${o.cluster.name}/${key}`;
    if (svc && o.filter.isGlobal(ns) && isExportedService(svc)) {
      const slices = [...(slicesBySvc.get(key)?.values() ?? [])];
      o.store.upsert(storeKey, encodeClusterService(serviceToClusterService(svc, slices, o.cluster)));
    } else {
      o.store.delete(storeKey);
    }
    if (o.exports) {
      const marker = o.exports.informer.get(ns, name);
      const value = svc && marker && o.filter.isGlobal(ns) ? serviceToExport(svc, marker, o.cluster) : undefined;
      if (value) o.exports.store.upsert(storeKey, value);
      else o.exports.store.delete(storeKey);
    }
  };
  o.services.on({
    onAdd: (s) => {
      recompute(objectRef(s.metadata.namespace, s.metadata.name));
    },
    onUpdate: (s) => {
      recompute(objectRef(s.metadata.namespace, s.metadata.name));
    },
    onDelete: (s) => {
      recompute(objectRef(s.metadata.namespace, s.metadata.name));
    },
  });
  const sliceChanged = (slice: EndpointSlice, deleted: boolean): void => {
    const svcName = sliceServiceName(slice);
    if (!svcName) return;
    const key = objectRef(slice.metadata.namespace, svcName);
    let m = slicesBySvc.get(key);
    if (deleted) m?.delete(slice.metadata.name);
    else {
      if (!m) slicesBySvc.set(key, (m = new Map<string, EndpointSlice>()));
      m.set(slice.metadata.name, slice);
    }
    if (m?.size === 0) slicesBySvc.delete(key);
    recompute(key);
  };
  o.slices.on({
    onAdd: (s) => {
      sliceChanged(s, false);
    },
    onUpdate: (s, old) => {
      // A slice whose service label changed moves between services.
      if (sliceServiceName(old) !== sliceServiceName(s)) sliceChanged(old, true);
      sliceChanged(s, false);
    },
    onDelete: (s) => {
      sliceChanged(s, true);
    },
  });
  o.exports?.informer.on({
    onAdd: (e) => {
      recompute(objectRef(e.metadata.namespace, e.metadata.name));
    },
    onUpdate: (e) => {
      recompute(objectRef(e.metadata.namespace, e.metadata.name));
    },
    onDelete: (e) => {
      recompute(objectRef(e.metadata.namespace, e.metadata.name));
    },
  });
  o.filter.onChange((ns) => {
    for (const s of o.services.list())
      if (s.metadata.namespace === ns) recompute(objectRef(s.metadata.namespace, s.metadata.name));
  });
}
