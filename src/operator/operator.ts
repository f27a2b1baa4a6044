/**
 * The operator of a local cluster: what kube-controller-manager, cilium-operator and the agents' CRD writes do in
 * a real cluster. Level-triggered: informers over the state etcd feed keys into one work queue; each reconcile
 * compares what is stored with what should be and writes only the difference, so a restart (of the operator or of
 * etcd) converges and a reconcile with nothing to change writes nothing.
 */
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { Etcd3 } from 'etcd3';
import {
  AlreadyExistsError,
  ConflictError,
  InvalidObjectsError,
  NotFoundError,
  ValidationError,
} from '../k8s/errors.js';
import { objectRef } from '../k8s/keys.js';
import { compileSelector, type LabelMatcher } from '../k8s/label-selector.js';
import { LocalClusterSource } from '../k8s/local-source.js';
import { ObjectStore } from '../k8s/object-store.js';
import type { Informer } from '../k8s/source.js';
import type {
  CiliumEndpoint,
  CiliumIdentity,
  CiliumNode,
  EndpointSlice,
  K8sObject,
  KindName,
  Namespace,
  ObjectOf,
  Pod,
  Service,
} from '../k8s/types.js';
import { sleep } from '../kvstore/backoff.js';
import { logger } from '../observe/logger.js';
import { ClusterLayoutError, type OperatorCluster } from './cluster-layout.js';
import {
  desiredCiliumEndpoint,
  desiredCiliumNode,
  desiredEndpointSlices,
  desiredPodStatus,
  isManagedNode,
  isManagedSlice,
  podOwnerOf,
  serviceAccountOf,
  serviceSelector,
  SERVICE_NAME_LABEL,
} from './desired-objects.js';
import { FreshCache } from './fresh-cache.js';
import { IdExhaustedError, IdPool } from './id-pool.js';
import { DEFAULT_IDENTITY_GC_GRACE_MS, IdentityAllocator } from './identity-allocator.js';
import { IpExhaustedError } from './ip-allocator.js';
import { operatorMetrics } from './metrics.js';
import { PodIpam, SchedulingError } from './pod-ipam.js';
import { podSecurityLabels } from './security-labels.js';
import { ServiceIps } from './service-ips.js';
import { WorkQueue } from '../k8s/work-queue.js';

/** How often the identity GC looks for unused identities (the grace period decides when they go). */
export const DEFAULT_IDENTITY_GC_INTERVAL_MS = 5_000;
/** Cilium endpoint IDs are 16-bit; 0 is invalid. */
export const MAX_ENDPOINT_ID = 0xffff;

const NODES_KEY = 'nodes';
const POD = 'pod:';
const SERVICE_IP = 'svcip:';
const SLICES = 'slices:';

export interface OperatorOptions {
  /** A client of the cluster's state etcd. The operator does not close it. */
  client: Etcd3;
  cluster: OperatorCluster;
  /** Registry key prefix (tests); `/registry/` by default. */
  prefix?: string;
  identityGcGraceMs?: number;
  identityGcIntervalMs?: number;
  workers?: number;
  retryMaxMs?: number;
}

export interface OperatorStatus {
  synced: boolean;
  queueDepth: number;
  pods: number;
  identities: number;
  unschedulablePods: number;
}

/** Failures that retrying cannot fix: logged, counted, and the key is dropped until its object changes. */
function isPermanent(err: unknown): boolean {
  return (
    err instanceof ValidationError ||
    err instanceof InvalidObjectsError ||
    err instanceof SchedulingError ||
    err instanceof IpExhaustedError ||
    err instanceof IdExhaustedError ||
    err instanceof ClusterLayoutError
  );
}

/** Lost races, expected while the informers catch up: retried quietly. */
function isRace(err: unknown): boolean {
  return err instanceof ConflictError || err instanceof AlreadyExistsError || err instanceof NotFoundError;
}

function splitRef(ref: string): [string, string] {
  const slash = ref.indexOf('/');
  return [ref.slice(0, slash), ref.slice(slash + 1)];
}

function keyOf(o: K8sObject): string {
  return objectRef(o.metadata.namespace, o.metadata.name);
}

