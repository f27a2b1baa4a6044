/**
 * CIDR peers. As in Cilium, a CIDR in a policy becomes a local CIDR identity (labels `cidr:<prefix>` and
 * `reserved:world`) and an address outside the cluster resolves to the identity of the longest policy prefix that
 * contains it, or to world. CIDR selectors then select identities like label selectors do, so the per-endpoint
 * maps stay keyed by identity. The prefixes themselves (parsing, containment) are wire/ip.ts's.
 */
import { rangeCovers, type IpRange } from '../../wire/index.js';

/** A policy CIDR with its exceptions (fromCIDRSet/toCIDRSet's `except`). */
export interface CidrRule {
  cidr: IpRange;
  except: IpRange[];
}

/** Canonical text of a CIDR rule, the selector cache's key. */
export function cidrRuleKey(r: CidrRule): string {
  return r.except.length === 0
    ? `cidr ${r.cidr.cidr}`
    : `cidr ${r.cidr.cidr} except ${r.except.map((e) => e.cidr).join(',')}`;
}

/** Whether the rule selects a peer whose identity stands for prefix `p`. */
export function cidrRuleSelects(r: CidrRule, p: IpRange): boolean {
  return rangeCovers(r.cidr, p) && !r.except.some((e) => rangeCovers(e, p));
}
