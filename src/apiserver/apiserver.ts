import type { Etcd3 } from 'etcd3';
import type { ClusterSource, Informer, InformerOptions } from '../k8s/source.js';
import type { ObjectStore } from '../k8s/object-store.js';
import type { K8sObject } from '../k8s/types.js';
import { DEFAULT_GLOBAL_NAMESPACE } from '../k8s/cilium-annotations.js';
import { ClusterConfigPublisher } from '../kvstore/cluster-config-publisher.js';
import { HeartbeatWriter } from '../kvstore/heartbeat.js';
import { LeaseManager } from '../kvstore/lease.js';
import { SyncStore } from '../kvstore/sync-store.js';
import { logger } from '../observe/logger.js';
import {
  IDENTITIES_PREFIX,
  IPCACHE_ADDRESS_SPACE,
  IPCACHE_PREFIX,
  NODES_PREFIX,
  SERVICES_PREFIX,
  SERVICE_EXPORTS_PREFIX,
  localClusterConfig,
  type MaxConnectedClusters,
} from '../wire/index.js';
import { ExternalWorkloadManager, type ExternalWorkloadStatus } from './external-workload-manager.js';
import { apiserverMetrics } from './metrics.js';
import {
  NamespaceFilter,
  ipcacheOwnerFromValue,
  syncIdentities,
  syncIpcache,
  syncNodes,
  syncServices,
} from './resource-syncers.js';

/** Cilium's default --kvstore-lease-ttl. */
export const DEFAULT_LEASE_TTL_SECONDS = 15 * 60;

export interface ApiserverOptions {
  clusterName: string;
  clusterId: number;
  maxConnectedClusters: MaxConnectedClusters;
  /** The cluster's state (CiliumIdentity, CiliumEndpoint, CiliumNode, Service, EndpointSlice, Namespace). */
  source: ClusterSource;
  /** The clustermesh etcd this apiserver publishes into. */
  kvstore: Etcd3;
  /** Namespaces without a `clustermesh.cilium.io/global` annotation export (true) or not (false). */
  defaultGlobalNamespace?: boolean;
  /** Publish MCS-API ServiceExports (and say so in the cluster config). */
  enableServiceExports?: boolean;
  leaseTtlSeconds?: number;
  heartbeatIntervalMs?: number;
  clusterConfigIntervalMs?: number;
  /**
   * Writes into the cluster's state (an ObjectStore on the same state etcd the local source reads). With it, the
   * apiserver serves external workloads (VM registrations: CiliumIdentity, CiliumNode, CiliumEndpoint, CEW status).
   */
  stateWriter?: ObjectStore;
}

export interface ApiserverStatus {
  ready: boolean;
  resources: Record<string, { synced: boolean; keys: number; queued: number }>;
  /** Present when external workloads are served. */
  externalWorkloads?: ExternalWorkloadStatus[];
}

/**
 * The clustermesh-apiserver: publishes the cluster's identities, endpoints (ipcache), nodes and global services
 * into its clustermesh etcd, with sync canaries, the cluster config and the heartbeat.
 *
 * Restart-safe: every store first reads what etcd already holds under its prefix (adopting the previous run's
 * lease when it is still alive), so unchanged keys are not rewritten, and keys whose objects disappeared while
 * the apiserver was down are deleted once the initial sync is complete.
 */
export class ClustermeshApiserver {
  private readonly log = logger('clustermesh-apiserver');
  private readonly lease: LeaseManager;
  private readonly stores = new Map<string, SyncStore>();
  private readonly informers: Informer<K8sObject>[] = [];
  private heartbeat: HeartbeatWriter | undefined;
  private config: ClusterConfigPublisher | undefined;
  private externalWorkloads: ExternalWorkloadManager | undefined;
  private started = false;

