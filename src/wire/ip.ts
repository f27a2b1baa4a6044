/**
 * The one home of IP addresses and CIDRs. First as Go's net.IP / net.IPNet put them on the wire: addresses in Go's
 * canonical text form (dotted IPv4, RFC 5952 IPv6, IPv4-mapped IPv6 printed as IPv4), CIDR masks as base64 of the
 * raw mask bytes (4 bytes for IPv4, 16 for IPv6). Then as address ranges (with ipaddr.js underneath): parsing
 * CIDRs strictly (allocators, cluster layout) or leniently (policy prefixes), containment, overlap and carving.
 */
import ipaddr from 'ipaddr.js';
import { MalformedValueError } from './errors.js';

/** A CIDR as Cilium's node JSON writes it: `{"IP":"10.244.1.0","Mask":"////AA=="}`. */
export interface WireCidr {
  IP: string;
  Mask: string;
}

export type IpFamily = 4 | 6;

const IPV4_BYTES = 4;
const IPV6_BYTES = 16;
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Parses a dotted IPv4 address the way Go does (no leading zeros); undefined when invalid. */
function parseIpv4Octets(s: string): number[] | undefined {
  const out: number[] = [];
  const n = s.length;
  let i = 0;
  for (let part = 0; part < 4; part++) {
    if (part > 0) {
      if (i >= n || s.charCodeAt(i) !== 46) return undefined;
      i++;
    }
    const start = i;
    let v = 0;
    while (i < n && i - start < 4) {
      const c = s.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      v = v * 10 + c;
      i++;
    }
    const len = i - start;
    if (len === 0 || len > 3 || v > 255 || (len > 1 && s.charCodeAt(start) === 48)) return undefined;
    out.push(v);
  }
  return i === n ? out : undefined;
}

const IPV6_GROUPS = 8;

/** Hex digit value of a char code, or -1. */
function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Parses IPv6 text into 8 groups like Go's net.ParseIP: at most one `::`, 1..4 hex digits per group, an
 * optional dotted IPv4 tail, no zone. Hand-written because ipaddr.js costs several µs per address, which
 * matters at 250k ipcache entries, and it misreads `::1.2.3.4` as IPv4-mapped.
 */
function parseIpv6Groups(s: string): number[] | undefined {
  const groups: number[] = [];
  let ellipsis = -1;
  let i = 0;
  const n = s.length;
  if (n >= 2 && s.charCodeAt(0) === 58 && s.charCodeAt(1) === 58) {
    ellipsis = 0;
    i = 2;
    if (i === n) return new Array<number>(IPV6_GROUPS).fill(0);
  }
  while (i < n) {
    let v = 0;
    let digits = 0;
    const start = i;
    while (i < n && digits < 5) {
      const h = hexValue(s.charCodeAt(i));
      if (h < 0) break;
      v = v * 16 + h;
      digits++;
      i++;
    }
    if (digits === 0 || digits > 4) {
      // A dotted IPv4 tail takes the last two groups.
      if (digits === 0 || i >= n || s.charCodeAt(i) !== 46) return undefined;
    }
    if (i < n && s.charCodeAt(i) === 46) {
      if (groups.length > IPV6_GROUPS - 2) return undefined;
      const v4 = parseIpv4Octets(s.slice(start));
      if (!v4) return undefined;
      groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      i = n;
      break;
    }
    groups.push(v);
    if (i === n) break;
    if (s.charCodeAt(i) !== 58) return undefined;
    i++;
    if (i < n && s.charCodeAt(i) === 58) {
      if (ellipsis >= 0) return undefined;
      ellipsis = groups.length;
      i++;
      if (i === n) break;
    } else if (i === n) {
      return undefined; // trailing single colon
    }
    if (groups.length > IPV6_GROUPS) return undefined;
  }
  if (ellipsis < 0) return groups.length === IPV6_GROUPS ? groups : undefined;
  if (groups.length >= IPV6_GROUPS) return undefined;
  const zeros = new Array<number>(IPV6_GROUPS - groups.length).fill(0);
  groups.splice(ellipsis, 0, ...zeros);
  return groups;
}

