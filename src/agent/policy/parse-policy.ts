/**
 * CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy -> rules the engine evaluates. Follows Cilium's
 * ParseToCiliumRule: a namespaced policy's subject selector gets the namespace label, its peer selectors get it
 * unless they name a namespace themselves; a clusterwide policy's peer selectors require some namespace label.
 * With defaultLocalCluster (Cilium's --policy-default-local-cluster) peer selectors without a cluster label get the
 * local cluster's. Anything cmesh cannot enforce faithfully rejects the whole policy, as Cilium's sanitizer does:
 * half a policy is a different policy.
 */
import type { CiliumClusterwideNetworkPolicy, CiliumNetworkPolicy } from '../../k8s/types.js';
import { CidrError, CLUSTER_LABEL, NAMESPACE_LABEL, parsePrefix, rangeCovers } from '../../wire/index.js';
import { cidrRuleKey, type CidrRule } from './cidr.js';
import {
  ANY_SOURCE,
  compileNormal,
  isEmptySelector,
  K8S_SOURCE,
  normalizeSelector,
  RESERVED_SOURCE,
  SelectorError,
  selectorHasKey,
  selectorHasKeyPrefix,
  selectorKey,
  type NormalSelector,
} from './selector.js';
import type { LabelMatcher } from '../../k8s/label-selector.js';
import {
  InvalidPolicyError,
  type Direction,
  type PolicyKind,
  type PortProtocol,
  type RuleOrigin,
  type RuleSection,
} from './types.js';
import { objectRef } from '../../wire/object-ref.js';

const NAMESPACE_KEY = `${K8S_SOURCE}:${NAMESPACE_LABEL}`;
const CLUSTER_KEY = `${K8S_SOURCE}:${CLUSTER_LABEL}`;
/** Cilium's namespace-labels prefix: a selector on namespace labels is not narrowed to the policy's namespace. */
const NAMESPACE_LABELS_SUFFIX = 'io.cilium.k8s.namespace.labels';
const NAMESPACE_LABELS_PREFIX = `${K8S_SOURCE}:${NAMESPACE_LABELS_SUFFIX}`;
const INIT_KEY = `${RESERVED_SOURCE}:init`;
const MAX_PORT = 65535;
export const WILDCARD_KEY = '<wildcard>';

export type PeerSelectorSpec =
  | { type: 'labels'; key: string; selector: NormalSelector }
  | { type: 'cidr'; key: string; rule: CidrRule }
  | { type: 'wildcard'; key: typeof WILDCARD_KEY };

export interface PortRange {
  protocol: PortProtocol;
  lo: number;
  hi: number;
}

/** One entry of an ingress/egress(-deny) section: which peers, which ports, allow or deny. */
export interface PeerRule {
  origin: RuleOrigin;
  direction: Direction;
  deny: boolean;
  /** Empty: selects no peer (the rule only turns enforcement on, as `ingress: [{}]` does). */
  peers: PeerSelectorSpec[];
  /** Undefined: every port and protocol. */
  ports: PortRange[] | undefined;
}

export interface ParsedRule {
  policy: string;
  rule: string;
  subjectKind: 'endpoint' | 'node';
  subject: NormalSelector;
  matchSubject: LabelMatcher;
  enforce: Record<Direction, boolean>;
  entries: PeerRule[];
  description?: string;
}

export interface ParsedPolicy {
  /** `CiliumNetworkPolicy ns/name` or `CiliumClusterwideNetworkPolicy name`. */
  name: string;
  kind: PolicyKind;
  namespace: string;
  rules: ParsedRule[];
  /** Non-fatal notes (L7 rules enforced at L4 only, ICMP rules ignored). */
  warnings: string[];
}

export interface ParseOptions {
  clusterName: string;
  defaultLocalCluster: boolean;
}

type Policy = CiliumNetworkPolicy | CiliumClusterwideNetworkPolicy;

