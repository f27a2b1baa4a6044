/**
 * The policy engine's vocabulary: directions, protocols, the local endpoints policies apply to, verdict queries and
 * the reasons a verdict carries (which policy and rule decided, or why nothing did).
 */

export type Direction = 'ingress' | 'egress';
export type L4Protocol = 'TCP' | 'UDP' | 'SCTP';
/** As written in a policy's toPorts: ANY matches every protocol. */
export type PortProtocol = L4Protocol | 'ANY';

export type PolicyKind = 'CiliumNetworkPolicy' | 'CiliumClusterwideNetworkPolicy';

/** Which section of a rule an entry came from. */
export type RuleSection = 'ingress' | 'ingressDeny' | 'egress' | 'egressDeny';

/** One endpoint of this cluster, as the policy engine sees it. */
export interface LocalEndpoint {
  /** `namespace/name`, the key the ipcache files local endpoints under. */
  id: string;
  namespace: string;
  identity: number;
  /** The identity's labels as `source:key=value` (CiliumEndpoint status.identity.labels). */
  labels: readonly string[];
  /** The endpoint's addresses, to find it by IP (the datapath's destination lookup). */
  ips?: readonly string[];
  /** A host endpoint: selected by nodeSelector rules instead of endpointSelector rules. */
  host?: boolean;
}

/** Where a policy entry came from, precise enough for `policy trace` to quote it. */
export interface RuleOrigin {
  /** `CiliumNetworkPolicy ns/name` or `CiliumClusterwideNetworkPolicy name`. */
  policy: string;
  /** `spec` or `specs[i]`. */
  rule: string;
  section: RuleSection;
  /** Index of the entry within its section. */
  index: number;
}

export type VerdictKind = 'allow' | 'deny' | 'default-deny' | 'no-policy';

export interface VerdictReason {
  kind: VerdictKind;
  /** Set for allow and deny: the rule that decided. */
  origin?: RuleOrigin;
  /** Policies whose rules select the endpoint (any direction); empty for no-policy. */
  selectedBy: string[];
}

export interface Verdict {
  allowed: boolean;
  reason: VerdictReason;
  /** The peer identity the decision used (a CIDR identity when a world peer's IP fell in a policy CIDR). */
  peerIdentity: number;
}

export interface VerdictQuery {
  direction: Direction;
  /** The local endpoint whose policy applies: the destination for ingress, the source for egress. */
  endpoint: string;
  /** The other side's identity (from the ipcache; world when the IP is unknown). */
  peerIdentity: number;
  /** The other side's IP: resolves world peers to the CIDR identities policies select. */
  peerIp?: string;
  port: number;
  protocol: L4Protocol;
}

export class PolicyError extends Error {
  override name = 'PolicyError';
}

/** A policy object that cannot be applied; the engine skips the whole policy, as Cilium rejects it. */
export class InvalidPolicyError extends PolicyError {
  override name = 'InvalidPolicyError';
  constructor(
    readonly policy: string,
    /** Where in the object: `specs[0].ingress[1].toPorts[0].ports[0].port`. */
    readonly path: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`${policy}: ${path ? `${path}: ` : ''}${message}`, options);
  }
}

export class UnknownEndpointError extends PolicyError {
  override name = 'UnknownEndpointError';
}
