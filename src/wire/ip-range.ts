import ipaddr from 'ipaddr.js';

/** A parsed CIDR with its address space as bigints, for containment, overlap and carving. */
export interface IpRange {
  cidr: string;
  family: 4 | 6;
  prefix: number;
  /** First and last address of the range. */
  first: bigint;
  last: bigint;
}

export class IpRangeError extends Error {
  override name = 'IpRangeError';
}

function bits(family: 4 | 6): number {
  return family === 4 ? 32 : 128;
}

function toBigInt(addr: ipaddr.IPv4 | ipaddr.IPv6): bigint {
  let n = 0n;
  for (const b of addr.toByteArray()) n = (n << 8n) | BigInt(b);
  return n;
}

export function bigIntToIp(n: bigint, family: 4 | 6): string {
  const len = family === 4 ? 4 : 16;
  const bytes: number[] = [];
  for (let i = len - 1; i >= 0; i--) bytes.push(Number((n >> BigInt(i * 8)) & 0xffn));
  return ipaddr.fromByteArray(bytes).toString();
}

/** Parses `10.0.0.0/16`; the address must be the network address (no host bits set). */
export function parseIpRange(cidr: string): IpRange {
  let parsed: [ipaddr.IPv4 | ipaddr.IPv6, number];
  try {
    parsed = ipaddr.parseCIDR(cidr);
  } catch (err) {
    throw new IpRangeError(`invalid CIDR "${cidr}": expected an address and prefix length such as 10.1.0.0/16`, {
      cause: err,
    });
  }
  const [addr, prefix] = parsed;
  const family = addr.kind() === 'ipv4' ? 4 : 6;
  const total = BigInt(bits(family));
  const size = 1n << (total - BigInt(prefix));
  const first = toBigInt(addr);
  if (first % size !== 0n) {
    const network = bigIntToIp(first - (first % size), family);
    throw new IpRangeError(`invalid CIDR "${cidr}": host bits are set; did you mean ${network}/${prefix}?`);
  }
  return { cidr, family, prefix, first, last: first + size - 1n };
}

export function rangesOverlap(a: IpRange, b: IpRange): boolean {
  return a.family === b.family && a.first <= b.last && b.first <= a.last;
}

export function rangeContains(range: IpRange, ip: string): boolean {
  if (!ipaddr.isValid(ip)) return false;
  const addr = ipaddr.parse(ip);
  const family = addr.kind() === 'ipv4' ? 4 : 6;
  if (family !== range.family) return false;
  const n = toBigInt(addr);
  return n >= range.first && n <= range.last;
}

/** The `index`-th subnet of length `prefix` inside `range` (node pod CIDRs carved from the cluster's). */
export function subnet(range: IpRange, prefix: number, index: number): IpRange {
  if (prefix < range.prefix || prefix > bits(range.family)) {
    throw new IpRangeError(`cannot carve /${prefix} subnets from ${range.cidr}`);
  }
  const size = 1n << BigInt(bits(range.family) - prefix);
  const first = range.first + size * BigInt(index);
  if (first + size - 1n > range.last) {
    throw new IpRangeError(`${range.cidr} has no room for subnet #${index} of length /${prefix}`);
  }
  return {
    cidr: `${bigIntToIp(first, range.family)}/${prefix}`,
    family: range.family,
    prefix,
    first,
    last: first + size - 1n,
  };
}

/** The address at `offset` from the start of `range`. */
export function addressAt(range: IpRange, offset: number | bigint): string {
  const n = range.first + BigInt(offset);
  if (n > range.last) throw new IpRangeError(`${range.cidr} has no address at offset ${offset}`);
  return bigIntToIp(n, range.family);
}

export function rangeSize(range: IpRange): bigint {
  return range.last - range.first + 1n;
}
