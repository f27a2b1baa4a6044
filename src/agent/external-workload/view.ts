/**
 * What an external workload's agent knows of the cluster it joined: like Cilium's VM agent, the kvstore is its only
 * source. It reads its own cluster's `cilium/state/...` from the cluster's clustermesh etcd (validated as a remote's
 * data would be), turning the cluster's global services into local services so that its service table resolves
 * them; and, when the cluster runs KVStoreMesh, every remote cluster through the cache in that same etcd (a config
 * file per remote named in `cilium/cluster-config/`, all pointing at the cluster's etcd).
 */
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Etcd3 } from 'etcd3';
import type { ClusterSource, Informer, InformerHandler } from '../../k8s/source.js';
import type { EndpointSlice, KindName, ObjectOf, Service } from '../../k8s/types.js';
import {
  CLUSTER_CONFIG_PREFIX,
  ipFamily,
  type ClusterService,
  type MaxConnectedClusters,
  objectRef,
} from '../../wire/index.js';
import { logger } from '../../observe/logger.js';
import { GLOBAL_SERVICE_ANNOTATIONS } from '../../k8s/cilium-annotations.js';
import { SERVICE_NAME_LABEL } from '../../k8s/service-converter.js';
import type { ClusterMeshHandle, RemoteClusterSink, RemoteClusterStatus } from '../remote/remote-cluster-types.js';
import { ClusterMesh } from '../remote/cluster-mesh.js';
import { READINESS_RESOURCES, RemoteStores } from '../remote/remote-stores.js';
import type { ServiceTable } from '../tables/service-table.js';

/** How often the remote clusters named in the cluster's etcd are looked up. */
export const REMOTE_DISCOVERY_INTERVAL_MS = 5_000;

const log = logger('external-workload');

/** A source with nothing in it: an external workload has no Kubernetes state of its own. */
export class EmptyClusterSource implements ClusterSource {
  readonly type = 'local' as const;