function isV4Mapped(g: readonly number[]): boolean {
  return g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff;
}

/** Go's net.IP.String for 16-byte addresses: IPv4-mapped as dotted IPv4, else RFC 5952. */
function formatIpv6Groups(g: readonly number[]): string {
  if (isV4Mapped(g)) return `${g[6]! >> 8}.${g[6]! & 0xff}.${g[7]! >> 8}.${g[7]! & 0xff}`;
  // Longest run of zero groups (the first on ties); a single zero group is not compressed.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < IPV6_GROUPS;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < IPV6_GROUPS && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  let out = '';
  for (let i = 0; i < IPV6_GROUPS; i++) {
    if (i === bestStart) {
      out += '::';
      i += bestLen - 1;
      continue;
    }
    if (out !== '' && !out.endsWith(':')) out += ':';
    out += g[i]!.toString(16);
  }
  return out;
}

/** The address in Go's canonical text form, or undefined when `s` is not an IP address Go would accept. */
export function canonicalIp(s: string): string | undefined {
  if (!s.includes(':')) return parseIpv4Octets(s) ? s : undefined;
  const g = parseIpv6Groups(s);
  return g ? formatIpv6Groups(g) : undefined;
}

export function isCanonicalIp(s: string): boolean {
  return canonicalIp(s) === s;
}

/** 4 or 6 for a valid address, undefined otherwise (IPv4-mapped IPv6 counts as 4, as in Go). */
export function ipFamily(s: string): IpFamily | undefined {
  if (!s.includes(':')) return parseIpv4Octets(s) ? 4 : undefined;
  const g = parseIpv6Groups(s);
  if (!g) return undefined;
  return isV4Mapped(g) ? 4 : 6;
}

function ipBytes(s: string): number[] | undefined {
  if (!s.includes(':')) return parseIpv4Octets(s);
  const g = parseIpv6Groups(s);
  if (!g) return undefined;
  if (isV4Mapped(g)) return [g[6]! >> 8, g[6]! & 0xff, g[7]! >> 8, g[7]! & 0xff];
  return g.flatMap((x) => [x >> 8, x & 0xff]);
}

function bytesToIp(bytes: readonly number[]): string {
  if (bytes.length === IPV4_BYTES) return bytes.join('.');
  const g: number[] = [];
  for (let i = 0; i < IPV6_BYTES; i += 2) g.push((bytes[i]! << 8) | bytes[i + 1]!);
  return formatIpv6Groups(g);
}

/** Raw mask bytes for a prefix length (`24` of 32 bits -> ff ff ff 00). */
export function prefixLengthToMaskBytes(prefixLen: number, family: IpFamily): Uint8Array {
  const size = family === 4 ? IPV4_BYTES : IPV6_BYTES;
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) {
    const bits = Math.max(0, Math.min(8, prefixLen - i * 8));
    out[i] = (0xff << (8 - bits)) & 0xff;
  }
  return out;
}

export function prefixLengthToMask(prefixLen: number, family: IpFamily): string {
  return Buffer.from(prefixLengthToMaskBytes(prefixLen, family)).toString('base64');
}

/**
 * The prefix length of a base64 mask, checking it is strict base64, has the length of `family`'s
 * addresses and is a contiguous run of ones.
 */
export function maskToPrefixLength(mask: string, family: IpFamily, what = 'mask'): number {
  if (!STRICT_BASE64.test(mask)) {
    throw new MalformedValueError(`${what} ${JSON.stringify(mask)} is not base64`);
  }
  const bytes = Buffer.from(mask, 'base64');
  const expected = family === 4 ? IPV4_BYTES : IPV6_BYTES;
  if (bytes.length !== expected) {
    throw new MalformedValueError(
      `${what} ${JSON.stringify(mask)} has ${bytes.length} bytes, expected ${expected} for an IPv${family} address`,
    );
  }
  let ones = 0;
  let seenZero = false;
  for (const b of bytes) {
    for (let bit = 7; bit >= 0; bit--) {
      if ((b >> bit) & 1) {
        if (seenZero) throw new MalformedValueError(`${what} ${JSON.stringify(mask)} is not a contiguous prefix mask`);
        ones++;
      } else {
        seenZero = true;
      }
    }
  }
  return ones;
}

