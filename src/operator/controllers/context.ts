/**
 * What the operator's controllers share: the cluster, the object store they write through, the informers and
 * their fresh overlays they read, the allocators, the pods-by-namespace index, and the runner's queue.
 */
import type { ObjectClient } from '../../k8s/object-client.js';
import type { Informer } from '../../k8s/source.js';
import type {
  CiliumEndpoint,
  CiliumIdentity,
  CiliumNode,
  EndpointSlice,
  K8sObject,
  KubeNode,
  Namespace,
  Pod,
  Service,
} from '../../k8s/types.js';
import type { Logger } from '../../observe/logger.js';
import type { NodeLayout, OperatorCluster } from '../../k8s/cluster-layout.js';
import type { FreshCache } from '../fresh-cache.js';
import type { IdentityAllocator } from '../identity-allocator.js';
import { operatorMetrics } from '../metrics.js';
import type { PodIpam } from '../pod-ipam.js';
import type { ControllerName } from './controller.js';

/** A type, not an interface: Object.values() over it keeps the informers' type. */
export type OperatorInformers = {
  namespaces: Informer<Namespace>;
  pods: Informer<Pod>;
  services: Informer<Service>;
  slices: Informer<EndpointSlice>;
  identities: Informer<CiliumIdentity>;
  endpoints: Informer<CiliumEndpoint>;
  nodes: Informer<CiliumNode>;
  /** Kubernetes Nodes (a cluster with a Kubernetes control plane only). */
  kubeNodes?: Informer<KubeNode>;
};

/**
 * Who does what. `local`: the operator is also scheduler, kubelet, pod IPAM, ClusterIP allocator and EndpointSlice
 * controller of a cluster kept in the state etcd. `kubernetes`: those are Kubernetes' own (kube-scheduler, the
 * agents as kubelet-less nodes, kube-apiserver, kube-controller-manager); the operator keeps CiliumNodes,
 * CiliumEndpoints and CiliumIdentities, as cilium-operator and the agents' CRD writes do.
 */
export type OperatorMode = 'local' | 'kubernetes';

/** The informers' caches overlaid with the operator's own recent writes (see FreshCache). */
export interface OperatorFreshCaches {
  pods: FreshCache<Pod>;
  services: FreshCache<Service>;
  slices: FreshCache<EndpointSlice>;
  endpoints: FreshCache<CiliumEndpoint>;
  nodes: FreshCache<CiliumNode>;
}

export interface ControllerContext {
  readonly mode: OperatorMode;
  readonly cluster: OperatorCluster;
  readonly store: ObjectClient;
  readonly informers: OperatorInformers;
  readonly fresh: OperatorFreshCaches;
  readonly ipam: PodIpam;
  readonly identities: IdentityAllocator;
  /** namespace -> names of its pods (the pod controller keeps it; the slice controller reads it). */
  readonly podsByNamespace: Map<string, Set<string>>;
  readonly log: Logger;
  /** The cluster's nodes as they are now: the record's layout (local), or the registered Nodes (kubernetes). */
  nodeLayouts(): readonly NodeLayout[];
  enqueue(controller: ControllerName, ref?: string): void;
}

export function countWrite(kind: string, action: 'create' | 'update' | 'delete'): void {
  operatorMetrics().writes.inc({ kind, action });
}

/** The object's resourceVersion as a precondition of a delete. */
export function versionOf(o: K8sObject): { resourceVersion?: string } {
  return o.metadata.resourceVersion !== undefined ? { resourceVersion: o.metadata.resourceVersion } : {};
}
