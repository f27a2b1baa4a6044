/**
 * The agent's services: every local Service (with its EndpointSlices) merged with the ClusterServices of the same
 * namespace/name that remotes share. Each change recomputes only the service it names (indexed by namespace/name;
 * a reachability change recomputes the services that remote contributes to).
 */
import { serviceAffinity, isGlobalService, type ServiceAffinity } from '../../k8s/cilium-annotations.js';
import { serviceToClusterService, sliceServiceName } from '../../k8s/service-converter.js';
import type { EndpointSlice, Service } from '../../k8s/types.js';
import { logger } from '../../observe/logger.js';
import { canonicalIp, type ClusterService, objectRef, splitNamespacedName } from '../../wire/index.js';
import {
  mergeService,
  type FrontendType,
  type LocalServiceInput,
  type MergedService,
  type RemoteServiceInput,
} from './service-merger.js';

const log = logger('agent-services');

export interface ServiceTableOptions {
  clusterName: string;
  clusterId: number;
  /** Called after a service's merged state was recomputed (or removed: `svc` undefined). */
  onChange?: (ref: string, svc: MergedService | undefined) => void;
  /** Called after the number of global services (globalServiceCount()) changed. */
  onGlobalServiceCount?: (count: number) => void;
}

function frontendsOf(svc: Service): { address: string; type: FrontendType }[] {
  const spec = svc.spec;
  if (!spec || spec.type === 'ExternalName') return [];
  const out: { address: string; type: FrontendType }[] = [];
  const add = (raw: string | undefined, type: FrontendType): void => {
    const ip = raw ? canonicalIp(raw) : undefined;
    if (ip && !out.some((f) => f.address === ip && f.type === type)) out.push({ address: ip, type });
  };
  for (const ip of spec.clusterIPs?.length ? spec.clusterIPs : [spec.clusterIP]) add(ip, 'ClusterIP');
  for (const ip of spec.externalIPs ?? []) add(ip, 'ExternalIPs');
  if (spec.type === 'LoadBalancer') for (const i of svc.status?.loadBalancer?.ingress ?? []) add(i.ip, 'LoadBalancer');
  return out;
}

function affinityOf(svc: Service): ServiceAffinity {
  try {
    return serviceAffinity(svc.metadata.annotations);
  } catch (err) {
    log.warn({ service: objectRef(svc.metadata.namespace ?? '', svc.metadata.name), err }, 'ignoring invalid affinity');
    return 'none';
  }
}

export class ServiceTable {
  private readonly local = new Map<string, Service>();
  /** Service ref -> slice name -> slice. */
  private readonly slices = new Map<string, Map<string, EndpointSlice>>();
  /** Slice ref -> the service ref it was filed under (the label may change). */
  private readonly sliceOwner = new Map<string, string>();
  /** Service ref -> cluster -> ClusterService, as the remote sent it (shared or not). */
  private readonly remote = new Map<string, Map<string, ClusterService>>();
  /** Cluster -> refs it has a service under. */
  private readonly byCluster = new Map<string, Set<string>>();
  private readonly unreachable = new Set<string>();
  private readonly merged = new Map<string, MergedService>();
  /**
   * Service ref -> what the local Service and its slices contribute, computed once per local change: remote
   * changes and reachability flips recompute a service without rebuilding its local half.
   */
  private readonly localInputs = new Map<string, LocalServiceInput>();
  /** Services that at least one remote shares, counted as remotes change (Cilium's global services). */
  private globalCount = 0;

  constructor(private readonly opts: ServiceTableOptions) {}

  // ---- local side ----

  upsertLocalService(svc: Service): void {
    const r = objectRef(svc.metadata.namespace ?? '', svc.metadata.name);
    this.local.set(r, svc);
    this.localInputs.delete(r);
    this.recompute(r);
  }

  deleteLocalService(namespace: string, name: string): void {
    const r = objectRef(namespace, name);
    this.local.delete(r);
    this.localInputs.delete(r);
    this.recompute(r);
  }

  upsertEndpointSlice(slice: EndpointSlice): void {
    const ns = slice.metadata.namespace ?? '';
    const sref = objectRef(ns, slice.metadata.name);
    const svcName = sliceServiceName(slice);
    const prev = this.sliceOwner.get(sref);
    const next = svcName === undefined ? undefined : objectRef(ns, svcName);
    if (prev !== undefined && prev !== next) this.removeSlice(sref, prev);
    if (next === undefined) return;
    this.sliceOwner.set(sref, next);
    let m = this.slices.get(next);
    if (!m) this.slices.set(next, (m = new Map<string, EndpointSlice>()));
    m.set(slice.metadata.name, slice);
    this.localInputs.delete(next);
    this.recompute(next);
  }