export class Operator {
  private readonly log = logger('operator');
  private readonly cluster: OperatorCluster;
  private readonly store: ObjectStore;
  private readonly source: LocalClusterSource;
  private readonly queue: WorkQueue;
  private readonly ipam: PodIpam;
  private readonly serviceIps: ServiceIps;
  private readonly identities: IdentityAllocator;
  private readonly endpointIds = new IdPool(1, MAX_ENDPOINT_ID);
  /** pod (= CiliumEndpoint) key -> endpoint ID, and the reverse, for every CiliumEndpoint and pending one. */
  private readonly endpointIdOf = new Map<string, number>();
  private readonly endpointIdOwner = new Map<number, string>();
  private readonly podsByNamespace = new Map<string, Set<string>>();
  /** namespace -> service name -> matcher of its selector (undefined: no selector). */
  private readonly servicesByNamespace = new Map<string, Map<string, LabelMatcher | undefined>>();
  /** `namespace/service` -> names of the managed slices labelled with it. */
  private readonly slicesByService = new Map<string, Set<string>>();
  private readonly bootIds = new Map<string, string>();
  private readonly unschedulable = new Set<string>();
  private readonly gcGraceMs: number;
  private readonly gcIntervalMs: number;
  private readonly gcAbort = new AbortController();
  private gcLoop: Promise<void> | undefined;
  private inf!: {
    namespaces: Informer<Namespace>;
    pods: Informer<Pod>;
    services: Informer<Service>;
    slices: Informer<EndpointSlice>;
    identities: Informer<CiliumIdentity>;
    endpoints: Informer<CiliumEndpoint>;
    nodes: Informer<CiliumNode>;
  };
  private fresh!: {
    pods: FreshCache<Pod>;
    services: FreshCache<Service>;
    slices: FreshCache<EndpointSlice>;
    endpoints: FreshCache<CiliumEndpoint>;
    nodes: FreshCache<CiliumNode>;
  };
  private started = false;
  private stopped = false;
  private isSynced = false;
  private readonly syncedPromise: Promise<void>;
  private resolveSynced!: () => void;

  constructor(opts: OperatorOptions) {
    this.cluster = opts.cluster;
    this.store = new ObjectStore(opts.client, opts.prefix ? { prefix: opts.prefix } : {});
    this.source = new LocalClusterSource(opts.client, opts.prefix ? { prefix: opts.prefix } : {});
    this.ipam = new PodIpam(opts.cluster);
    this.serviceIps = new ServiceIps(opts.cluster.serviceCidr);
    this.identities = new IdentityAllocator({
      clusterId: opts.cluster.id,
      maxConnectedClusters: opts.cluster.maxConnectedClusters,
      store: this.store,
    });
    this.gcGraceMs = opts.identityGcGraceMs ?? DEFAULT_IDENTITY_GC_GRACE_MS;
    this.gcIntervalMs = opts.identityGcIntervalMs ?? Math.min(DEFAULT_IDENTITY_GC_INTERVAL_MS, this.gcGraceMs);
    const metrics = operatorMetrics();
    this.queue = new WorkQueue((key) => this.reconcile(key), {
      ...(opts.workers !== undefined ? { workers: opts.workers } : {}),
      ...(opts.retryMaxMs !== undefined ? { retryMaxMs: opts.retryMaxMs } : {}),
      shouldRetry: (_key, err) => !isPermanent(err),
      onError: (key, err, willRetry) => {
        metrics.reconciles.inc({ controller: this.controllerOf(key), outcome: willRetry ? 'retry' : 'dropped' });
        if (!willRetry) {
          metrics.skippedObjects.inc({ kind: this.controllerOf(key), reason: (err as Error).name || 'error' });
          this.log.warn({ key, err }, 'cannot reconcile; skipping until the object changes');
        } else if (isRace(err)) this.log.debug({ key, err: (err as Error).message }, 'lost a race; retrying');
        else this.log.warn({ key, err }, 'reconcile failed; retrying');
      },
    });
    this.syncedPromise = new Promise((resolve) => {
      this.resolveSynced = resolve;
    });
  }