export function policyName(p: { kind: string; metadata: { name: string; namespace?: string } }): string {
  return p.kind === 'CiliumNetworkPolicy'
    ? `CiliumNetworkPolicy ${objectRef(p.metadata.namespace ?? '', p.metadata.name)}`
    : `CiliumClusterwideNetworkPolicy ${p.metadata.name}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const INGRESS_FIELDS = new Set(['fromEndpoints', 'fromEntities', 'fromCIDR', 'fromCIDRSet', 'toPorts', 'icmps']);
const EGRESS_FIELDS = new Set(['toEndpoints', 'toEntities', 'toCIDR', 'toCIDRSet', 'toPorts', 'icmps']);
const UNSUPPORTED_FIELDS = new Set([
  'fromRequires',
  'toRequires',
  'fromNodes',
  'toNodes',
  'fromGroups',
  'toGroups',
  'toServices',
  'toFQDNs',
]);
/** Accepted and without effect here (mutual auth is not part of cmesh). */
const IGNORED_FIELDS = new Set(['authentication']);
const RULE_FIELDS = new Set([
  'endpointSelector',
  'nodeSelector',
  'ingress',
  'ingressDeny',
  'egress',
  'egressDeny',
  'description',
  'labels',
  'enableDefaultDeny',
]);

const RESERVED_ENTITY_NAMES = ['host', 'remote-node', 'init', 'health', 'unmanaged', 'kube-apiserver', 'ingress'];
const ENTITY_NAMES = new Set(['all', 'world', 'cluster', 'none', ...RESERVED_ENTITY_NAMES]);

function reservedSelector(name: string): NormalSelector {
  return { matchLabels: { [`${RESERVED_SOURCE}:${name}`]: '' }, matchExpressions: [] };
}

function labelsPeer(selector: NormalSelector): PeerSelectorSpec {
  return isEmptySelector(selector)
    ? { type: 'wildcard', key: WILDCARD_KEY }
    : { type: 'labels', key: selectorKey(selector), selector };
}

/** Cilium's EntitySelectorMapping, with `cluster` bound to the local cluster's name. */
export function entitySelectors(entity: string, clusterName: string): PeerSelectorSpec[] {
  switch (entity) {
    case 'all':
      return [{ type: 'wildcard', key: WILDCARD_KEY }];
    case 'world':
      return ['world', 'world-ipv4', 'world-ipv6'].map((n) => labelsPeer(reservedSelector(n)));
    case 'cluster':
      return [
        ...['host', 'remote-node', 'init', 'health', 'unmanaged', 'kube-apiserver', 'ingress'].map((n) =>
          labelsPeer(reservedSelector(n)),
        ),
        labelsPeer({ matchLabels: { [CLUSTER_KEY]: clusterName }, matchExpressions: [] }),
      ];
    default:
      return [labelsPeer(reservedSelector(entity))];
  }
}

class Parser {
  readonly warnings: string[] = [];
  private readonly namespace: string;

  constructor(
    private readonly policy: Policy,
    private readonly name: string,
    private readonly opts: ParseOptions,
  ) {
    this.namespace = policy.kind === 'CiliumNetworkPolicy' ? (policy.metadata.namespace ?? '') : '';
  }

  fail(path: string, message: string, cause?: unknown): never {
    throw new InvalidPolicyError(this.name, path, message, cause === undefined ? undefined : { cause });
  }

  selector(raw: unknown, path: string): NormalSelector {
    try {
      return normalizeSelector(raw);
    } catch (err) {
      if (err instanceof SelectorError) this.fail(err.path ? `${path}.${err.path}` : path, err.message, err);
      throw err;
    }
  }

  /** Cilium's getEndpointSelector for peers, plus the local-cluster default. */
  peerSelector(raw: unknown, path: string, subjectMatchesInit: boolean): NormalSelector {
    const sel = this.selector(raw, path);
    if (selectorHasKeyPrefix(sel, `${RESERVED_SOURCE}:`)) return sel;
    if (!subjectMatchesInit && !selectorHasKey(sel, NAMESPACE_KEY)) {
      if (this.namespace === '') {
        sel.matchExpressions.push({ key: NAMESPACE_KEY, operator: 'Exists' });
      } else if (!selectorHasKeyPrefix(sel, NAMESPACE_LABELS_PREFIX, `${ANY_SOURCE}:${NAMESPACE_LABELS_SUFFIX}`)) {
        sel.matchLabels[NAMESPACE_KEY] = this.namespace;
      }
    }
    if (this.opts.defaultLocalCluster && !selectorHasKey(sel, CLUSTER_KEY)) {
      sel.matchLabels[CLUSTER_KEY] = this.opts.clusterName;
    }
    return sel;
  }

  list(raw: unknown, path: string): unknown[] {
    if (raw === undefined || raw === null) return [];
    if (!Array.isArray(raw)) this.fail(path, 'must be a list');
    return raw as unknown[];
  }

  cidr(raw: unknown, path: string): CidrRule {
    if (typeof raw !== 'string') this.fail(path, 'must be a CIDR string');
    try {
      return { cidr: parsePrefix(raw), except: [] };
    } catch (err) {
      if (err instanceof CidrError) this.fail(path, err.message, err);
      throw err;
    }
  }

  cidrSet(raw: unknown, path: string): CidrRule {
    if (!isObject(raw)) this.fail(path, 'must be an object with cidr and optional except');
    for (const k of Object.keys(raw)) {
      if (k === 'cidrGroupRef' || k === 'cidrGroupSelector') this.fail(`${path}.${k}`, 'CIDR groups are not supported');
      if (k !== 'cidr' && k !== 'except') this.fail(`${path}.${k}`, 'unknown field');
    }
    const base = this.cidr(raw.cidr, `${path}.cidr`);
    const except = this.list(raw.except, `${path}.except`).map((e, i) => this.cidr(e, `${path}.except[${i}]`).cidr);
    for (const [i, e] of except.entries()) {
      if (!rangeCovers(base.cidr, e)) this.fail(`${path}.except[${i}]`, `${e.cidr} is not inside ${base.cidr.cidr}`);
    }
    return { cidr: base.cidr, except };
  }

  port(raw: unknown, path: string): number {
    const text = typeof raw === 'number' ? String(raw) : raw;
    if (typeof text !== 'string' || text === '') this.fail(path, 'must be a port number');
    if (!/^[0-9]{1,5}$/.test(text)) {
      this.fail(path, `named port "${text}" is not supported; use the port number`);
    }
    const n = Number(text);
    if (n > MAX_PORT) this.fail(path, `port ${n} is out of range 0..${MAX_PORT}`);
    return n;
  }

  ports(raw: unknown, path: string, deny: boolean): PortRange[] | undefined {
    if (raw === undefined || raw === null) return undefined;
    const out: PortRange[] = [];
    const rules = this.list(raw, path);
    if (rules.length === 0) return undefined;
    rules.forEach((pr, i) => {
      const p = `${path}[${i}]`;
      if (!isObject(pr)) this.fail(p, 'must be an object with ports');
      for (const k of Object.keys(pr)) {
        if (
          k === 'rules' ||
          k === 'listener' ||
          k === 'originatingTLS' ||
          k === 'terminatingTLS' ||
          k === 'serverNames'
        ) {
          if (deny) this.fail(`${p}.${k}`, 'L7 rules are not allowed in deny rules');
          this.warnings.push(`${p}.${k}: L7 rules are not enforced by cmesh; the port is allowed at L4`);
        } else if (k !== 'ports') this.fail(`${p}.${k}`, 'unknown field');
      }
      const ports = this.list(pr.ports, `${p}.ports`);
      if (ports.length === 0) {
        out.push({ protocol: 'ANY', lo: 0, hi: MAX_PORT });
        return;
      }
      ports.forEach((pp, j) => {
        const q = `${p}.ports[${j}]`;
        if (!isObject(pp)) this.fail(q, 'must be an object with port and protocol');
        for (const k of Object.keys(pp))
          if (k !== 'port' && k !== 'endPort' && k !== 'protocol') this.fail(`${q}.${k}`, 'unknown field');
        const protoRaw = pp.protocol ?? 'ANY';
        if (protoRaw !== 'TCP' && protoRaw !== 'UDP' && protoRaw !== 'SCTP' && protoRaw !== 'ANY') {
          this.fail(`${q}.protocol`, `must be one of TCP, UDP, SCTP, ANY (got ${JSON.stringify(protoRaw)})`);
        }
        const port = pp.port === undefined ? 0 : this.port(pp.port, `${q}.port`);
        let lo = port;
        let hi = port;
        if (port === 0) {
          if (pp.endPort !== undefined && pp.endPort !== 0) this.fail(`${q}.endPort`, 'endPort needs a port');
          lo = 0;
          hi = MAX_PORT;
        } else if (pp.endPort !== undefined && pp.endPort !== 0) {
          const end = pp.endPort;
          if (typeof end !== 'number' || !Number.isInteger(end) || end < port || end > MAX_PORT) {
            this.fail(`${q}.endPort`, `must be a port number in ${port}..${MAX_PORT}`);
          }
          hi = end;
        }
        out.push({ protocol: protoRaw, lo, hi });
      });
    });
    return out;
  }

  peerRule(
    raw: unknown,
    path: string,
    ruleLabel: string,
    section: RuleSection,
    index: number,
    subjectMatchesInit: boolean,
  ): PeerRule {
    const direction: Direction = section.startsWith('ingress') ? 'ingress' : 'egress';
    const deny = section.endsWith('Deny');
    if (!isObject(raw)) this.fail(path, 'must be an object');
    const allowed = direction === 'ingress' ? INGRESS_FIELDS : EGRESS_FIELDS;
    for (const k of Object.keys(raw)) {
      if (UNSUPPORTED_FIELDS.has(k)) this.fail(`${path}.${k}`, `${k} is not supported by cmesh`);
      if (!allowed.has(k) && !IGNORED_FIELDS.has(k)) this.fail(`${path}.${k}`, 'unknown field');
    }
    const pre = direction === 'ingress' ? 'from' : 'to';
    const peers: PeerSelectorSpec[] = [];
    this.list(raw[`${pre}Endpoints`], `${path}.${pre}Endpoints`).forEach((s, i) => {
      peers.push(labelsPeer(this.peerSelector(s, `${path}.${pre}Endpoints[${i}]`, subjectMatchesInit)));
    });
    this.list(raw[`${pre}Entities`], `${path}.${pre}Entities`).forEach((e, i) => {
      if (typeof e !== 'string' || !ENTITY_NAMES.has(e)) {
        this.fail(
          `${path}.${pre}Entities[${i}]`,
          `unknown entity ${JSON.stringify(e)}; one of ${[...ENTITY_NAMES].join(', ')}`,
        );
      }
      peers.push(...entitySelectors(e, this.opts.clusterName));
    });
    this.list(raw[`${pre}CIDR`], `${path}.${pre}CIDR`).forEach((c, i) => {
      const rule = this.cidr(c, `${path}.${pre}CIDR[${i}]`);
      peers.push({ type: 'cidr', key: cidrRuleKey(rule), rule });
    });
    this.list(raw[`${pre}CIDRSet`], `${path}.${pre}CIDRSet`).forEach((c, i) => {
      const rule = this.cidrSet(c, `${path}.${pre}CIDRSet[${i}]`);
      peers.push({ type: 'cidr', key: cidrRuleKey(rule), rule });
    });
    if (raw.icmps !== undefined) this.warnings.push(`${path}.icmps: ICMP rules are ignored (cmesh proxies TCP only)`);
    const ports = this.ports(raw.toPorts, `${path}.toPorts`, deny);
    // An L4-only rule (ports, no peers) applies to every peer, as in Cilium.
    const noL3 = [`${pre}Endpoints`, `${pre}Entities`, `${pre}CIDR`, `${pre}CIDRSet`].every(
      (k) => this.list(raw[k], k).length === 0,
    );
    if (noL3 && ports !== undefined) peers.push({ type: 'wildcard', key: WILDCARD_KEY });
    const unique = [...new Map(peers.map((p) => [p.key, p])).values()];
    return { origin: { policy: this.name, rule: ruleLabel, section, index }, direction, deny, peers: unique, ports };
  }

  rule(raw: unknown, path: string): ParsedRule {
    if (!isObject(raw)) this.fail(path, 'must be an object');
    for (const k of Object.keys(raw)) if (!RULE_FIELDS.has(k)) this.fail(`${path}.${k}`, 'unknown field');
    const hasEp = raw.endpointSelector !== undefined && raw.endpointSelector !== null;
    const hasNode = raw.nodeSelector !== undefined && raw.nodeSelector !== null;
    if (this.namespace !== '' && hasNode)
      this.fail(`${path}.nodeSelector`, 'only allowed in a CiliumClusterwideNetworkPolicy');
    if (hasEp === hasNode) this.fail(path, 'a rule needs exactly one of endpointSelector or nodeSelector');
    const subject = hasEp
      ? this.selector(raw.endpointSelector, `${path}.endpointSelector`)
      : this.selector(raw.nodeSelector, `${path}.nodeSelector`);
    if (hasEp && this.namespace !== '') subject.matchLabels[NAMESPACE_KEY] = this.namespace;
    const matchesInit = selectorHasKey(subject, INIT_KEY);
    const dd = raw.enableDefaultDeny;
    if (dd !== undefined && !isObject(dd))
      this.fail(`${path}.enableDefaultDeny`, 'must be an object with ingress and egress');
    const ddFor = (d: Direction): boolean => {
      const v = isObject(dd) ? dd[d] : undefined;
      if (v !== undefined && typeof v !== 'boolean') this.fail(`${path}.enableDefaultDeny.${d}`, 'must be a boolean');
      return v !== false;
    };
    const entries: PeerRule[] = [];
    const sections: RuleSection[] = ['ingress', 'ingressDeny', 'egress', 'egressDeny'];
    const counts: Record<Direction, number> = { ingress: 0, egress: 0 };
    for (const section of sections) {
      const items = this.list(raw[section], `${path}.${section}`);
      items.forEach((item, i) => {
        entries.push(this.peerRule(item, `${path}.${section}[${i}]`, path, section, i, matchesInit));
      });
      counts[section.startsWith('ingress') ? 'ingress' : 'egress'] += items.length;
    }
    const out: ParsedRule = {
      policy: this.name,
      rule: path,
      subjectKind: hasEp ? 'endpoint' : 'node',
      subject,
      matchSubject: compileNormal(subject),
      enforce: { ingress: counts.ingress > 0 && ddFor('ingress'), egress: counts.egress > 0 && ddFor('egress') },
      entries,
    };
    if (typeof raw.description === 'string') out.description = raw.description;
    return out;
  }

  parse(): ParsedPolicy {
    const rules: ParsedRule[] = [];
    const { spec, specs } = this.policy;
    if (spec !== undefined) rules.push(this.rule(spec, 'spec'));
    this.list(specs, 'specs').forEach((r, i) => rules.push(this.rule(r, `specs[${i}]`)));
    if (rules.length === 0) this.fail('', 'a policy needs spec or a non-empty specs');
    return {
      name: this.name,
      kind: this.policy.kind,
      namespace: this.namespace,
      rules,
      warnings: this.warnings,
    };
  }
}

/** Parses and validates one policy object; throws InvalidPolicyError naming the first bad field. */
export function parsePolicy(policy: Policy, opts: ParseOptions): ParsedPolicy {
  const name = policyName(policy);
  const kind: string = policy.kind;
  if (kind !== 'CiliumNetworkPolicy' && kind !== 'CiliumClusterwideNetworkPolicy') {
    throw new InvalidPolicyError(name, 'kind', `unsupported kind ${kind}`);
  }
  if (policy.kind === 'CiliumNetworkPolicy' && !policy.metadata.namespace) {
    throw new InvalidPolicyError(name, 'metadata.namespace', 'a CiliumNetworkPolicy needs a namespace');
  }
  return new Parser(policy, name, opts).parse();
}
