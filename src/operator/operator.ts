/**
 * The operator of a local cluster: what kube-controller-manager, cilium-operator and the agents' CRD writes do in
 * a real cluster. Level-triggered: informers over the state etcd feed keys into one work queue; each controller
 * (controllers/) compares what is stored with what should be and writes only the difference, so a restart (of the
 * operator or of etcd) converges and a reconcile with nothing to change writes nothing. This class wires them.
 */
import type { Etcd3 } from 'etcd3';
import { LocalClusterSource } from '../k8s/local-source.js';
import type { ObjectClient } from '../k8s/object-client.js';
import { ObjectStore } from '../k8s/object-store.js';
import type { ClusterSource, Informer } from '../k8s/source.js';
import { nodeLayoutOf } from '../k8s/cluster-layout.js';
import type { KindName, ObjectOf } from '../k8s/types.js';
import { logger } from '../observe/logger.js';
import type { OperatorCluster } from '../k8s/cluster-layout.js';
import { CiliumEndpointController } from './controllers/cilium-endpoints.js';
import { ClusterIpController } from './controllers/cluster-ips.js';
import type { ControllerContext, OperatorFreshCaches, OperatorInformers, OperatorMode } from './controllers/context.js';
import { ControllerRunner } from './controllers/controller.js';
import { EndpointSliceController } from './controllers/endpoint-slices.js';
import { followIdentities } from './controllers/identities.js';
import { IdentityGc } from './controllers/identity-gc.js';
import { NodeController } from './controllers/nodes.js';
import { PodController } from './controllers/pods.js';
import { FreshCache } from './fresh-cache.js';
import { IdentityAllocator } from './identity-allocator.js';
import { PodIpam } from './pod-ipam.js';

export interface OperatorOptions {
  /**
   * Where the cluster's objects are. An etcd client: the cluster's state etcd (`local` mode; the operator does not
   * close it). A source and a writer: a Kubernetes API server (`kubernetes` mode, see OperatorMode).
   */
  client?: Etcd3;
  kubernetes?: { source: ClusterSource; store: ObjectClient };
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

export class Operator {
  private readonly log = logger('operator');
  private readonly cluster: OperatorCluster;
  private readonly mode: OperatorMode;
  private readonly store: ObjectClient;
  private readonly source: ClusterSource;
  private readonly runner: ControllerRunner;
  private readonly ipam: PodIpam;
  private readonly identities: IdentityAllocator;
  private readonly gc: IdentityGc;
  private informers: OperatorInformers | undefined;
  private pods: PodController | undefined;
  private started = false;
  private stopped = false;
  private isSynced = false;
  private readonly syncedPromise: Promise<void>;
  private resolveSynced!: () => void;

  constructor(opts: OperatorOptions) {
    this.cluster = opts.cluster;
    if (opts.kubernetes) {
      this.mode = 'kubernetes';
      this.store = opts.kubernetes.store;
      this.source = opts.kubernetes.source;
    } else if (opts.client) {
      this.mode = 'local';
      this.store = new ObjectStore(opts.client, opts.prefix ? { prefix: opts.prefix } : {});
      this.source = new LocalClusterSource(opts.client, opts.prefix ? { prefix: opts.prefix } : {});
    } else {
      throw new Error('the operator needs a state etcd client or a Kubernetes source');
    }
    this.ipam = new PodIpam(opts.cluster);
    this.identities = new IdentityAllocator({
      clusterId: opts.cluster.id,
      maxConnectedClusters: opts.cluster.maxConnectedClusters,
      store: this.store,
    });
    this.gc = new IdentityGc({
      identities: this.identities,
      log: this.log,
      ...(opts.identityGcGraceMs !== undefined ? { graceMs: opts.identityGcGraceMs } : {}),
      ...(opts.identityGcIntervalMs !== undefined ? { intervalMs: opts.identityGcIntervalMs } : {}),
    });
    this.runner = new ControllerRunner({
      log: this.log,
      ...(opts.workers !== undefined ? { workers: opts.workers } : {}),
      ...(opts.retryMaxMs !== undefined ? { retryMaxMs: opts.retryMaxMs } : {}),
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
    const informers: OperatorInformers = {
      namespaces: inf('Namespace'),
      pods: inf('Pod'),
      services: inf('Service'),
      slices: inf('EndpointSlice'),
      identities: inf('CiliumIdentity'),
      endpoints: inf('CiliumEndpoint'),
      nodes: inf('CiliumNode'),
      ...(this.mode === 'kubernetes' ? { kubeNodes: inf('Node') } : {}),
    };
    this.informers = informers;
    // The overlays first: every controller's handlers then see the caught-up state.
    const fresh: OperatorFreshCaches = {
      pods: new FreshCache(informers.pods),
      services: new FreshCache(informers.services),
      slices: new FreshCache(informers.slices),
      endpoints: new FreshCache(informers.endpoints),
      nodes: new FreshCache(informers.nodes),
    };
    const kubeNodes = informers.kubeNodes;
    this.registerControllers({
      mode: this.mode,
      nodeLayouts: kubeNodes ? () => kubeNodes.list().flatMap((n) => nodeLayoutOf(n) ?? []) : () => this.ipam.nodes,
      cluster: this.cluster,
      store: this.store,
      informers,
      fresh,
      ipam: this.ipam,
      identities: this.identities,
      podsByNamespace: new Map(),
      log: this.log,
      enqueue: (controller, ref) => {
        this.runner.enqueue(controller, ref);
      },
    });
    for (const i of Object.values(informers)) i.start();
    await Promise.all(Object.values(informers).map((i) => i.synced));
    if (this.stopped) return;
    this.log.info(
      { cluster: this.cluster.name, pods: informers.pods.list().length, identities: this.identities.size },
      'cluster state synced; reconciling',
    );
    this.runner.enqueue('nodes');
    this.runner.start();
    this.gc.start();
    void this.runner.idle().then(() => {
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
    return this.runner.idle();
  }

  /** Runs one identity garbage collection now (tests); returns how many identities were deleted. */
  collectIdentities(now = Date.now()): Promise<number> {
    return this.gc.collect(now);
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
      queueDepth: this.runner.depth,
      pods: this.informers?.pods.list().length ?? 0,
      identities: this.identities.size,
      unschedulablePods: this.pods?.unschedulableCount ?? 0,
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.gc.stop();
    await this.runner.stop();
    await this.source.close();
  }

  /**
   * Creates the controllers; each registers its informer handlers. The ClusterIP controller comes before the slice
   * controller: a service change queues its ClusterIP before its slices.
   */
  private registerControllers(ctx: ControllerContext): void {
    const endpoints = new CiliumEndpointController(ctx);
    followIdentities(ctx);
    if (ctx.mode === 'kubernetes') {
      // ClusterIPs are kube-apiserver's, EndpointSlices kube-controller-manager's.
      this.pods = new PodController(ctx, endpoints, () => undefined);
      for (const c of [this.pods, new NodeController(ctx)]) this.runner.register(c);
      return;
    }
    const clusterIps = new ClusterIpController(ctx);
    const slices = new EndpointSliceController(ctx);
    this.pods = new PodController(ctx, endpoints, (p, old) => {
      slices.podChanged(p, old);
    });
    for (const c of [this.pods, clusterIps, slices, new NodeController(ctx)]) this.runner.register(c);
  }
}