  /** Starts the informers, waits for their initial lists, then starts reconciling. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const inf = <K extends KindName>(kind: K): Informer<ObjectOf<K>> => this.source.informer(kind);
    this.inf = {
      namespaces: inf('Namespace'),
      pods: inf('Pod'),
      services: inf('Service'),
      slices: inf('EndpointSlice'),
      identities: inf('CiliumIdentity'),
      endpoints: inf('CiliumEndpoint'),
      nodes: inf('CiliumNode'),
    };
    // The overlays first: every other handler then sees the caught-up state.
    this.fresh = {
      pods: new FreshCache(this.inf.pods),
      services: new FreshCache(this.inf.services),
      slices: new FreshCache(this.inf.slices),
      endpoints: new FreshCache(this.inf.endpoints),
      nodes: new FreshCache(this.inf.nodes),
    };
    this.registerHandlers();
    for (const i of Object.values(this.inf)) i.start();
    await Promise.all(Object.values(this.inf).map((i) => i.synced));
    if (this.stopped) return;
    this.log.info(
      { cluster: this.cluster.name, pods: this.inf.pods.list().length, identities: this.identities.size },
      'cluster state synced; reconciling',
    );
    this.queue.add(NODES_KEY);
    this.queue.start();
    this.gcLoop = this.runGc();
    void this.queue.idle().then(() => {
      this.isSynced = true;
      this.resolveSynced();
    });
  }

  /** Resolves once the initial state is loaded and everything it queued has been reconciled. */
  synced(): Promise<void> {
    return this.syncedPromise;
  }

  /** Resolves once the work queue is empty (nothing queued, running or waiting for a retry). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** Runs one identity garbage collection now (tests); returns how many identities were deleted. */
  collectIdentities(now = Date.now()): Promise<number> {
    return this.identities.collect(now, this.gcGraceMs);
  }

  healthy(): boolean {
    return this.started && !this.stopped;
  }

  ready(): boolean {
    return this.isSynced && !this.stopped;
  }