/** Parses `ip/len` into the wire form, masking host bits as Go's net.ParseCIDR does. */
export function cidrToWire(cidr: string): WireCidr {
  const slash = cidr.indexOf('/');
  const bytes = slash > 0 ? ipBytes(cidr.slice(0, slash)) : undefined;
  const lenText = slash > 0 ? cidr.slice(slash + 1) : '';
  const family: IpFamily = bytes?.length === IPV4_BYTES ? 4 : 6;
  const maxLen = family === 4 ? 32 : 128;
  if (!bytes || !/^(0|[1-9][0-9]{0,2})$/.test(lenText) || Number(lenText) > maxLen) {
    throw new MalformedValueError(`invalid CIDR ${JSON.stringify(cidr)}: expected <ip>/<prefix length>`);
  }
  const mask = prefixLengthToMaskBytes(Number(lenText), family);
  const network = bytes.map((b, i) => b & mask[i]!);
  return { IP: bytesToIp(network), Mask: Buffer.from(mask).toString('base64') };
}

/** `ip/len` for a wire CIDR, validating the address and the mask. */
export function wireToCidr(w: WireCidr, what = 'CIDR'): string {
  const ip = canonicalIp(w.IP);
  const family = ip === undefined ? undefined : ipFamily(ip);
  if (ip === undefined || family === undefined) {
    throw new MalformedValueError(`${what}: IP ${JSON.stringify(w.IP)} is not a valid IP address`);
  }
  return `${ip}/${maskToPrefixLength(w.Mask, family, `${what} mask`)}`;
}

/** `ip` -> `ip/32` (or /128); `ip/len` -> the network address with host bits cleared; undefined when invalid. */
export function canonicalPrefix(text: string): string | undefined {
  const slash = text.indexOf('/');
  const ip = slash < 0 ? text : text.slice(0, slash);
  const family = ipFamily(ip);
  if (family === undefined) return undefined;
  try {
    return wireToCidr(cidrToWire(slash < 0 ? `${ip}/${family === 4 ? 32 : 128}` : text));
  } catch {
    return undefined;
  }
}

// ---- address ranges ----

/** A CIDR with its address space as integers, for containment, overlap and carving. */
export interface IpRange {
  /** The CIDR text: as given (parseIpRange), or canonical (parsePrefix, subnet). */
  cidr: string;
  family: IpFamily;
  /** The prefix length. */
  prefix: number;
  /** First (the network address) and last address of the range. */
  first: bigint;
  last: bigint;
}

/** An address as an integer, IPv4-mapped IPv6 counting as IPv4 (as Go's netip Unmap does). */
export interface IpAddress {
  family: IpFamily;
  addr: bigint;
}

/** Text that is not a CIDR (or not the one expected), or a range that cannot hold what is asked of it. */
export class CidrError extends Error {
  override name = 'CidrError';
}

function bitsOf(family: IpFamily): number {
  return family === 4 ? 32 : 128;
}

