/**
 * Kubernetes-shaped object types for the kinds cmesh keeps in a cluster's state. Only the fields cmesh reads are
 * typed; every object also carries whatever else it was written with (index signatures), so a round trip through
 * the state etcd never drops a field a user put in a manifest.
 */

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name: string;
  /** Set for namespaced kinds, absent for cluster-scoped ones. */
  namespace?: string;
  uid?: string;
  /** The etcd mod revision of the object's key, as a decimal string. Set when read; never trusted when written. */
  resourceVersion?: string;
  /** Incremented on every change outside `status` and `metadata`. */
  generation?: number;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  [field: string]: unknown;
}

/** What every object has; the kind-specific interfaces below narrow it. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

// ---- core/v1 ----

export interface Namespace extends K8sObject {
  apiVersion: 'v1';
  kind: 'Namespace';
  spec?: { finalizers?: string[]; [field: string]: unknown };
  status?: { phase?: string; [field: string]: unknown };
}

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: Protocol;
  hostPort?: number;
  [field: string]: unknown;
}

export interface Container {
  name: string;
  image?: string;
  ports?: ContainerPort[];
  [field: string]: unknown;
}

export interface PodIP {
  ip: string;
}

export interface PodCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  [field: string]: unknown;
}

export interface Pod extends K8sObject {
  apiVersion: 'v1';
  kind: 'Pod';
  spec?: {
    nodeName?: string;
    serviceAccountName?: string;
    hostNetwork?: boolean;
    containers?: Container[];
    [field: string]: unknown;
  };
  status?: {
    phase?: string;
    podIP?: string;
    podIPs?: PodIP[];
    hostIP?: string;
    hostIPs?: PodIP[];
    conditions?: PodCondition[];
    [field: string]: unknown;
  };
}

export interface ServicePort {
  name?: string;
  port: number;
  protocol?: Protocol;
  /** A port number or the name of a container port. */
  targetPort?: number | string;
  nodePort?: number;
  appProtocol?: string;
  [field: string]: unknown;
}

export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';

export interface Service extends K8sObject {
  apiVersion: 'v1';
  kind: 'Service';
  spec?: {
    type?: ServiceType;
    /** An IP, or `None` for a headless service. */
    clusterIP?: string;
    clusterIPs?: string[];
    selector?: Record<string, string>;
    ports?: ServicePort[];
    externalIPs?: string[];
    ipFamilies?: ('IPv4' | 'IPv6')[];
    sessionAffinity?: 'None' | 'ClientIP';
    externalTrafficPolicy?: 'Cluster' | 'Local';
    internalTrafficPolicy?: 'Cluster' | 'Local';
    externalName?: string;
    [field: string]: unknown;
  };
  status?: {
    loadBalancer?: { ingress?: { ip?: string; hostname?: string; [field: string]: unknown }[] };
    [field: string]: unknown;
  };
}

// ---- discovery.k8s.io/v1 ----

