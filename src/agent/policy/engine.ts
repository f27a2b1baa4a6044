/**
 * The policy engine of one cluster's agent: the cluster's policies, every identity it knows (reserved, local,
 * remote, and the CIDR identities its policies need) and its local endpoints. Each endpoint has a map per
 * direction from peer identity to the entries that allow or deny it on some ports, as Cilium's policy map; a
 * verdict is a lookup in it. The maps change incrementally: an identity goes through the selector cache and only
 * the entries of rules whose selectors changed are touched; a policy or endpoint change rebuilds only the
 * endpoints it concerns.
 */
import type { CiliumClusterwideNetworkPolicy, CiliumNetworkPolicy } from '../../k8s/types.js';
import { logger } from '../../observe/logger.js';
import {
  formatLabel,
  IDENTITY_SCOPE_LOCAL,
  LabelSource,
  NAMESPACE_LABEL,
  parseAddress,
  rangeHasAddress,
  RESERVED_IDENTITY_NAMES,
  ReservedIdentity,
  type IpRange,
  type Label,
} from '../../wire/index.js';
import { parsePolicy, policyName, type ParsedPolicy, type ParsedRule, type PeerRule } from './parse-policy.js';
import { identityEntry, SelectorCache, type SelectionChange } from './selector-cache.js';
import { labelRecord, type LabelRecord } from './selector.js';
import {
  InvalidPolicyError,
  UnknownEndpointError,
  type Direction,
  type L4Protocol,
  type LocalEndpoint,
  type PortProtocol,
  type RuleOrigin,
  type Verdict,
  type VerdictQuery,
} from './types.js';

const log = logger('policy');

/** Identity 0 in a map: the entry applies to every peer (Cilium's wildcard key). */
export const ANY_IDENTITY = 0;
const WORLD_IDENTITIES = new Set<number>([
  ReservedIdentity.World,
  ReservedIdentity.WorldIpv4,
  ReservedIdentity.WorldIpv6,
  ReservedIdentity.Unknown,
]);
const DIRECTIONS: readonly Direction[] = ['ingress', 'egress'];

export interface PolicyEngineOptions {
  clusterName: string;
  /** Cilium's --policy-default-local-cluster: peer selectors without a cluster label select only this cluster. */
  defaultLocalCluster?: boolean;
}

interface MapEntry {
  rule: PeerRule;
  selector: string;
  protocol: PortProtocol;
  lo: number;
  hi: number;
}

type DirMap = Map<number, MapEntry[]>;

interface EndpointState {
  ep: LocalEndpoint;
  record: LabelRecord;
  rules: Set<ParsedRule>;
  maps: Record<Direction, DirMap>;
  enforced: Record<Direction, boolean>;
  selectedBy: string[];
}

/** One map entry as `policy get` / tests show it. */
export interface PolicyMapEntry {
  direction: Direction;
  identity: number;
  protocol: PortProtocol;
  /** `80`, `8000-8080`, or `all`. */
  ports: string;
  deny: boolean;
  origin: RuleOrigin;
}

export interface EndpointPolicyView {
  endpoint: string;
  identity: number;
  enforced: Record<Direction, boolean>;
  selectedBy: string[];
  entries: PolicyMapEntry[];
}

export interface PolicyStatus {
  name: string;
  rules: number;
  /** Local endpoints the policy selects. */
  endpoints: number;
  warnings: string[];
}

export interface UpsertResult {
  applied: boolean;
  error?: InvalidPolicyError;
  warnings: string[];
}

export interface EngineStats {
  policies: number;
  endpoints: number;
  identities: number;
  selectors: number;
  /** Selector tests run since creation. */
  selectorEvaluations: number;
  /** Whole-endpoint map rebuilds since creation. */
  endpointRebuilds: number;
  /** Map entries added or removed incrementally since creation. */
  incrementalUpdates: number;
}

type Policy = CiliumNetworkPolicy | CiliumClusterwideNetworkPolicy;

