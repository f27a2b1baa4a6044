/**
 * Selector -> the identities it selects, kept current one identity at a time: an identity that arrives, changes
 * or leaves is tested against each selector once, and only the selectors whose membership changed are reported.
 * This is what keeps a remote cluster's 10k identities from recomputing every endpoint's policy.
 */
import type { LabelMatcher } from '../../k8s/label-selector.js';
import { ReservedIdentity } from '../../wire/index.js';
import type { IpRange } from '../../wire/index.js';
import { cidrRuleSelects, type CidrRule } from './cidr.js';
import type { PeerSelectorSpec } from './parse-policy.js';
import { compileNormal, labelRecord, type LabelRecord } from './selector.js';

export interface IdentityEntry {
  id: number;
  /** `source:key=value`. */
  labels: readonly string[];
  record: LabelRecord;
  /** Set for CIDR identities: the prefix the identity stands for. */
  prefix?: IpRange;
}

export interface SelectionChange {
  selector: string;
  id: number;
  added: boolean;
}

interface CachedSelector {
  spec: Exclude<PeerSelectorSpec, { type: 'wildcard' }>;
  test: (e: IdentityEntry) => boolean;
  ids: Set<number>;
  refs: number;
}

const WORLD_IDS: Record<4 | 6, readonly number[]> = {
  4: [ReservedIdentity.World, ReservedIdentity.WorldIpv4],
  6: [ReservedIdentity.World, ReservedIdentity.WorldIpv6],
};

function cidrTest(rule: CidrRule): (e: IdentityEntry) => boolean {
  // A /0 also selects the world identities: addresses outside every policy prefix resolve to them.
  const world = rule.cidr.prefix === 0 ? new Set(WORLD_IDS[rule.cidr.family]) : undefined;
  return (e) => (e.prefix ? cidrRuleSelects(rule, e.prefix) : (world?.has(e.id) ?? false));
}

function labelTest(m: LabelMatcher): (e: IdentityEntry) => boolean {
  return (e) => m(e.record);
}

export function identityEntry(id: number, labels: readonly string[], prefix?: IpRange): IdentityEntry {
  const e: IdentityEntry = { id, labels, record: labelRecord(labels) };
  if (prefix) e.prefix = prefix;
  return e;
}

export class SelectorCache {
  private readonly identities = new Map<number, IdentityEntry>();
  private readonly selectors = new Map<string, CachedSelector>();
  /** Selector tests run so far (for stats and the bench). */
  evaluations = 0;

  /** Takes a reference on a selector, evaluating it against every identity the first time. */
  acquire(spec: Exclude<PeerSelectorSpec, { type: 'wildcard' }>): ReadonlySet<number> {
    let c = this.selectors.get(spec.key);
    if (!c) {
      const test = spec.type === 'cidr' ? cidrTest(spec.rule) : labelTest(compileNormal(spec.selector));
      c = { spec, test, ids: new Set(), refs: 0 };
      for (const e of this.identities.values()) {
        this.evaluations++;
        if (test(e)) c.ids.add(e.id);
      }
      this.selectors.set(spec.key, c);
    }
    c.refs++;
    return c.ids;
  }

  release(key: string): void {
    const c = this.selectors.get(key);
    if (c && --c.refs <= 0) this.selectors.delete(key);
  }

  /** The identities a selector selects now (empty when it is not cached). */
  selected(key: string): ReadonlySet<number> {
    return this.selectors.get(key)?.ids ?? new Set();
  }

  upsertIdentity(e: IdentityEntry): SelectionChange[] {
    this.identities.set(e.id, e);
    const out: SelectionChange[] = [];
    for (const [key, c] of this.selectors) {
      this.evaluations++;
      const now = c.test(e);
      if (now === c.ids.has(e.id)) continue;
      if (now) c.ids.add(e.id);
      else c.ids.delete(e.id);
      out.push({ selector: key, id: e.id, added: now });
    }
    return out;
  }

  deleteIdentity(id: number): SelectionChange[] {
    if (!this.identities.delete(id)) return [];
    const out: SelectionChange[] = [];
    for (const [key, c] of this.selectors) if (c.ids.delete(id)) out.push({ selector: key, id, added: false });
    return out;
  }

  identity(id: number): IdentityEntry | undefined {
    return this.identities.get(id);
  }

  identityEntries(): IterableIterator<IdentityEntry> {
    return this.identities.values();
  }

  /** Re-evaluates every selector against every identity (the full-recompute baseline). */
  reevaluateAll(): void {
    for (const c of this.selectors.values()) {
      c.ids.clear();
      for (const e of this.identities.values()) {
        this.evaluations++;
        if (c.test(e)) c.ids.add(e.id);
      }
    }
  }

  get size(): number {
    return this.selectors.size;
  }

  get identityCount(): number {
    return this.identities.size;
  }
}