export interface EndpointConditions {
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

export interface ObjectReference {
  kind?: string;
  namespace?: string;
  name?: string;
  uid?: string;
  [field: string]: unknown;
}

export interface Endpoint {
  addresses: string[];
  conditions?: EndpointConditions;
  hostname?: string;
  nodeName?: string;
  zone?: string;
  targetRef?: ObjectReference;
  [field: string]: unknown;
}

export interface EndpointPort {
  name?: string;
  port?: number;
  protocol?: Protocol;
  appProtocol?: string;
  [field: string]: unknown;
}

export interface EndpointSlice extends K8sObject {
  apiVersion: 'discovery.k8s.io/v1';
  kind: 'EndpointSlice';
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  endpoints: Endpoint[];
  ports?: EndpointPort[];
}

// ---- cilium.io/v2 ----

/** Name = the numeric identity; `security-labels` = the identity's labels with source prefixes (`k8s:app`). */
export interface CiliumIdentity extends K8sObject {
  apiVersion: 'cilium.io/v2';
  kind: 'CiliumIdentity';
  'security-labels': Record<string, string>;
}

export interface AddressPair {
  ipv4?: string;
  ipv6?: string;
}

export interface NamedPort {
  name: string;
  port: number;
  protocol?: Protocol;
}

export interface CiliumEndpointStatus {
  id?: number;
  identity?: { id: number; labels?: string[] };
  networking?: { addressing: AddressPair[]; node?: string };
  encryption?: { key?: number };
  'named-ports'?: NamedPort[];
  'service-account'?: string;
  state?: string;
  [field: string]: unknown;
}

export interface CiliumEndpoint extends K8sObject {
  apiVersion: 'cilium.io/v2';
  kind: 'CiliumEndpoint';
  status?: CiliumEndpointStatus;
}

export type NodeAddressType =
  'InternalIP' | 'ExternalIP' | 'CiliumInternalIP' | 'Hostname' | 'InternalDNS' | 'ExternalDNS';

export interface NodeAddress {
  type: NodeAddressType;
  ip: string;
}

export interface CiliumNodeSpec {
  'instance-id'?: string;
  addresses?: NodeAddress[];
  health?: AddressPair;
  ingress?: AddressPair;
  encryption?: { key?: number };
  ipam?: { podCIDRs?: string[]; pool?: Record<string, unknown>; [field: string]: unknown };
  bootid?: string;
  [field: string]: unknown;
}

export interface CiliumNode extends K8sObject {
  apiVersion: 'cilium.io/v2';
  kind: 'CiliumNode';
  spec?: CiliumNodeSpec;
  status?: Record<string, unknown>;
}

export interface CiliumExternalWorkload extends K8sObject {
  apiVersion: 'cilium.io/v2';
  kind: 'CiliumExternalWorkload';
  spec?: { 'ipv4-alloc-cidr'?: string; 'ipv6-alloc-cidr'?: string; [field: string]: unknown };
  status?: { id?: number; ip?: string; [field: string]: unknown };
}

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

/** One policy rule; the selectors are typed, the rule bodies pass through to the policy engine unchanged. */
export interface PolicyRule {
  endpointSelector?: LabelSelector;
  nodeSelector?: LabelSelector;
  ingress?: Record<string, unknown>[];
  ingressDeny?: Record<string, unknown>[];
  egress?: Record<string, unknown>[];
  egressDeny?: Record<string, unknown>[];
  description?: string;
  [field: string]: unknown;
}

export interface CiliumNetworkPolicy extends K8sObject {
  apiVersion: 'cilium.io/v2';
  kind: 'CiliumNetworkPolicy';
  spec?: PolicyRule;
  specs?: PolicyRule[];
  status?: Record<string, unknown>;
}

export interface CiliumClusterwideNetworkPolicy extends K8sObject {
  apiVersion: 'cilium.io/v2';
  kind: 'CiliumClusterwideNetworkPolicy';
  spec?: PolicyRule;
  specs?: PolicyRule[];
  status?: Record<string, unknown>;
}

// ---- multicluster.x-k8s.io/v1alpha1 (MCS API) ----

/** Marks the Service of the same namespace/name for export to the cluster set. */
export interface ServiceExport extends K8sObject {
  apiVersion: 'multicluster.x-k8s.io/v1alpha1';
  kind: 'ServiceExport';
  spec?: {
    exportedLabels?: Record<string, string>;
    exportedAnnotations?: Record<string, string>;
    [field: string]: unknown;
  };
  status?: Record<string, unknown>;
}

/**
 * A Kubernetes Node (core/v1), as the agent registers it for its node and the controller manager's node IPAM gives
 * it a PodCIDR. Named KubeNode here: `Node` is a DOM type name.
 */
export interface KubeNode extends K8sObject {
  apiVersion: 'v1';
  kind: 'Node';
  spec?: {
    podCIDR?: string;
    podCIDRs?: string[];
    unschedulable?: boolean;
    taints?: { key: string; value?: string; effect: string; [field: string]: unknown }[];
    [field: string]: unknown;
  };
  status?: {
    addresses?: { type: string; address: string }[];
    conditions?: { type: string; status: string; [field: string]: unknown }[];
    [field: string]: unknown;
  };
}

// ---- the kind registry ----

export interface KindMap {
  Namespace: Namespace;
  Node: KubeNode;
  Pod: Pod;
  Service: Service;
  EndpointSlice: EndpointSlice;
  CiliumIdentity: CiliumIdentity;
  CiliumEndpoint: CiliumEndpoint;
  CiliumNode: CiliumNode;
  CiliumExternalWorkload: CiliumExternalWorkload;
  CiliumNetworkPolicy: CiliumNetworkPolicy;
  CiliumClusterwideNetworkPolicy: CiliumClusterwideNetworkPolicy;
  ServiceExport: ServiceExport;
}

export type KindName = keyof KindMap;
export type ObjectOf<K extends KindName> = KindMap[K];
/** Any object of a supported kind. */
export type AnyObject = KindMap[KindName];

export interface KindInfo {
  kind: KindName;
  apiVersion: string;
  /** API group; `core` for the legacy core group (as it appears in state etcd keys). */
  group: string;
  /** Lower-case plural, as in the API path and the state etcd key. */
  resource: string;
  namespaced: boolean;
  /** Other names the CLI accepts (singular, short names). */
  aliases: readonly string[];
}

export const KINDS: { readonly [K in KindName]: KindInfo & { kind: K } } = {
  Namespace: {
    kind: 'Namespace',
    apiVersion: 'v1',
    group: 'core',
    resource: 'namespaces',
    namespaced: false,
    aliases: ['namespace', 'ns'],
  },
  Node: {
    kind: 'Node',
    apiVersion: 'v1',
    group: 'core',
    resource: 'nodes',
    namespaced: false,
    aliases: ['node', 'no'],
  },
  Pod: { kind: 'Pod', apiVersion: 'v1', group: 'core', resource: 'pods', namespaced: true, aliases: ['pod', 'po'] },
  Service: {
    kind: 'Service',
    apiVersion: 'v1',
    group: 'core',
    resource: 'services',
    namespaced: true,
    aliases: ['service', 'svc'],
  },
  EndpointSlice: {
    kind: 'EndpointSlice',
    apiVersion: 'discovery.k8s.io/v1',
    group: 'discovery.k8s.io',
    resource: 'endpointslices',
    namespaced: true,
    aliases: ['endpointslice'],
  },
  CiliumIdentity: {
    kind: 'CiliumIdentity',
    apiVersion: 'cilium.io/v2',
    group: 'cilium.io',
    resource: 'ciliumidentities',
    namespaced: false,
    aliases: ['ciliumidentity', 'ciliumid'],
  },
  CiliumEndpoint: {
    kind: 'CiliumEndpoint',
    apiVersion: 'cilium.io/v2',
    group: 'cilium.io',
    resource: 'ciliumendpoints',
    namespaced: true,
    aliases: ['ciliumendpoint', 'cep', 'ciliumep'],
  },
  CiliumNode: {
    kind: 'CiliumNode',
    apiVersion: 'cilium.io/v2',
    group: 'cilium.io',
    resource: 'ciliumnodes',
    namespaced: false,
    aliases: ['ciliumnode', 'cn', 'ciliumn'],
  },
  CiliumExternalWorkload: {
    kind: 'CiliumExternalWorkload',
    apiVersion: 'cilium.io/v2',
    group: 'cilium.io',
    resource: 'ciliumexternalworkloads',
    namespaced: false,
    aliases: ['ciliumexternalworkload', 'cew'],
  },
  CiliumNetworkPolicy: {
    kind: 'CiliumNetworkPolicy',
    apiVersion: 'cilium.io/v2',
    group: 'cilium.io',
    resource: 'ciliumnetworkpolicies',
    namespaced: true,
    aliases: ['ciliumnetworkpolicy', 'cnp', 'ciliumnp'],
  },
  CiliumClusterwideNetworkPolicy: {
    kind: 'CiliumClusterwideNetworkPolicy',
    apiVersion: 'cilium.io/v2',
    group: 'cilium.io',
    resource: 'ciliumclusterwidenetworkpolicies',
    namespaced: false,
    aliases: ['ciliumclusterwidenetworkpolicy', 'ccnp'],
  },
  ServiceExport: {
    kind: 'ServiceExport',
    apiVersion: 'multicluster.x-k8s.io/v1alpha1',
    group: 'multicluster.x-k8s.io',
    resource: 'serviceexports',
    namespaced: true,
    aliases: ['serviceexport', 'svcex', 'svcexport'],
  },
};

export const KIND_NAMES = Object.keys(KINDS) as readonly KindName[];

export function isKindName(s: string): s is KindName {
  return Object.hasOwn(KINDS, s);
}

const byAlias = new Map<string, KindName>();
for (const info of Object.values(KINDS)) {
  for (const n of [info.kind, info.resource, ...info.aliases]) {
    byAlias.set(n.toLowerCase(), info.kind);
    // kubectl also accepts `resource.group` (`pods.core` is not valid there, but harmless here).
    byAlias.set(`${n.toLowerCase()}.${info.group}`, info.kind);
  }
}

/** Resolves a kind, plural, short name or `plural.group` (case-insensitive) as the CLI accepts them. */
export function resolveKind(name: string): KindName | undefined {
  return byAlias.get(name.toLowerCase());
}

export function kindInfo(kind: KindName): KindInfo {
  return KINDS[kind];
}
