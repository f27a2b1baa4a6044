/**
 * RBAC for cmesh's components: one ClusterRole per component, bound to the component's own user (or, for the agents,
 * to their group), with the least privilege that Cilium's Helm chart grants the same component and that cmesh's code
 * actually uses. Every deviation from the chart is commented at the rule.
 *
 * The user and group names are passed in (they live with the PKI that issues them, src/mesh/kube-pki.ts, a layer
 * above this one).
 */
import type { K8sObject } from './types.js';

const RBAC_API = 'rbac.authorization.k8s.io/v1';
const RBAC_GROUP = 'rbac.authorization.k8s.io';
const CILIUM = 'cilium.io';
const DISCOVERY = 'discovery.k8s.io';
const MCS = 'multicluster.x-k8s.io';
const COORDINATION = 'coordination.k8s.io';
/** Where the kubelets (here: the agents) keep their node heartbeat leases. */
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

const READ = ['get', 'list', 'watch'];

export const CLUSTERMESH_APISERVER_ROLE = 'cmesh:clustermesh-apiserver';
export const EXTERNAL_WORKLOADS_ROLE = 'cmesh:clustermesh-apiserver:external-workloads';
export const OPERATOR_ROLE = 'cmesh:operator';
export const AGENT_ROLE = 'cmesh:agent';
export const AGENT_NODE_LEASE_ROLE = 'cmesh:agent:node-lease';

/** Who the roles are bound to. */
export interface ComponentIdentities {
  clustermeshApiserverUser: string;
  operatorUser: string;
  /** Every node's agent is a user of its own in this group. */
  agentGroup: string;
}

export interface RbacOptions {
  identities: ComponentIdentities;
  /**
   * Bind the clustermesh-apiserver's writes for external workloads (VMs). Off unless asked for, as in Cilium's chart
   * (externalWorkloads.enabled): without them the apiserver only reads.
   */
  externalWorkloads?: boolean;
}

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

const rule = (apiGroups: string[], resources: string[], verbs: string[]): PolicyRule => ({
  apiGroups,
  resources,
  verbs,
});

/**
 * What the clustermesh-apiserver reads (src/apiserver/apiserver.ts): namespaces, services, endpoint slices, Cilium's
 * identities, endpoints, nodes and external workloads, and MCS-API service exports. Unlike Cilium's chart: no
 * core `endpoints` and no CRD list/watch (cmesh reads neither); external workloads are read always, because cmesh's
 * apiserver always runs the VM registration; service imports are not read, so not granted.
 */
export const CLUSTERMESH_APISERVER_RULES: readonly PolicyRule[] = [
  rule([''], ['namespaces', 'services'], READ),
  rule([DISCOVERY], ['endpointslices'], READ),
  rule([CILIUM], ['ciliumidentities', 'ciliumendpoints', 'ciliumnodes', 'ciliumexternalworkloads'], READ),
  rule([MCS], ['serviceexports'], READ),
];

/**
 * The writes of the external-workload manager (src/apiserver/external-workload-manager.ts), exactly: it creates the
 * identity of a workload's labels; creates or replaces (apply = create or update) the CiliumNode and CiliumEndpoint
 * standing for the VM, and deletes both when the VM's registration goes; and writes the CiliumExternalWorkload's
 * status. Cilium's chart grants create on the three kinds, update on identities, nodes and the workload status, and
 * patch on endpoints; cmesh never updates an identity nor patches an endpoint, but replaces endpoints (update) and
 * deletes endpoints and nodes itself.
 */
export const EXTERNAL_WORKLOADS_RULES: readonly PolicyRule[] = [
  rule([CILIUM], ['ciliumidentities'], ['create']),
  rule([CILIUM], ['ciliumnodes', 'ciliumendpoints'], ['create', 'update', 'delete']),
  rule([CILIUM], ['ciliumexternalworkloads/status'], ['update']),
];

/**
 * What cmesh's operator (src/operator/) reads and writes. It does more than cilium-operator, because a local
 * cluster has no cilium-agent and no kubelet writing objects: it creates CiliumEndpoints, CiliumIdentities,
 * CiliumNodes and EndpointSlices, places pods and gives them addresses, and collects the garbage of all of them.
 */