  informer<K extends KindName>(kind: K): Informer<ObjectOf<K>> {
    return {
      kind,
      on: (_h: InformerHandler<ObjectOf<K>>) => () => undefined,
      start: () => undefined,
      synced: Promise.resolve(),
      hasSynced: () => true,
      list: () => [],
      get: () => undefined,
      stop: () => Promise.resolve(),
    };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A global service of the joined cluster as the Service + EndpointSlices its agents would have read. */
export function clusterServiceToLocal(cs: ClusterService): { service: Service; slices: EndpointSlice[] } {
  const ips = Object.keys(cs.frontends);
  const first = cs.frontends[ips[0] ?? ''] ?? {};
  const service: Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: cs.name, namespace: cs.namespace, annotations: { [GLOBAL_SERVICE_ANNOTATIONS[0]]: 'true' } },
    spec: {
      type: 'ClusterIP',
      ...(ips[0] !== undefined ? { clusterIP: ips[0], clusterIPs: ips } : {}),
      ports: Object.entries(first).map(([name, p]) => ({
        ...(name ? { name } : {}),
        port: p.Port,
        protocol: p.Protocol as 'TCP',
      })),
    },
  };
  const slices = Object.entries(cs.backends).map(([ip, ports], i): EndpointSlice => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${cs.name}-vm-${i}`, namespace: cs.namespace, labels: { [SERVICE_NAME_LABEL]: cs.name } },
    addressType: ipFamily(ip) === 6 ? 'IPv6' : 'IPv4',
    endpoints: [{ addresses: [ip], conditions: { ready: true } }],
    ports: Object.entries(ports).map(([name, p]) => ({
      ...(name ? { name } : {}),
      port: p.Port,
      protocol: p.Protocol as 'TCP',
    })),
  }));
  return { service, slices };
}

export interface JoinedClusterViewOptions {
  clusterName: string;
  clusterId: number;
  maxConnectedClusters: MaxConnectedClusters;
  /** The joined cluster's clustermesh etcd (as the externalworkload user). */
  kvstore: Etcd3;
  /** The etcd config file of that etcd, copied for every remote found (their data is cached in the same etcd). */
  kvstoreConfigContent: string;
  /** Where the per-remote config files are written (followed by a ClusterMesh). */
  remoteConfigDir: string;
  syncTimeoutMs?: number;
  discoveryIntervalMs?: number;
}

/** The agent's "cluster mesh" of an external workload: its own cluster, then the remotes cached there. */
export class JoinedClusterView implements ClusterMeshHandle {
  private readonly stores: RemoteStores;
  private readonly remotes: ClusterMesh;
  private services: ServiceTable | undefined;
  /** `<ns>/<name>` of a joined-cluster service -> the names of the slices made for it. */
  private readonly ownSlices = new Map<string, string[]>();
  private invalid = 0;
  private discovery: NodeJS.Timeout | undefined;
  private discovering: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly opts: JoinedClusterViewOptions,
    private readonly sink: RemoteClusterSink,
  ) {
    const own = opts.clusterName;
    // Every call but the own cluster's services goes to the agent's sink as it is. Delegated one by one: the sink
    // is a class instance, whose methods a spread would not copy.
    const local: RemoteClusterSink = {
      upsertNode: (c, n) => {
        sink.upsertNode(c, n);
      },
      deleteNode: (c, n) => {
        sink.deleteNode(c, n);
      },
      upsertIpcache: (c, k, e) => {
        sink.upsertIpcache(c, k, e);
      },
      deleteIpcache: (c, k) => {
        sink.deleteIpcache(c, k);
      },
      upsertIdentity: (c, id, l) => {
        sink.upsertIdentity(c, id, l);
      },
      deleteIdentity: (c, id) => {
        sink.deleteIdentity(c, id);
      },
      setReachable: (c, r) => {
        sink.setReachable(c, r);
      },
      setClusterId: (c, id) => {
        sink.setClusterId(c, id);
      },
      upsertService: (cluster, cs) => {
        if (cluster !== own) {
          sink.upsertService(cluster, cs);
          return;
        }
        const { service, slices } = clusterServiceToLocal(cs);
        const ref = objectRef(cs.namespace, cs.name);
        const names = slices.map((s) => s.metadata.name);
        for (const old of this.ownSlices.get(ref) ?? []) {
          if (!names.includes(old)) this.services?.deleteEndpointSlice(cs.namespace, old);
        }
        this.ownSlices.set(ref, names);
        this.services?.upsertLocalService(service);
        for (const s of slices) this.services?.upsertEndpointSlice(s);
      },
      deleteService: (cluster, ns, name) => {
        if (cluster !== own) {
          sink.deleteService(cluster, ns, name);
          return;
        }
        for (const old of this.ownSlices.get(objectRef(ns, name)) ?? []) this.services?.deleteEndpointSlice(ns, old);
        this.ownSlices.delete(objectRef(ns, name));
        this.services?.deleteLocalService(ns, name);
      },
    };
    this.stores = new RemoteStores({
      cluster: own,
      cached: false,
      serviceExports: false,
      identity: () => ({ name: own, id: opts.clusterId, maxConnectedClusters: opts.maxConnectedClusters }),
      sink: local,
      onInvalid: (resource, suffix, err) => {
        this.invalid++;
        log.warn({ resource, suffix, err }, 'skipping an invalid entry of the joined cluster');
      },
    });
    this.remotes = new ClusterMesh(
      {
        localClusterName: own,
        localClusterId: opts.clusterId,
        localMaxConnectedClusters: opts.maxConnectedClusters,
        configDir: opts.remoteConfigDir,
        sink,
        ...(opts.syncTimeoutMs !== undefined ? { syncTimeoutMs: opts.syncTimeoutMs } : {}),
      },
      { configDebounceMs: 100 },
    );
  }

  /** The agent's service table (its local side receives the joined cluster's services). */
  bindServices(services: ServiceTable): void {
    this.services = services;
  }

  start(): void {
    for (const r of READINESS_RESOURCES) this.stores.start(r, this.opts.kvstore);
    this.remotes.start();
    const tick = (): void => {
      this.discovering = this.discovering.then(() => this.discover());
    };
    tick();
    this.discovery = setInterval(tick, this.opts.discoveryIntervalMs ?? REMOTE_DISCOVERY_INTERVAL_MS);
    this.discovery.unref();
  }

  async synced(): Promise<void> {
    await Promise.all(
      [this.stores.nodes, this.stores.services, this.stores.identities, this.stores.ip].map((s) => s.synced),
    );
    await this.discovering;
    await this.remotes.synced();
  }

  status(): RemoteClusterStatus[] {
    const s = this.stores;
    const own: RemoteClusterStatus = {
      name: this.opts.clusterName,
      ready: s.ready,
      connected: s.ready,
      status: s.ready ? 'joined (external workload)' : 'syncing',
      numNodes: s.nodes.size,
      numEndpoints: s.ip.size,
      numIdentities: s.identities.size,
      numSharedServices: s.sharedServices,
      numFailures: 0,
      lastFailure: null,
      lastFailureMessage: null,
      config: null,
      synced: {
        nodes: s.isSynced('nodes'),
        services: s.isSynced('services'),
        serviceExports: null,
        identities: s.isSynced('identities'),
        endpoints: s.isSynced('ip'),
      },
      invalidEntries: this.invalid,
    };
    return [own, ...this.remotes.status()];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.discovery);
    await this.discovering;
    await this.remotes.stop();
    await this.stores.stopAll();
  }

  /** One config file per remote whose cluster config is in the joined cluster's etcd (kvstoremesh writes them). */
  private async discover(): Promise<void> {
    if (this.stopped) return;
    try {
      const keys = await this.opts.kvstore.getAll().prefix(`${CLUSTER_CONFIG_PREFIX}/`).keys();
      const names = new Set(
        keys.map((k) => k.slice(CLUSTER_CONFIG_PREFIX.length + 1)).filter((n) => n && n !== this.opts.clusterName),
      );
      await mkdir(this.opts.remoteConfigDir, { recursive: true });
      const present = new Set(await readdir(this.opts.remoteConfigDir));
      for (const n of names) {
        if (!present.has(n)) await writeFile(path.join(this.opts.remoteConfigDir, n), this.opts.kvstoreConfigContent);
      }
      for (const n of present) if (!names.has(n)) await rm(path.join(this.opts.remoteConfigDir, n), { force: true });
    } catch (err) {
      log.debug({ err }, 'remote cluster discovery failed; retrying');
    }
  }
}