  constructor(private readonly opts: ApiserverOptions) {
    this.lease = new LeaseManager(opts.kvstore, { ttlSeconds: opts.leaseTtlSeconds ?? DEFAULT_LEASE_TTL_SECONDS });
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const o = this.opts;
    const cluster = { name: o.clusterName, id: o.clusterId };
    await this.lease.adoptFrom([`cilium/cluster-config/${o.clusterName}`, `${NODES_PREFIX}/${o.clusterName}/`]);

    /** `keyPrefix`: where keys go when that is below the resource's prefix (which names the canary). */
    const store = (prefix: string, noLease = false, keyPrefix = prefix): SyncStore => {
      const s = new SyncStore(o.kvstore, {
        prefix: keyPrefix,
        syncedKey: prefix,
        clusterName: o.clusterName,
        lease: this.lease,
        ...(noLease ? { noLease: true, canaryLease: this.lease } : {}),
      });
      this.stores.set(prefix, s);
      return s;
    };
    const nodes = store(NODES_PREFIX);
    const services = store(SERVICES_PREFIX);
    // Identity master keys carry the lease like every other key (Cilium 1.20).
    const identities = store(IDENTITIES_PREFIX);
    // Keyed by the bare IP (the store's prefix includes the address space): no key string built per endpoint.
    const ipcache = store(IPCACHE_PREFIX, false, `${IPCACHE_PREFIX}/${IPCACHE_ADDRESS_SPACE}`);
    // Written always, as Cilium does: with MCS-API off the store stays empty and its canary is written at once
    // (readers that see `serviceExportsEnabled` in the config, even false, wait for it).
    const exportsStore = store(SERVICE_EXPORTS_PREFIX);
    // Only what this cluster owns is primed: nodes and services are per-cluster subtrees, the ipcache and the
    // identity range belong to this cluster's clustermesh etcd as a whole.
    await Promise.all([
      nodes.prime(`${o.clusterName}/`),
      services.prime(`${o.clusterName}/`),
      identities.prime('id/'),
      ipcache.prime(),
      exportsStore.prime(`${o.clusterName}/`),
    ]);

    const inf = <K extends Parameters<ClusterSource['informer']>[0]>(kind: K, opts?: InformerOptions) => {
      const i = o.source.informer(kind, opts);
      this.informers.push(i);
      return i;
    };
    const namespaces = inf('Namespace');
    const filter = new NamespaceFilter(namespaces, o.defaultGlobalNamespace ?? DEFAULT_GLOBAL_NAMESPACE);
    const ciliumIdentities = inf('CiliumIdentity');
    const ciliumNodes = inf('CiliumNode');
    // The most numerous objects by far: syncIpcache keeps their addresses, the informer keeps nothing.
    const endpoints = inf('CiliumEndpoint', { cache: false });
    const svcs = inf('Service');
    const slices = inf('EndpointSlice');
    const exportObjs = o.enableServiceExports ? inf('ServiceExport') : undefined;

    syncIdentities(ciliumIdentities, identities, filter, cluster, this.log);
    syncNodes(ciliumNodes, nodes, cluster);
    syncIpcache(endpoints, ipcache, filter, (ip) => ipcacheOwnerFromValue(ipcache.primedValue(ip)));
    syncServices({
      services: svcs,
      slices,
      filter,
      cluster,
      store: services,
      ...(exportObjs ? { exports: { informer: exportObjs, store: exportsStore } } : {}),
    });

    this.config = new ClusterConfigPublisher(o.kvstore, this.lease, {
      clusterName: o.clusterName,
      config: localClusterConfig(o.clusterId, o.maxConnectedClusters, o.enableServiceExports ?? false),
      ...(o.clusterConfigIntervalMs ? { intervalMs: o.clusterConfigIntervalMs } : {}),
    });
    this.config.start();
    this.heartbeat = new HeartbeatWriter(o.kvstore, {
      clusterName: o.clusterName,
      lease: this.lease,
      ...(o.heartbeatIntervalMs ? { intervalMs: o.heartbeatIntervalMs } : {}),
    });
    this.heartbeat.start();

    if (o.stateWriter) {
      this.externalWorkloads = new ExternalWorkloadManager({
        clusterName: o.clusterName,
        clusterId: o.clusterId,
        maxConnectedClusters: o.maxConnectedClusters,
        kvstore: o.kvstore,
        workloads: inf('CiliumExternalWorkload'),
        writer: o.stateWriter,
      });
      this.externalWorkloads.start();
    }

    for (const i of this.informers) i.start();
    // Each canary waits for the informers its store is derived from: a store is synced only once it holds the
    // complete initial state.
    const after = (store: SyncStore | undefined, deps: Informer<K8sObject>[]): void => {
      if (!store) return;
      void Promise.all(deps.map((d) => d.synced)).then(() => store.synced());
    };
    const ns = namespaces as unknown as Informer<K8sObject>;
    after(nodes, [ciliumNodes]);
    after(identities, [ns, ciliumIdentities]);
    after(ipcache, [ns, endpoints]);
    after(services, [ns, svcs, slices]);
    if (exportObjs) after(exportsStore, [ns, svcs, exportObjs]);
    else void exportsStore.synced();
    apiserverMetrics(this);
    this.log.info({ cluster: o.clusterName, clusterID: o.clusterId }, 'clustermesh-apiserver started');
  }

  /** Ready once every canary is written and the cluster config is published. */
  ready(): boolean {
    return (this.config?.published ?? false) && [...this.stores.values()].every((s) => s.isSynced);
  }

  /** Resolves once ready() holds. */
  async waitReady(): Promise<void> {
    await Promise.all([...this.stores.values()].map((s) => s.waitSynced()));
    await this.config?.firstPublish;
  }

  status(): ApiserverStatus {
    const resources: ApiserverStatus['resources'] = {};
    for (const [prefix, s] of this.stores) {
      resources[prefix] = { synced: s.isSynced, keys: s.size, queued: s.queueSize };
    }
    const ew = this.externalWorkloads?.status();
    return { ready: this.ready(), resources, ...(ew ? { externalWorkloads: ew } : {}) };
  }

  /** Waits until everything queued so far is in etcd. */
  async flush(): Promise<void> {
    await Promise.all([...this.stores.values()].map((s) => s.flush()));
  }

  /** Stops watching and writing. Keys stay in etcd under the lease (a restart adopts it). */
  async stop(): Promise<void> {
    await this.externalWorkloads?.stop();
    await Promise.all(this.informers.map((i) => i.stop()));
    await this.heartbeat?.stop();
    await this.config?.stop();
    await Promise.all([...this.stores.values()].map((s) => s.close()));
    await this.lease.close();
  }
}