  deleteEndpointSlice(namespace: string, name: string): void {
    const sref = objectRef(namespace, name);
    const owner = this.sliceOwner.get(sref);
    if (owner !== undefined) this.removeSlice(sref, owner);
  }

  // ---- remote side ----

  upsertRemoteService(cluster: string, cs: ClusterService): void {
    const r = objectRef(cs.namespace, cs.name);
    const wasGlobal = this.isGlobal(r);
    let m = this.remote.get(r);
    if (!m) this.remote.set(r, (m = new Map<string, ClusterService>()));
    m.set(cluster, cs);
    let refs = this.byCluster.get(cluster);
    if (!refs) this.byCluster.set(cluster, (refs = new Set<string>()));
    refs.add(r);
    this.countGlobal(wasGlobal, r);
    this.recompute(r);
  }

  deleteRemoteService(cluster: string, namespace: string, name: string): void {
    const r = objectRef(namespace, name);
    const wasGlobal = this.isGlobal(r);
    const m = this.remote.get(r);
    if (!m?.delete(cluster)) return;
    if (m.size === 0) this.remote.delete(r);
    this.byCluster.get(cluster)?.delete(r);
    this.countGlobal(wasGlobal, r);
    this.recompute(r);
  }

  setReachable(cluster: string, reachable: boolean): void {
    const was = !this.unreachable.has(cluster);
    if (was === reachable) return;
    if (reachable) this.unreachable.delete(cluster);
    else this.unreachable.add(cluster);
    for (const r of this.byCluster.get(cluster) ?? []) this.recompute(r);
  }

  isReachable(cluster: string): boolean {
    return !this.unreachable.has(cluster);
  }

  // ---- reads ----

  get(namespace: string, name: string): MergedService | undefined {
    return this.merged.get(objectRef(namespace, name));
  }

  /** Sorted by namespace/name. */
  list(): MergedService[] {
    return [...this.merged.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, s]) => s);
  }

  /** Services (namespace/name) that at least one remote shares: Cilium's global service count. */
  globalServiceCount(): number {
    return this.globalCount;
  }

  /** Shared services one remote has (for status views). */
  sharedServiceCount(cluster: string): number {
    let n = 0;
    for (const r of this.byCluster.get(cluster) ?? []) if (this.remote.get(r)?.get(cluster)?.shared) n++;
    return n;
  }

  get size(): number {
    return this.merged.size;
  }

  private removeSlice(sref: string, owner: string): void {
    this.sliceOwner.delete(sref);
    const m = this.slices.get(owner);
    m?.delete(splitNamespacedName(sref)?.name ?? sref);
    if (m?.size === 0) this.slices.delete(owner);
    this.localInputs.delete(owner);
    this.recompute(owner);
  }

  private isGlobal(r: string): boolean {
    const m = this.remote.get(r);
    if (!m) return false;
    for (const cs of m.values()) if (cs.shared) return true;
    return false;
  }

  private countGlobal(wasGlobal: boolean, r: string): void {
    const isGlobal = this.isGlobal(r);
    if (isGlobal === wasGlobal) return;
    this.globalCount += isGlobal ? 1 : -1;
    this.opts.onGlobalServiceCount?.(this.globalCount);
  }

  private localInput(r: string, svc: Service): LocalServiceInput {
    const cached = this.localInputs.get(r);
    if (cached) return cached;
    const input = this.buildLocalInput(svc);
    this.localInputs.set(r, input);
    return input;
  }

  private buildLocalInput(svc: Service): LocalServiceInput {
    const slices = [...(this.slices.get(objectRef(svc.metadata.namespace ?? '', svc.metadata.name))?.values() ?? [])];
    const cluster = { name: this.opts.clusterName, id: this.opts.clusterId };
    return {
      namespace: svc.metadata.namespace ?? '',
      name: svc.metadata.name,
      frontends: frontendsOf(svc),
      ports: (svc.spec?.ports ?? []).map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' })),
      global: isGlobalService(svc.metadata.annotations),
      affinity: affinityOf(svc),
      backends: serviceToClusterService(svc, slices, cluster).backends,
    };
  }

  private recompute(r: string): void {
    const svc = this.local.get(r);
    if (!svc) {
      if (this.merged.delete(r)) this.opts.onChange?.(r, undefined);
      return;
    }
    const remotes: RemoteServiceInput[] = [...(this.remote.get(r)?.entries() ?? [])].map(([cluster, service]) => ({
      cluster,
      clusterID: service.clusterID,
      reachable: !this.unreachable.has(cluster),
      service,
    }));
    const merged = mergeService(this.localInput(r, svc), remotes, {
      name: this.opts.clusterName,
      id: this.opts.clusterId,
    });
    this.merged.set(r, merged);
    this.opts.onChange?.(r, merged);
  }
}