function bytesToBigInt(bytes: readonly number[]): bigint {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

function networkOf(addr: bigint, len: number, family: IpFamily): bigint {
  const host = BigInt(bitsOf(family) - len);
  return (addr >> host) << host;
}

function rangeOf(cidr: string, family: IpFamily, prefix: number, first: bigint): IpRange {
  return { cidr, family, prefix, first, last: first + (1n << BigInt(bitsOf(family) - prefix)) - 1n };
}

export function bigIntToIp(n: bigint, family: IpFamily): string {
  const len = family === 4 ? IPV4_BYTES : IPV6_BYTES;
  const bytes: number[] = [];
  for (let i = len - 1; i >= 0; i--) bytes.push(Number((n >> BigInt(i * 8)) & 0xffn));
  return ipaddr.fromByteArray(bytes).toString();
}

/** Parses an address; undefined when it is not one. */
export function parseAddress(ip: string): IpAddress | undefined {
  if (!ipaddr.isValid(ip)) return undefined;
  let a = ipaddr.parse(ip);
  if (a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress()) a = (a as ipaddr.IPv6).toIPv4Address();
  return { family: a.kind() === 'ipv4' ? 4 : 6, addr: bytesToBigInt(a.toByteArray()) };
}

/** Parses `10.0.0.0/16` strictly: the address must be the network address (no host bits set). */
export function parseIpRange(cidr: string): IpRange {
  let parsed: [ipaddr.IPv4 | ipaddr.IPv6, number];
  try {
    parsed = ipaddr.parseCIDR(cidr);
  } catch (err) {
    throw new CidrError(`invalid CIDR "${cidr}": expected an address and prefix length such as 10.1.0.0/16`, {
      cause: err,
    });
  }
  const [addr, prefix] = parsed;
  const family = addr.kind() === 'ipv4' ? 4 : 6;
  const first = bytesToBigInt(addr.toByteArray());
  const network = networkOf(first, prefix, family);
  if (first !== network) {
    throw new CidrError(
      `invalid CIDR "${cidr}": host bits are set; did you mean ${bigIntToIp(network, family)}/${prefix}?`,
    );
  }
  return rangeOf(cidr, family, prefix, first);
}

/** Parses `10.1.2.0/24` leniently (host bits are cleared, as Cilium does) or a bare address (a /32 or /128). */
export function parsePrefix(text: string): IpRange {
  const slash = text.indexOf('/');
  const a = parseAddress(slash < 0 ? text : text.slice(0, slash));
  if (!a) throw new CidrError(`"${text}" is not a CIDR such as 10.0.0.0/8`);
  const max = bitsOf(a.family);
  const lenText = slash < 0 ? String(max) : text.slice(slash + 1);
  const len = /^[0-9]{1,3}$/.test(lenText) ? Number(lenText) : NaN;
  if (!(len >= 0 && len <= max)) throw new CidrError(`"${text}": prefix length must be 0..${max}`);
  const first = networkOf(a.addr, len, a.family);
  return rangeOf(`${bigIntToIp(first, a.family)}/${len}`, a.family, len, first);
}

export function rangesOverlap(a: IpRange, b: IpRange): boolean {
  return a.family === b.family && a.first <= b.last && b.first <= a.last;
}

/** Whether `inner` lies within `outer` (equal counts). */
export function rangeCovers(outer: IpRange, inner: IpRange): boolean {
  return outer.family === inner.family && inner.first >= outer.first && inner.last <= outer.last;
}

export function rangeHasAddress(range: IpRange, a: IpAddress): boolean {
  return a.family === range.family && a.addr >= range.first && a.addr <= range.last;
}

/** Whether the address `ip` lies within `range` (false when `ip` is not an address). */
export function rangeContains(range: IpRange, ip: string): boolean {
  const a = parseAddress(ip);
  return a !== undefined && rangeHasAddress(range, a);
}

/** The `index`-th subnet of length `prefix` inside `range` (node pod CIDRs carved from the cluster's). */
export function subnet(range: IpRange, prefix: number, index: number): IpRange {
  if (prefix < range.prefix || prefix > bitsOf(range.family)) {
    throw new CidrError(`cannot carve /${prefix} subnets from ${range.cidr}`);
  }
  const size = 1n << BigInt(bitsOf(range.family) - prefix);
  const first = range.first + size * BigInt(index);
  if (first + size - 1n > range.last) {
    throw new CidrError(`${range.cidr} has no room for subnet #${index} of length /${prefix}`);
  }
  return rangeOf(`${bigIntToIp(first, range.family)}/${prefix}`, range.family, prefix, first);
}

/** The address at `offset` from the start of `range`. */
export function addressAt(range: IpRange, offset: number | bigint): string {
  const n = range.first + BigInt(offset);
  if (n > range.last) throw new CidrError(`${range.cidr} has no address at offset ${offset}`);
  return bigIntToIp(n, range.family);
}

export function rangeSize(range: IpRange): bigint {
  return range.last - range.first + 1n;
}
