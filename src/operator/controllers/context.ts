/**
 * What the operator's controllers share: the cluster, the object store they write through, the informers and
 * their fresh overlays they read, the allocators, the pods-by-namespace index, and the runner's queue.
 */
import type { ObjectStore } from '../../k8s/object-store.js';
import type { Informer } from '../../k8s/source.js';
import type {
  CiliumEndpoint,
  CiliumIdentity,
  CiliumNode,
  EndpointSlice,
  K8sObject,
  Namespace,
  Pod,
  Service,
} from '../../k8s/types.js';
import type { Logger } from '../../observe/logger.js';
import type { OperatorCluster } from '../../k8s/cluster-layout.js';
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
};

/** The informers' caches overlaid with the operator's own recent writes (see FreshCache). */
export interface OperatorFreshCaches {
  pods: FreshCache<Pod>;
  services: FreshCache<Service>;
  slices: FreshCache<EndpointSlice>;
  endpoints: FreshCache<CiliumEndpoint>;
  nodes: FreshCache<CiliumNode>;
}

export interface ControllerContext {
  readonly cluster: OperatorCluster;
  readonly store: ObjectStore;
  readonly informers: OperatorInformers;
  readonly fresh: OperatorFreshCaches;
  readonly ipam: PodIpam;
  readonly identities: IdentityAllocator;
  /** namespace -> names of its pods (the pod controller keeps it; the slice controller reads it). */
  readonly podsByNamespace: Map<string, Set<string>>;
  readonly log: Logger;
  enqueue(controller: ControllerName, ref?: string): void;
}

export function countWrite(kind: string, action: 'create' | 'update' | 'delete'): void {
  operatorMetrics().writes.inc({ kind, action });
}

/** The object's resourceVersion as a precondition of a delete. */
export function versionOf(o: K8sObject): { resourceVersion?: string } {
  return o.metadata.resourceVersion !== undefined ? { resourceVersion: o.metadata.resourceVersion } : {};
}
