/**
 * Where a local cluster's nodes sit: their names, their pod CIDRs (one /24 each, carved from the cluster's pod
 * CIDR), their node IPs. Pure arithmetic from the cluster record, so that every run of the operator (and every
 * other reader) derives the same layout.
 */
import { addressAt, parseIpRange, subnet, type IpRange } from '../wire/ip.js';
import type { KubeNode } from './types.js';
import type { MaxConnectedClusters } from '../wire/index.js';

/** Node pod CIDRs are /24s, as kube-controller-manager's default --node-cidr-mask-size. */
export const NODE_CIDR_PREFIX = 24;
/** Node InternalIPs are data only (never contacted): 172.16.0.0 + (clusterId << 11) + node index. */
export const NODE_IP_BASE = '172.16.0.0/12';
export const NODE_IP_CLUSTER_SHIFT = 11;
/** Offsets inside a node's pod CIDR: the router (CiliumInternalIP) and the health endpoint. */
export const ROUTER_IP_OFFSET = 1;
export const HEALTH_IP_OFFSET = 2;

/** The facts of the cluster record the operator needs. */
export interface OperatorCluster {
  name: string;
  id: number;
  maxConnectedClusters: MaxConnectedClusters;
  podCidr: string;
  serviceCidr: string;
  /** Number of nodes, named `<name>-node-1` .. `<name>-node-<nodes>`. */
  nodes: number;
}

export interface NodeLayout {
  /** 1-based. */
  index: number;
  name: string;
  podCidr: IpRange;
  internalIp: string;
  routerIp: string;
  healthIp: string;
}

export class ClusterLayoutError extends Error {
  override name = 'ClusterLayoutError';
}

export function nodeName(cluster: string, index: number): string {
  return `${cluster}-node-${index}`;
}

export function nodeLayout(cluster: OperatorCluster, index: number): NodeLayout {
  let podCidr: IpRange;
  try {
    podCidr = subnet(parseIpRange(cluster.podCidr), NODE_CIDR_PREFIX, index - 1);
  } catch (err) {
    throw new ClusterLayoutError(`node ${index} of cluster ${cluster.name} has no /24 in ${cluster.podCidr}`, {
      cause: err,
    });
  }
  const base = parseIpRange(NODE_IP_BASE);
  return {
    index,
    name: nodeName(cluster.name, index),
    podCidr,
    internalIp: addressAt(base, (BigInt(cluster.id) << BigInt(NODE_IP_CLUSTER_SHIFT)) + BigInt(index)),
    routerIp: addressAt(podCidr, ROUTER_IP_OFFSET),
    healthIp: addressAt(podCidr, HEALTH_IP_OFFSET),
  };
}

/** Every node of the cluster, in index order. */
export function clusterNodes(cluster: OperatorCluster): NodeLayout[] {
  const out: NodeLayout[] = [];
  for (let i = 1; i <= cluster.nodes; i++) out.push(nodeLayout(cluster, i));
  return out;
}

/** The index of a node named `<cluster>-node-<i>`, or undefined for any other name. */
export function nodeIndex(cluster: string, node: string): number | undefined {
  const prefix = `${cluster}-node-`;
  if (!node.startsWith(prefix)) return undefined;
  const i = Number(node.slice(prefix.length));
  return Number.isInteger(i) && i >= 1 && String(i) === node.slice(prefix.length) ? i : undefined;
}

/**
 * The layout of a registered Kubernetes Node: its PodCIDR as node IPAM assigned it, its InternalIP as its agent
 * reported it, and the router and health addresses at the start of its PodCIDR. Undefined until both are known.
 */
export function nodeLayoutOf(node: KubeNode, index = 0): NodeLayout | undefined {
  const cidr = node.spec?.podCIDR;
  const internalIp = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
  if (!cidr || !internalIp) return undefined;
  let podCidr: IpRange;
  try {
    podCidr = parseIpRange(cidr);
  } catch {
    return undefined;
  }
  return {
    index,
    name: node.metadata.name,
    podCidr,
    internalIp,
    routerIp: addressAt(podCidr, ROUTER_IP_OFFSET),
    healthIp: addressAt(podCidr, HEALTH_IP_OFFSET),
  };
}