  status(): OperatorStatus {
    return {
      synced: this.isSynced,
      queueDepth: this.queue.depth,
      pods: this.started ? this.inf.pods.list().length : 0,
      identities: this.identities.size,
      unschedulablePods: this.unschedulable.size,
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.gcAbort.abort();
    await this.gcLoop;
    await this.queue.stop();
    await this.source.close();
  }

  // ---- events ----

  private registerHandlers(): void {
    const { namespaces, pods, services, slices, identities, endpoints, nodes } = this.inf;
    pods.on({
      onAdd: (p) => {
        this.podChanged(p, undefined);
      },
      onUpdate: (p, old) => {
        this.podChanged(p, old);
      },
      onDelete: (p) => {
        const key = keyOf(p);
        this.podsByNamespace.get(p.metadata.namespace!)?.delete(p.metadata.name);
        this.ipam.forget(key);
        this.queue.add(POD + key);
        this.enqueueSlicesFor(p, undefined);
        // Room on a node may have opened up.
        for (const k of this.unschedulable) this.queue.add(POD + k);
        this.unschedulable.clear();
      },
    });
    namespaces.on({
      onAdd: (ns) => {
        this.enqueueNamespacePods(ns.metadata.name);
      },
      onUpdate: (ns, old) => {
        if (!isDeepStrictEqual(ns.metadata.labels, old.metadata.labels)) this.enqueueNamespacePods(ns.metadata.name);
      },
      onDelete: (ns) => {
        this.enqueueNamespacePods(ns.metadata.name);
      },
    });
    services.on({
      onAdd: (s) => {
        this.serviceChanged(s);
      },
      onUpdate: (s) => {
        this.serviceChanged(s);
      },
      onDelete: (s) => {
        const key = keyOf(s);
        this.servicesByNamespace.get(s.metadata.namespace!)?.delete(s.metadata.name);
        this.serviceIps.release(key);
        this.queue.add(SLICES + key);
      },
    });
    slices.on({
      onAdd: (s) => {
        this.sliceChanged(s, undefined);
      },
      onUpdate: (s, old) => {
        this.sliceChanged(s, old);
      },
      onDelete: (s) => {
        this.sliceChanged(undefined, s);
      },
    });
    identities.on({
      onAdd: (i) => {
        this.identities.observe(i);
      },
      onUpdate: (i) => {
        this.identities.observe(i);
      },
      onDelete: (i) => {
        // Deleted while in use (by hand, or a lost race with the GC): its users need an identity again.
        for (const user of this.identities.forget(i)) this.queue.add(POD + user.slice(2));
      },
    });
    endpoints.on({
      onAdd: (e) => {
        this.endpointChanged(e);
      },
      onUpdate: (e) => {
        this.endpointChanged(e);
      },
      onDelete: (e) => {
        const key = keyOf(e);
        this.identities.use(`c:${key}`, undefined);
        if (!this.fresh.pods.get(e.metadata.namespace, e.metadata.name)) this.releaseEndpointId(key);
        this.queue.add(POD + key);
      },
    });
    const nodesChanged = (): void => {
      this.queue.add(NODES_KEY);
    };
    nodes.on({ onAdd: nodesChanged, onUpdate: nodesChanged, onDelete: nodesChanged });
  }

  private podChanged(p: Pod, old: Pod | undefined): void {
    const key = keyOf(p);
    const ns = p.metadata.namespace!;
    let names = this.podsByNamespace.get(ns);
    if (!names) this.podsByNamespace.set(ns, (names = new Set()));
    names.add(p.metadata.name);
    const { duplicateIpOf } = this.ipam.observe(key, p);
    if (duplicateIpOf !== undefined) {
      operatorMetrics().skippedObjects.inc({ kind: 'Pod', reason: 'duplicate-ip' });
      this.log.warn(
        { pod: key, ip: p.status?.podIP, holder: duplicateIpOf },
        'pod claims an address another pod holds',
      );
    }
    this.queue.add(POD + key);
    this.enqueueSlicesFor(p, old);
  }

  private serviceChanged(s: Service): void {
    const key = keyOf(s);
    const ns = s.metadata.namespace!;
    let svcs = this.servicesByNamespace.get(ns);
    if (!svcs) this.servicesByNamespace.set(ns, (svcs = new Map<string, LabelMatcher | undefined>()));
    const sel = serviceSelector(s);
    let matcher: LabelMatcher | undefined;
    if (sel) {
      try {
        matcher = compileSelector({ matchLabels: sel });
      } catch (err) {
        operatorMetrics().skippedObjects.inc({ kind: 'Service', reason: 'invalid-selector' });
        this.log.warn({ service: key, err }, 'ignoring an invalid service selector');
      }
    }
    svcs.set(s.metadata.name, matcher);
    if (s.spec?.clusterIP) this.serviceIps.observe(key, s.spec.clusterIP);
    this.queue.add(SERVICE_IP + key);
    this.queue.add(SLICES + key);
  }

  private sliceChanged(s: EndpointSlice | undefined, old: EndpointSlice | undefined): void {
    const serviceOf = (x: EndpointSlice | undefined): string | undefined => {
      const svc = x && isManagedSlice(x) ? x.metadata.labels?.[SERVICE_NAME_LABEL] : undefined;
      return svc ? objectRef(x!.metadata.namespace, svc) : undefined;
    };
    const before = serviceOf(old);
    const after = serviceOf(s);
    if (before !== undefined && (after !== before || !s)) {
      this.slicesByService.get(before)?.delete(old!.metadata.name);
      this.queue.add(SLICES + before);
    }
    if (after !== undefined && s) {
      let names = this.slicesByService.get(after);
      if (!names) this.slicesByService.set(after, (names = new Set()));
      names.add(s.metadata.name);
      this.queue.add(SLICES + after);
    }
  }

  private endpointChanged(e: CiliumEndpoint): void {
    const key = keyOf(e);
    this.identities.use(`c:${key}`, e.status?.identity?.id);
    const id = e.status?.id;
    if (id !== undefined && this.endpointIdOf.get(key) !== id && this.endpointIds.claim(id)) {
      this.releaseEndpointId(key);
      this.endpointIdOf.set(key, id);
      this.endpointIdOwner.set(id, key);
    }
    this.queue.add(POD + key);
  }

  private enqueueNamespacePods(ns: string): void {
    for (const name of this.podsByNamespace.get(ns) ?? []) this.queue.add(POD + objectRef(ns, name));
  }

  private enqueueSlicesFor(p: Pod, old: Pod | undefined): void {
    const ns = p.metadata.namespace!;
    for (const [svc, match] of this.servicesByNamespace.get(ns) ?? []) {
      if (!match) continue;
      if (match(p.metadata.labels) || (old && match(old.metadata.labels))) this.queue.add(SLICES + objectRef(ns, svc));
    }
  }

  private controllerOf(key: string): string {
    if (key === NODES_KEY) return 'nodes';
    return key.slice(0, key.indexOf(':'));
  }

  // ---- reconcilers ----

  private async reconcile(key: string): Promise<void> {
    const metrics = operatorMetrics();
    metrics.queueDepth.set(this.queue.depth);
    if (key === NODES_KEY) await this.reconcileNodes();
    else if (key.startsWith(POD)) await this.reconcilePod(key.slice(POD.length));
    else if (key.startsWith(SERVICE_IP)) await this.reconcileServiceIp(key.slice(SERVICE_IP.length));
    else if (key.startsWith(SLICES)) await this.reconcileSlices(key.slice(SLICES.length));
    metrics.reconciles.inc({ controller: this.controllerOf(key), outcome: 'ok' });
  }

  private countWrite(kind: string, action: 'create' | 'update' | 'delete'): void {
    operatorMetrics().writes.inc({ kind, action });
  }

  /** One CiliumNode per node of the cluster record; managed ones beyond the node count go. */
  private async reconcileNodes(): Promise<void> {
    const wanted = new Set<string>();
    for (const node of this.ipam.nodes) {
      wanted.add(node.name);
      const existing = this.fresh.nodes.get(undefined, node.name);
      if (existing && !isManagedNode(existing)) {
        operatorMetrics().skippedObjects.inc({ kind: 'CiliumNode', reason: 'not-managed' });
        this.log.warn(
          { node: node.name },
          'a CiliumNode of this name exists without the managed-by label; leaving it alone',
        );
        continue;
      }
      const bootid = existing?.spec?.bootid ?? this.bootIds.get(node.name) ?? randomUUID();
      this.bootIds.set(node.name, bootid);
      const want = desiredCiliumNode(node, bootid, existing);
      if (
        existing &&
        isDeepStrictEqual(want.spec, existing.spec) &&
        isDeepStrictEqual(want.metadata.labels, existing.metadata.labels)
      ) {
        continue;
      }
      const stored = existing ? await this.store.update(want) : await this.store.create(want);
      this.countWrite('CiliumNode', existing ? 'update' : 'create');
      this.fresh.nodes.wrote(stored);
    }
    for (const n of this.inf.nodes.list()) {
      if (!isManagedNode(n) || wanted.has(n.metadata.name)) continue;
      const cur = this.fresh.nodes.get(undefined, n.metadata.name);
      if (!cur) continue;
      await this.store.delete('CiliumNode', undefined, cur.metadata.name, this.versionOf(cur));
      this.countWrite('CiliumNode', 'delete');
      this.fresh.nodes.deleted(cur);
      this.bootIds.delete(cur.metadata.name);
    }
  }

  private versionOf(o: K8sObject): { resourceVersion?: string } {
    return o.metadata.resourceVersion !== undefined ? { resourceVersion: o.metadata.resourceVersion } : {};
  }

  /** Schedules the pod, gives it an address and a Running status, and keeps its CiliumEndpoint. */
  private async reconcilePod(ref: string): Promise<void> {
    const [ns, name] = splitRef(ref);
    const pod = this.fresh.pods.get(ns, name);
    if (!pod || pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') {
      await this.deleteEndpoint(ns, name);
      if (!pod) {
        this.releaseEndpointId(ref);
        this.identities.use(`p:${ref}`, undefined);
        this.unschedulable.delete(ref);
      }
      return;
    }
    let placement;
    try {
      placement = this.ipam.place(ref, pod);
    } catch (err) {
      if (err instanceof SchedulingError) {
        if (!this.unschedulable.has(ref)) operatorMetrics().ipamExhausted.inc();
        this.unschedulable.add(ref);
      }
      throw err;
    }
    this.unschedulable.delete(ref);
    const { node, ip } = placement;
    let current = pod;
    const status = desiredPodStatus(pod, node, ip);
    if (pod.spec?.nodeName !== node.name || !isDeepStrictEqual(status, pod.status)) {
      try {
        current = await this.store.update<Pod>({ ...pod, spec: { ...pod.spec, nodeName: node.name }, status });
      } catch (err) {
        if (err instanceof NotFoundError) return; // deleted meanwhile: its delete event follows
        throw err;
      }
      this.countWrite('Pod', 'update');
      this.fresh.pods.wrote(current);
    }
    if (pod.spec?.hostNetwork) {
      // Host-network pods are the node's own endpoint in Cilium: no CiliumEndpoint, no identity of their own.
      this.identities.use(`p:${ref}`, undefined);
      await this.deleteEndpoint(ns, name);
      return;
    }
    await this.reconcileEndpoint(ref, current, ip, node.internalIp);
  }

  private async reconcileEndpoint(ref: string, pod: Pod, ip: string, hostIp: string): Promise<void> {
    const ns = pod.metadata.namespace!;
    const securityLabels = podSecurityLabels({
      cluster: this.cluster.name,
      namespace: ns,
      podLabels: pod.metadata.labels ?? {},
      namespaceLabels: this.inf.namespaces.get(undefined, ns)?.metadata.labels ?? {},
      serviceAccount: serviceAccountOf(pod),
    });
    const identity = await this.identities.allocate(securityLabels);
    this.identities.use(`p:${ref}`, identity);
    const existing = this.fresh.endpoints.get(ns, pod.metadata.name);
    if (existing && !podOwnerOf(existing)) {
      operatorMetrics().skippedObjects.inc({ kind: 'CiliumEndpoint', reason: 'not-owned-by-pod' });
      this.log.debug({ endpoint: ref }, 'a CiliumEndpoint without a Pod owner has this name; leaving it alone');
      return;
    }
    const endpointId = this.endpointIdFor(ref);
    const want = desiredCiliumEndpoint(pod, { endpointId, identity, securityLabels, ip, hostIp }, existing);
    if (
      existing &&
      isDeepStrictEqual(want.status, existing.status) &&
      isDeepStrictEqual(want.metadata.ownerReferences, existing.metadata.ownerReferences)
    ) {
      return;
    }
    const stored = existing ? await this.store.update(want) : await this.store.create(want);
    this.countWrite('CiliumEndpoint', existing ? 'update' : 'create');
    this.fresh.endpoints.wrote(stored);
  }

  /** Deletes the pod's CiliumEndpoint, unless it has no Pod owner (applied directly: not ours). */
  private async deleteEndpoint(ns: string, name: string): Promise<void> {
    const cep = this.fresh.endpoints.get(ns, name);
    if (!cep || !podOwnerOf(cep)) return;
    try {
      await this.store.delete('CiliumEndpoint', ns, name, this.versionOf(cep));
    } catch (err) {
      if (err instanceof NotFoundError) return;
      throw err;
    }
    this.countWrite('CiliumEndpoint', 'delete');
    this.fresh.endpoints.deleted(cep);
  }

  private endpointIdFor(ref: string): number {
    let id = this.endpointIdOf.get(ref);
    if (id === undefined) {
      id = this.endpointIds.allocate();
      this.endpointIdOf.set(ref, id);
      this.endpointIdOwner.set(id, ref);
    }
    return id;
  }

  private releaseEndpointId(ref: string): void {
    const id = this.endpointIdOf.get(ref);
    if (id === undefined) return;
    this.endpointIdOf.delete(ref);
    if (this.endpointIdOwner.get(id) === ref) {
      this.endpointIdOwner.delete(id);
      this.endpointIds.release(id);
    }
  }

  /** Gives a service without one a ClusterIP, and keeps clusterIP and clusterIPs in agreement. */
  private async reconcileServiceIp(ref: string): Promise<void> {
    const [ns, name] = splitRef(ref);
    const svc = this.fresh.services.get(ns, name);
    if (!svc || svc.spec?.type === 'ExternalName') return;
    const spec = svc.spec ?? {};
    const given = [spec.clusterIP, spec.clusterIPs?.[0]].find((x) => x !== undefined && x !== '');
    const ip = given ?? this.serviceIps.assign(ref);
    const clusterIPs = spec.clusterIPs?.[0] === ip ? spec.clusterIPs : [ip];
    if (spec.clusterIP === ip && spec.clusterIPs === clusterIPs) return;
    const stored = await this.store.update<Service>({ ...svc, spec: { ...spec, clusterIP: ip, clusterIPs } });
    this.countWrite('Service', 'update');
    this.fresh.services.wrote(stored);
  }

  /** The managed EndpointSlices of one service, from its selector and the matching pods. */
  private async reconcileSlices(ref: string): Promise<void> {
    const [ns, name] = splitRef(ref);
    const svc = this.fresh.services.get(ns, name);
    const match = this.servicesByNamespace.get(ns)?.get(name);
    let want: EndpointSlice[] = [];
    if (svc && serviceSelector(svc) && match) {
      const pods: Pod[] = [];
      for (const podName of this.podsByNamespace.get(ns) ?? []) {
        const p = this.fresh.pods.get(ns, podName);
        if (p && match(p.metadata.labels)) pods.push(p);
      }
      want = desiredEndpointSlices(svc, pods);
    }
    const wantNames = new Set<string>();
    for (const slice of want) {
      wantNames.add(slice.metadata.name);
      const cur = this.fresh.slices.get(ns, slice.metadata.name);
      if (cur && !isManagedSlice(cur)) {
        operatorMetrics().skippedObjects.inc({ kind: 'EndpointSlice', reason: 'not-managed' });
        this.log.warn(
          { slice: keyOf(slice) },
          'an EndpointSlice of this name is not managed by cmesh; leaving it alone',
        );
        continue;
      }
      if (cur) {
        slice.metadata = {
          ...cur.metadata,
          labels: { ...(cur.metadata.labels ?? {}), ...slice.metadata.labels },
          ownerReferences: slice.metadata.ownerReferences!,
        };
        if (
          isDeepStrictEqual(slice.metadata.labels, cur.metadata.labels) &&
          isDeepStrictEqual(slice.metadata.ownerReferences, cur.metadata.ownerReferences) &&
          slice.addressType === cur.addressType &&
          isDeepStrictEqual(slice.endpoints, cur.endpoints) &&
          isDeepStrictEqual(slice.ports, cur.ports)
        ) {
          continue;
        }
      }
      const stored = cur ? await this.store.update(slice) : await this.store.create(slice);
      this.countWrite('EndpointSlice', cur ? 'update' : 'create');
      this.fresh.slices.wrote(stored);
    }
    for (const sliceName of [...(this.slicesByService.get(ref) ?? [])]) {
      if (wantNames.has(sliceName)) continue;
      const cur = this.fresh.slices.get(ns, sliceName);
      if (!cur || !isManagedSlice(cur) || cur.metadata.labels?.[SERVICE_NAME_LABEL] !== name) continue;
      try {
        await this.store.delete('EndpointSlice', ns, sliceName, this.versionOf(cur));
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
      this.countWrite('EndpointSlice', 'delete');
      this.fresh.slices.deleted(cur);
    }
  }

  private async runGc(): Promise<void> {
    const runs = operatorMetrics().identityGcRuns;
    while (!this.stopped) {
      await sleep(this.gcIntervalMs, this.gcAbort.signal);
      if (this.gcAbort.signal.aborted) return;
      try {
        await this.identities.collect(Date.now(), this.gcGraceMs);
        runs.inc({ outcome: 'success' });
      } catch (err) {
        runs.inc({ outcome: 'failure' });
        this.log.warn({ err }, 'identity garbage collection failed; retrying at the next interval');
      }
    }
  }
}
