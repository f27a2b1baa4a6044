/**
 * CIDR peers. As in Cilium, a CIDR in a policy becomes a local CIDR identity (labels `cidr:<prefix>` and
 * `reserved:world`) and an address outside the cluster resolves to the identity of the longest policy prefix that
 * contains it, or to world. CIDR selectors then select identities like label selectors do, so the per-endpoint
 * maps stay keyed by identity.
 */
import ipaddr from 'ipaddr.js';

export interface Prefix {
  family: 4 | 6;
  /** The network address as an integer, host bits cleared. */
  addr: bigint;
  len: number;
  /** Canonical text: `10.0.0.0/8`. */
  text: string;
}

export class CidrError extends Error {
  override name = 'CidrError';
}

function toBigInt(bytes: number[]): bigint {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

function bitsOf(family: 4 | 6): number {
  return family === 4 ? 32 : 128;
}

function mask(addr: bigint, len: number, family: 4 | 6): bigint {
  const host = BigInt(bitsOf(family) - len);
  return (addr >> host) << host;
}

/** Parses an address; undefined when it is not one. */
export function parseAddress(ip: string): { family: 4 | 6; addr: bigint } | undefined {
  if (!ipaddr.isValid(ip)) return undefined;
  let a = ipaddr.parse(ip);
  if (a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress()) a = (a as ipaddr.IPv6).toIPv4Address();
  return { family: a.kind() === 'ipv4' ? 4 : 6, addr: toBigInt(a.toByteArray()) };
}

/** Parses `10.1.2.0/24` (host bits are cleared, as Cilium does) or a bare address (a /32 or /128). */
export function parsePrefix(text: string): Prefix {
  const slash = text.indexOf('/');
  const ipText = slash < 0 ? text : text.slice(0, slash);
  const a = parseAddress(ipText);
  if (!a) throw new CidrError(`"${text}" is not a CIDR such as 10.0.0.0/8`);
  const max = bitsOf(a.family);
  const lenText = slash < 0 ? String(max) : text.slice(slash + 1);
  const len = /^[0-9]{1,3}$/.test(lenText) ? Number(lenText) : NaN;
  if (!(len >= 0 && len <= max)) throw new CidrError(`"${text}": prefix length must be 0..${max}`);
  const addr = mask(a.addr, len, a.family);
  const bytes: number[] = [];
  for (let i = max / 8 - 1; i >= 0; i--) bytes.push(Number((addr >> BigInt(i * 8)) & 0xffn));
  return { family: a.family, addr, len, text: `${ipaddr.fromByteArray(bytes).toString()}/${len}` };
}

/** Whether `inner` lies within `outer` (equal counts). */
export function prefixContains(outer: Prefix, inner: Prefix): boolean {
  return (
    outer.family === inner.family && inner.len >= outer.len && mask(inner.addr, outer.len, outer.family) === outer.addr
  );
}

export function addressInPrefix(p: Prefix, a: { family: 4 | 6; addr: bigint }): boolean {
  return p.family === a.family && mask(a.addr, p.len, p.family) === p.addr;
}

/** A policy CIDR with its exceptions (fromCIDRSet/toCIDRSet's `except`). */
export interface CidrRule {
  cidr: Prefix;
  except: Prefix[];
}

/** Canonical text of a CIDR rule, the selector cache's key. */
export function cidrRuleKey(r: CidrRule): string {
  return r.except.length === 0
    ? `cidr ${r.cidr.text}`
    : `cidr ${r.cidr.text} except ${r.except.map((e) => e.text).join(',')}`;
}

/** Whether the rule selects a peer whose identity stands for prefix `p`. */
export function cidrRuleSelects(r: CidrRule, p: Prefix): boolean {
  return prefixContains(r.cidr, p) && !r.except.some((e) => prefixContains(e, p));
}
