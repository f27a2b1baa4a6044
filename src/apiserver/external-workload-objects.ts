/**
 * What the clustermesh-apiserver derives from a CiliumExternalWorkload and its accepted registration, as Cilium's
 * vmmanager does: the workload's labels (the CEW's, with the namespace and pod-name labels defaulted and the cluster
 * label forced), its security labels, and the CiliumNode and CiliumEndpoint that stand for the VM in the cluster.
 */
import type { CiliumEndpoint, CiliumExternalWorkload, CiliumIdentity, CiliumNode } from '../k8s/types.js';
import { CLUSTER_LABEL, NAMESPACE_LABEL, canonicalIp, ipFamily, type NodeAddress } from '../wire/index.js';

export const POD_NAME_LABEL = 'io.kubernetes.pod.name';
/** Cilium's default namespace of an external workload whose CEW names none. */
export const DEFAULT_WORKLOAD_NAMESPACE = 'default';
/** Cilium's `models.EndpointStateReady`. */
export const ENDPOINT_STATE_READY = 'ready';

/** The labels the apiserver gives the workload's node (and, with the `k8s:` source, its identity). */
export function workloadLabels(cew: CiliumExternalWorkload, clusterName: string): Record<string, string> {
  const out: Record<string, string> = { ...(cew.metadata.labels ?? {}) };
  // Unset or empty, as Cilium tests it.
  if ((out[NAMESPACE_LABEL] ?? '') === '') out[NAMESPACE_LABEL] = DEFAULT_WORKLOAD_NAMESPACE;
  if ((out[POD_NAME_LABEL] ?? '') === '') out[POD_NAME_LABEL] = cew.metadata.name;
  out[CLUSTER_LABEL] = clusterName;
  return out;
}

export function workloadNamespace(cew: CiliumExternalWorkload): string {
  const ns = cew.metadata.labels?.[NAMESPACE_LABEL] ?? '';
  return ns === '' ? DEFAULT_WORKLOAD_NAMESPACE : ns;
}

/** `k8s:key` -> value, as a CiliumIdentity's security-labels. */
export function securityLabels(labels: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(labels).sort()) out[`k8s:${k}`] = labels[k] ?? '';
  return out;
}

/** A canonical key of a label set (order-independent). */
export function labelSetKey(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k] ?? ''};`)
    .join('');
}

export function identityObject(id: number, secLabels: Record<string, string>, namespace: string): CiliumIdentity {
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumIdentity',
    metadata: { name: String(id), labels: { [NAMESPACE_LABEL]: namespace } },
    'security-labels': secLabels,
  };
}

/** The workload's node IP, as Cilium's GetNodeIP(false) picks it: an IPv4 InternalIP, else ExternalIP, else any. */
export function workloadNodeIp(addresses: readonly NodeAddress[] | null): string | undefined {
  const v4 = (addresses ?? []).filter((a) => ipFamily(a.IP) === 4 && a.Type !== 'CiliumInternalIP');
  const pick = v4.find((a) => a.Type === 'InternalIP') ?? v4.find((a) => a.Type === 'ExternalIP') ?? v4[0];
  return pick ? canonicalIp(pick.IP) : undefined;
}

const NODE_ADDRESS_TYPES = new Set(['InternalIP', 'ExternalIP', 'CiliumInternalIP']);

export function ciliumNodeFor(
  cew: CiliumExternalWorkload,
  labels: Record<string, string>,
  addresses: readonly NodeAddress[],
): CiliumNode {
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumNode',
    metadata: {
      name: cew.metadata.name,
      labels,
      ownerReferences: [
        {
          apiVersion: 'cilium.io/v2',
          kind: 'CiliumExternalWorkload',
          name: cew.metadata.name,
          uid: cew.metadata.uid ?? '',
        },
      ],
    },
    spec: {
      addresses: addresses
        .filter((a) => NODE_ADDRESS_TYPES.has(a.Type))
        .map((a) => ({ type: a.Type as 'InternalIP', ip: a.IP })),
    },
  };
}

export function ciliumEndpointFor(
  node: CiliumNode,
  namespace: string,
  identity: number,
  secLabels: Record<string, string>,
  addresses: readonly NodeAddress[],
  nodeIp: string,
): CiliumEndpoint {
  const pairs: { ipv4?: string; ipv6?: string }[] = [];
  for (const a of addresses) {
    if (a.Type === 'CiliumInternalIP') continue;
    const fam = ipFamily(a.IP);
    const field = fam === 4 ? 'ipv4' : fam === 6 ? 'ipv6' : undefined;
    if (!field) continue;
    let slot = pairs.find((p) => p[field] === undefined);
    if (!slot) pairs.push((slot = {}));
    slot[field] = a.IP;
  }
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumEndpoint',
    metadata: {
      name: node.metadata.name,
      namespace,
      labels: { name: node.metadata.name },
      ownerReferences: [
        { apiVersion: 'cilium.io/v2', kind: 'CiliumNode', name: node.metadata.name, uid: node.metadata.uid ?? '' },
      ],
    },
    status: {
      identity: {
        id: identity,
        labels: Object.entries(secLabels)
          .map(([k, v]) => `${k}=${v}`)
          .sort(),
      },
      networking: { addressing: pairs, node: nodeIp },
      state: ENDPOINT_STATE_READY,
    },
  };
}

/** Whether an object was written for an external workload (never touch a same-named pod's endpoint or a node). */
export function ownedBy(
  obj: { metadata: { ownerReferences?: { kind: string; name: string }[] } },
  kind: string,
  name: string,
): boolean {
  return (obj.metadata.ownerReferences ?? []).some((o) => o.kind === kind && o.name === name);
}
