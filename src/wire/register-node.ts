/**
 * `cilium/state/noderegister/v1/<node name>`: Cilium's RegisterNode, which is its Node plus `NodeIdentity` (between
 * `Annotations` and `WireguardPubKey`, as in the Go struct). An external workload's agent writes it with only its
 * name (phase 1); the clustermesh-apiserver answers by writing it back with the cluster, labels and the allocated
 * NodeIdentity and no addresses; the agent then writes it again with its addresses (phase 2).
 */
import { MalformedValueError } from './errors.js';
import { parseJsonObject, uint } from './json-fields.js';
import { decodeNode, encodeNode, newNode, type Node } from './node.js';

export interface RegisterNode extends Node {
  /** The numeric identity allocated for the workload; 0 until the apiserver answered. */
  NodeIdentity: number;
}

const WHAT = 'node registration';
/** decodeNode refuses an empty cluster; a phase-1 registration may carry none (Cilium's VM agent sends only Name). */
const NO_CLUSTER_PLACEHOLDER = '\u0000unset';

/** Exactly Cilium's bytes: encodeNode's fields with NodeIdentity spliced before WireguardPubKey. */
export function encodeRegisterNode(n: RegisterNode): string {
  const node = encodeNode(n);
  const at = node.lastIndexOf(',"WireguardPubKey":');
  return `${node.slice(0, at)},"NodeIdentity":${n.NodeIdentity}${node.slice(at)}`;
}

/** Parses a registration; the Name must be set (and is checked against the key by the caller); Cluster may be "". */
export function decodeRegisterNode(bytes: string | Uint8Array): RegisterNode {
  const o = parseJsonObject(bytes, WHAT);
  const cluster = o.Cluster;
  if (cluster !== undefined && typeof cluster !== 'string') {
    throw new MalformedValueError(`${WHAT}: field "Cluster" must be a string`);
  }
  const emptyCluster = cluster === undefined || cluster === '';
  const node = decodeNode(JSON.stringify(emptyCluster ? { ...o, Cluster: NO_CLUSTER_PLACEHOLDER } : o));
  return {
    ...node,
    Cluster: emptyCluster ? '' : node.Cluster,
    NodeIdentity: uint(o, 'NodeIdentity', WHAT, undefined, 0),
  };
}

/** An empty registration with only the fields Cilium's agent sets in phase 1. */
export function newRegisterNode(name: string, fields: Partial<RegisterNode> = {}): RegisterNode {
  return { ...newNode(name, { Source: 'local' }), NodeIdentity: 0, ...fields };
}