function portText(lo: number, hi: number): string {
  if (lo === 0 && hi === 65535) return 'all';
  return lo === hi ? String(lo) : `${lo}-${hi}`;
}

export class PolicyEngine {
  readonly clusterName: string;
  readonly defaultLocalCluster: boolean;
  private readonly cache = new SelectorCache();
  private readonly policyMap = new Map<string, ParsedPolicy>();
  private readonly errors = new Map<string, InvalidPolicyError>();
  private readonly endpoints = new Map<string, EndpointState>();
  private readonly byIp = new Map<string, string>();
  private readonly subjects = new Map<ParsedRule, Set<EndpointState>>();
  private readonly owner = new Map<PeerRule, ParsedRule>();
  private readonly selectorUsers = new Map<string, Set<PeerRule>>();
  /** Prefix text -> its CIDR identity and how many policy references hold it. */
  private readonly cidrIds = new Map<string, { id: number; range: IpRange; refs: number }>();
  private nextCidrId = 1;
  private endpointRebuilds = 0;
  private incrementalUpdates = 0;

  constructor(opts: PolicyEngineOptions) {
    this.clusterName = opts.clusterName;
    this.defaultLocalCluster = opts.defaultLocalCluster ?? true;
    for (const [id, name] of RESERVED_IDENTITY_NAMES) {
      if (id === ReservedIdentity.Unknown) continue;
      this.cache.upsertIdentity(identityEntry(id, [`${LabelSource.Reserved}:${name}`]));
    }
  }

  // ---- policies ----

  /** Applies a policy (replacing its previous version). An invalid one is skipped, keeping the previous version. */
  upsertPolicy(policy: Policy): UpsertResult {
    const name = policyName(policy);
    let parsed: ParsedPolicy;
    try {
      parsed = parsePolicy(policy, { clusterName: this.clusterName, defaultLocalCluster: this.defaultLocalCluster });
    } catch (err) {
      if (!(err instanceof InvalidPolicyError)) throw err;
      this.errors.set(name, err);
      log.warn({ policy: name, err: err.message }, 'skipping invalid policy');
      return { applied: false, error: err, warnings: [] };
    }
    this.errors.delete(name);
    for (const w of parsed.warnings) log.warn({ policy: name }, w);
    this.replace(name, parsed);
    return { applied: true, warnings: parsed.warnings };
  }

  deletePolicy(kind: Policy['kind'], namespace: string, name: string): boolean {
    const key = policyName({ kind, metadata: { name, namespace } });
    this.errors.delete(key);
    if (!this.policyMap.has(key)) return false;
    this.replace(key, undefined);
    return true;
  }