export const OPERATOR_RULES: readonly PolicyRule[] = [
  rule([''], ['namespaces', 'services', 'pods'], READ),
  // A pod's node and address: the scheduler's binding and the kubelet's status in a cluster with real nodes.
  // Services are not written: kube-apiserver allocates cluster IPs itself.
  rule([''], ['pods/binding'], ['create']),
  rule([''], ['pods/status'], ['update', 'patch']),
  // Cilium's chart grants these writes only with clustermesh endpoint-slice synchronization on.
  rule([DISCOVERY], ['endpointslices'], [...READ, 'create', 'update', 'delete']),
  // Cilium's operator only garbage-collects endpoints (the agents create them) and also updates identities.
  rule([CILIUM], ['ciliumendpoints'], [...READ, 'create', 'update', 'delete']),
  rule([CILIUM], ['ciliumidentities'], [...READ, 'create', 'delete']),
  rule([CILIUM], ['ciliumnodes'], [...READ, 'create', 'update', 'delete']),
];

/**
 * What each node's agent needs: to register and heartbeat its node (a kubelet's part: nodes, nodes/status, its
 * lease), report its pods' status, write the Cilium objects of its endpoints, and read what it enforces and load
 * balances. Cilium's agent only creates nodes' CiliumNode and patches endpoints; cmesh's agents play the kubelet too.
 */
export const AGENT_RULES: readonly PolicyRule[] = [
  rule([''], ['nodes'], [...READ, 'create', 'patch', 'update']),
  rule([''], ['nodes/status'], ['patch', 'update']),
  rule([''], ['pods'], READ),
  rule([''], ['pods/status'], ['update', 'patch']),
  rule([''], ['namespaces', 'services'], READ),
  rule([DISCOVERY], ['endpointslices'], READ),
  rule([CILIUM], ['ciliumendpoints', 'ciliumidentities', 'ciliumnodes'], [...READ, 'create', 'update', 'delete']),
  rule([CILIUM], ['ciliumnetworkpolicies', 'ciliumclusterwidenetworkpolicies'], READ),
];

/** The node heartbeat, in kube-node-lease only. */
export const AGENT_NODE_LEASE_RULES: readonly PolicyRule[] = [
  rule([COORDINATION], ['leases'], ['get', 'create', 'update', 'patch']),
];

type Subject = { kind: 'User' | 'Group'; name: string; apiGroup: typeof RBAC_GROUP };

const user = (name: string): Subject => ({ kind: 'User', name, apiGroup: RBAC_GROUP });
const group = (name: string): Subject => ({ kind: 'Group', name, apiGroup: RBAC_GROUP });

function clusterRole(name: string, rules: readonly PolicyRule[], subject: Subject): K8sObject[] {
  return [
    { apiVersion: RBAC_API, kind: 'ClusterRole', metadata: { name }, rules: rules.map((r) => ({ ...r })) },
    {
      apiVersion: RBAC_API,
      kind: 'ClusterRoleBinding',
      metadata: { name },
      roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name },
      subjects: [subject],
    },
  ];
}

function namespacedRole(name: string, namespace: string, rules: readonly PolicyRule[], subject: Subject): K8sObject[] {
  return [
    { apiVersion: RBAC_API, kind: 'Role', metadata: { name, namespace }, rules: rules.map((r) => ({ ...r })) },
    {
      apiVersion: RBAC_API,
      kind: 'RoleBinding',
      metadata: { name, namespace },
      roleRef: { apiGroup: RBAC_GROUP, kind: 'Role', name },
      subjects: [subject],
    },
  ];
}

/** The roles and bindings of every component. */
export function componentRbac(opts: RbacOptions): K8sObject[] {
  const { identities: id } = opts;
  return [
    ...clusterRole(CLUSTERMESH_APISERVER_ROLE, CLUSTERMESH_APISERVER_RULES, user(id.clustermeshApiserverUser)),
    ...(opts.externalWorkloads
      ? clusterRole(EXTERNAL_WORKLOADS_ROLE, EXTERNAL_WORKLOADS_RULES, user(id.clustermeshApiserverUser))
      : []),
    ...clusterRole(OPERATOR_ROLE, OPERATOR_RULES, user(id.operatorUser)),
    ...clusterRole(AGENT_ROLE, AGENT_RULES, group(id.agentGroup)),
    ...namespacedRole(AGENT_NODE_LEASE_ROLE, NODE_LEASE_NAMESPACE, AGENT_NODE_LEASE_RULES, group(id.agentGroup)),
  ];
}