  policies(): PolicyStatus[] {
    return [...this.policyMap.values()]
      .map((p) => {
        const eps = new Set<EndpointState>();
        for (const r of p.rules) for (const e of this.subjects.get(r) ?? []) eps.add(e);
        return { name: p.name, rules: p.rules.length, endpoints: eps.size, warnings: p.warnings };
      })
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Policies rejected as invalid, with the reason. */
  policyErrors(): { name: string; error: string }[] {
    return [...this.errors.entries()]
      .map(([name, e]) => ({ name, error: e.message }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  private replace(name: string, next: ParsedPolicy | undefined): void {
    const old = this.policyMap.get(name);
    const dirty = new Set<EndpointState>();
    if (next) {
      this.acquireCidrs(next);
      for (const rule of next.rules) this.addRule(rule, dirty);
      this.policyMap.set(name, next);
    } else {
      this.policyMap.delete(name);
    }
    if (old) {
      for (const rule of old.rules) this.removeRule(rule, dirty);
      this.releaseCidrs(old);
    }
    for (const st of dirty) this.rebuild(st);
  }

  private addRule(rule: ParsedRule, dirty: Set<EndpointState>): void {
    const subj = new Set<EndpointState>();
    for (const st of this.endpoints.values()) {
      if (this.ruleSelects(rule, st)) {
        subj.add(st);
        st.rules.add(rule);
        dirty.add(st);
      }
    }
    this.subjects.set(rule, subj);
    for (const pr of rule.entries) {
      this.owner.set(pr, rule);
      for (const peer of pr.peers) {
        if (peer.type === 'wildcard') continue;
        this.cache.acquire(peer);
        let users = this.selectorUsers.get(peer.key);
        if (!users) this.selectorUsers.set(peer.key, (users = new Set()));
        users.add(pr);
      }
    }
  }

  private removeRule(rule: ParsedRule, dirty: Set<EndpointState>): void {
    for (const st of this.subjects.get(rule) ?? []) {
      st.rules.delete(rule);
      dirty.add(st);
    }
    this.subjects.delete(rule);
    for (const pr of rule.entries) {
      this.owner.delete(pr);
      for (const peer of pr.peers) {
        if (peer.type === 'wildcard') continue;
        const users = this.selectorUsers.get(peer.key);
        users?.delete(pr);
        if (users?.size === 0) this.selectorUsers.delete(peer.key);
        this.cache.release(peer.key);
      }
    }
  }

  private ruleSelects(rule: ParsedRule, st: EndpointState): boolean {
    if ((rule.subjectKind === 'node') !== (st.ep.host ?? false)) return false;
    return rule.matchSubject(st.record);
  }

  // ---- CIDR identities ----

  private *policyPrefixes(p: ParsedPolicy): Generator<IpRange> {
    for (const r of p.rules) {
      for (const pr of r.entries) {
        for (const peer of pr.peers) {
          if (peer.type !== 'cidr') continue;
          yield peer.rule.cidr;
          yield* peer.rule.except;
        }
      }
    }
  }

  private acquireCidrs(p: ParsedPolicy): void {
    for (const range of this.policyPrefixes(p)) {
      const c = this.cidrIds.get(range.cidr);
      if (c) {
        c.refs++;
        continue;
      }
      const id = (IDENTITY_SCOPE_LOCAL | this.nextCidrId++) >>> 0;
      this.cidrIds.set(range.cidr, { id, range, refs: 1 });
      const labels = [`${LabelSource.Cidr}:${range.cidr}`, `${LabelSource.Reserved}:world`];
      this.applyChanges(this.cache.upsertIdentity(identityEntry(id, labels, range)));
    }
  }

  private releaseCidrs(p: ParsedPolicy): void {
    for (const range of this.policyPrefixes(p)) {
      const c = this.cidrIds.get(range.cidr);
      if (!c || --c.refs > 0) continue;
      this.cidrIds.delete(range.cidr);
      this.applyChanges(this.cache.deleteIdentity(c.id));
    }
  }

  /**
   * The identity a peer counts as: its own, or for a world peer with a known IP, the CIDR identity of the longest
   * policy prefix containing the IP (as Cilium's ipcache resolves addresses outside the cluster).
   */
  resolvePeer(identity: number, ip?: string): number {
    if (ip === undefined || !WORLD_IDENTITIES.has(identity) || this.cidrIds.size === 0)
      return identity || ReservedIdentity.World;
    const a = parseAddress(ip);
    if (!a) return identity || ReservedIdentity.World;
    let best: { id: number; len: number } | undefined;
    for (const c of this.cidrIds.values()) {
      if (rangeHasAddress(c.range, a) && (!best || c.range.prefix > best.len)) best = { id: c.id, len: c.range.prefix };
    }
    return best?.id ?? (identity || ReservedIdentity.World);
  }

  // ---- identities ----

  /** Adds or changes an identity (labels as `source:key=value` or wire Labels). */
  upsertIdentity(id: number, labels: readonly (Label | string)[]): void {
    const text = labels.map((l) => (typeof l === 'string' ? l : formatLabel(l)));
    this.applyChanges(this.cache.upsertIdentity(identityEntry(id, text)));
  }

  deleteIdentity(id: number): void {
    if (RESERVED_IDENTITY_NAMES.has(id)) return;
    this.applyChanges(this.cache.deleteIdentity(id));
  }

  identityLabels(id: number): readonly string[] | undefined {
    return this.cache.identity(id)?.labels;
  }

  private applyChanges(changes: readonly SelectionChange[]): void {
    for (const ch of changes) {
      for (const pr of this.selectorUsers.get(ch.selector) ?? []) {
        const rule = this.owner.get(pr);
        if (!rule) continue;
        for (const st of this.subjects.get(rule) ?? []) {
          const map = st.maps[pr.direction];
          if (ch.added) this.addEntries(map, pr, ch.selector, ch.id);
          else this.removeEntries(map, pr, ch.selector, ch.id);
          this.incrementalUpdates++;
        }
      }
    }
  }

  private addEntries(map: DirMap, pr: PeerRule, selector: string, id: number): void {
    let list = map.get(id);
    if (!list) map.set(id, (list = []));
    for (const p of pr.ports ?? [{ protocol: 'ANY' as const, lo: 0, hi: 65535 }]) {
      list.push({ rule: pr, selector, protocol: p.protocol, lo: p.lo, hi: p.hi });
    }
  }

  private removeEntries(map: DirMap, pr: PeerRule, selector: string, id: number): void {
    const list = map.get(id);
    if (!list) return;
    const kept = list.filter((e) => e.rule !== pr || e.selector !== selector);
    if (kept.length === 0) map.delete(id);
    else map.set(id, kept);
  }

  // ---- endpoints ----

  upsertEndpoint(ep: LocalEndpoint): void {
    const prev = this.endpoints.get(ep.id);
    for (const ip of prev?.ep.ips ?? []) if (this.byIp.get(ip) === ep.id) this.byIp.delete(ip);
    if (prev) for (const r of prev.rules) this.subjects.get(r)?.delete(prev);
    const labels = [...ep.labels];
    const record = labelRecord(labels);
    const nsKey = `${LabelSource.K8s}:${NAMESPACE_LABEL}`;
    // An endpoint always lives in its namespace, whether or not its identity labels say so.
    const withNs =
      Object.hasOwn(record, nsKey) || ep.namespace === ''
        ? record
        : labelRecord([...labels, `${nsKey}=${ep.namespace}`]);
    const st: EndpointState = {
      ep,
      record: withNs,
      rules: new Set(),
      maps: { ingress: new Map(), egress: new Map() },
      enforced: { ingress: false, egress: false },
      selectedBy: [],
    };
    this.endpoints.set(ep.id, st);
    for (const ip of ep.ips ?? []) this.byIp.set(ip, ep.id);
    for (const p of this.policyMap.values()) {
      for (const r of p.rules) {
        if (!this.ruleSelects(r, st)) continue;
        st.rules.add(r);
        this.subjects.get(r)?.add(st);
      }
    }
    this.rebuild(st);
  }

  deleteEndpoint(id: string): boolean {
    const st = this.endpoints.get(id);
    if (!st) return false;
    for (const r of st.rules) this.subjects.get(r)?.delete(st);
    for (const ip of st.ep.ips ?? []) if (this.byIp.get(ip) === id) this.byIp.delete(ip);
    this.endpoints.delete(id);
    return true;
  }

  endpoint(id: string): LocalEndpoint | undefined {
    return this.endpoints.get(id)?.ep;
  }

  endpointByIp(ip: string): LocalEndpoint | undefined {
    const id = this.byIp.get(ip);
    return id === undefined ? undefined : this.endpoints.get(id)?.ep;
  }

  endpointIds(): string[] {
    return [...this.endpoints.keys()].sort();
  }

  private rebuild(st: EndpointState): void {
    this.endpointRebuilds++;
    st.maps = { ingress: new Map(), egress: new Map() };
    st.enforced = { ingress: false, egress: false };
    const names = new Set<string>();
    for (const rule of st.rules) {
      names.add(rule.policy);
      for (const d of DIRECTIONS) if (rule.enforce[d]) st.enforced[d] = true;
      for (const pr of rule.entries) {
        const map = st.maps[pr.direction];
        for (const peer of pr.peers) {
          if (peer.type === 'wildcard') this.addEntries(map, pr, peer.key, ANY_IDENTITY);
          else for (const id of this.cache.selected(peer.key)) this.addEntries(map, pr, peer.key, id);
        }
      }
    }
    st.selectedBy = [...names].sort();
  }

  /** Rebuilds everything from scratch: every selector against every identity, every endpoint's maps. */
  recomputeAll(): void {
    this.cache.reevaluateAll();
    for (const st of this.endpoints.values()) this.rebuild(st);
  }

  // ---- verdicts ----

  verdict(q: VerdictQuery): Verdict {
    const st = this.endpoints.get(q.endpoint);
    if (!st) throw new UnknownEndpointError(`no local endpoint ${q.endpoint}`);
    const peer = this.resolvePeer(q.peerIdentity, q.peerIp);
    if (!st.enforced[q.direction]) {
      return { allowed: true, peerIdentity: peer, reason: { kind: 'no-policy', selectedBy: st.selectedBy } };
    }
    const map = st.maps[q.direction];
    let allow: MapEntry | undefined;
    for (const list of [map.get(peer), peer === ANY_IDENTITY ? undefined : map.get(ANY_IDENTITY)]) {
      if (!list) continue;
      for (const e of list) {
        if (q.port < e.lo || q.port > e.hi || (e.protocol !== 'ANY' && e.protocol !== q.protocol)) continue;
        if (e.rule.deny) {
          return {
            allowed: false,
            peerIdentity: peer,
            reason: { kind: 'deny', origin: e.rule.origin, selectedBy: st.selectedBy },
          };
        }
        allow ??= e;
      }
    }
    if (allow) {
      return {
        allowed: true,
        peerIdentity: peer,
        reason: { kind: 'allow', origin: allow.rule.origin, selectedBy: st.selectedBy },
      };
    }
    return { allowed: false, peerIdentity: peer, reason: { kind: 'default-deny', selectedBy: st.selectedBy } };
  }

  /** Convenience for callers with a protocol string from a service table (`TCP`, `UDP`, `SCTP`). */
  static protocolOf(p: string): L4Protocol | undefined {
    return p === 'TCP' || p === 'UDP' || p === 'SCTP' ? p : undefined;
  }

  // ---- views ----

  endpointPolicy(id: string): EndpointPolicyView {
    const st = this.endpoints.get(id);
    if (!st) throw new UnknownEndpointError(`no local endpoint ${id}`);
    const entries: PolicyMapEntry[] = [];
    for (const d of DIRECTIONS) {
      for (const [identity, list] of st.maps[d]) {
        for (const e of list) {
          entries.push({
            direction: d,
            identity,
            protocol: e.protocol,
            ports: portText(e.lo, e.hi),
            deny: e.rule.deny,
            origin: e.rule.origin,
          });
        }
      }
    }
    const key = (e: PolicyMapEntry): string =>
      `${e.direction}|${String(e.identity).padStart(12, '0')}|${e.protocol}|${e.ports}|${e.deny}|${e.origin.policy}|${e.origin.rule}|${e.origin.section}|${e.origin.index}`;
    entries.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    const unique = entries.filter((e, i) => i === 0 || key(entries[i - 1]!) !== key(e));
    return {
      endpoint: id,
      identity: st.ep.identity,
      enforced: { ...st.enforced },
      selectedBy: st.selectedBy,
      entries: unique,
    };
  }

  stats(): EngineStats {
    return {
      policies: this.policyMap.size,
      endpoints: this.endpoints.size,
      identities: this.cache.identityCount,
      selectors: this.cache.size,
      selectorEvaluations: this.cache.evaluations,
      endpointRebuilds: this.endpointRebuilds,
      incrementalUpdates: this.incrementalUpdates,
    };
  }
}
