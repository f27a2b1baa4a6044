/**
 * Pod IPs are data; the sockets that stand for them live on loopback. This is the one place that says which
 * loopback address the userspace datapath binds and connects with for a pod IP, and which pod IP a socket peer
 * stands for. A local cluster's pods get addresses in 10.0.0.0/8, because kube-apiserver refuses loopback
 * addresses in EndpointSlices and Endpoints; the datapath then serves pod 10.a.b.c on 127.a.b.c. A loopback pod IP
 * (clusters created before, or a 127.x CIDR given by hand) is its own socket address. Any other pod IP has no
 * socket on this machine: the datapath never opens a socket to or from an address outside 127.0.0.0/8 and ::1.
 */
import { bigIntToIp, ipFamily, parseAddress, parseIpRange, type IpRange } from '../../wire/ip.js';

/** Pod IPs in this /8 are served on the same three low octets in the loopback /8. */
export const MAPPED_POD_FIRST_OCTET = 10n;
export const LOOPBACK_FIRST_OCTET = 127n;
const V4_HOST_BITS = 24n;
const V4_LOW_MASK = (1n << V4_HOST_BITS) - 1n;
/** The /8 a mapped CIDR must lie in (a shorter prefix would leave the /8 and has no loopback image). */
const FIRST_OCTET_PREFIX = 8;
const LOOPBACK_V6 = '::1';

export class NoHostAddressError extends Error {
  override name = 'NoHostAddressError';
}

/** A plain dotted IPv4 address split into its first octet and the rest (IPv4-mapped IPv6 text is not one). */
function v4(ip: string): { first: bigint; low: bigint } | undefined {
  // Strict dotted quads only: ipaddr.js alone would read `10.1.0` as 10.1.0.0.
  if (!/^[0-9.]+$/.test(ip) || ipFamily(ip) !== 4) return undefined;
  const a = parseAddress(ip);
  if (a?.family !== 4) return undefined;
  return { first: a.addr >> V4_HOST_BITS, low: a.addr & V4_LOW_MASK };
}

function withFirstOctet(first: bigint, low: bigint): string {
  return bigIntToIp((first << V4_HOST_BITS) | low, 4);
}

/**
 * The loopback address the datapath binds or connects with for `podIp`: 10.a.b.c -> 127.a.b.c, a loopback
 * address -> itself, anything else -> undefined (no socket on this machine).
 */
export function hostAddress(podIp: string): string | undefined {
  if (podIp === LOOPBACK_V6) return podIp;
  const a = v4(podIp);
  if (!a) return undefined;
  if (a.first === LOOPBACK_FIRST_OCTET) return podIp;
  if (a.first === MAPPED_POD_FIRST_OCTET) return withFirstOctet(LOOPBACK_FIRST_OCTET, a.low);
  return undefined;
}

/** hostAddress(), or an error that names the address and what it was for. */
export function requireHostAddress(podIp: string, what: string): string {
  const host = hostAddress(podIp);
  if (host === undefined)
    throw new NoHostAddressError(
      `${what} ${podIp} has no socket on this machine: cmesh serves pod IPs in 10.0.0.0/8 (on 127.x.y.z) and loopback pod IPs only`,
    );
  return host;
}

/**
 * The pod IPs a socket peer address may stand for, most specific first: 127.a.b.c is pod 10.a.b.c of a cluster
 * in 10/8, or the loopback pod IP 127.a.b.c itself. Any other address stands for itself only.
 */
export function podAddressCandidates(socketAddress: string): string[] {
  const a = v4(socketAddress);
  if (a?.first !== LOOPBACK_FIRST_OCTET) return [socketAddress];
  return [withFirstOctet(MAPPED_POD_FIRST_OCTET, a.low), socketAddress];
}

/**
 * The pod IP behind a socket peer: the first candidate `isPodIp` knows (an exact ipcache entry), else the address
 * itself. Sound because cluster creation refuses two local clusters whose pods map onto the same loopback
 * addresses, so at most one local pod has a given socket address.
 */
export function podAddressOf(socketAddress: string, isPodIp: (ip: string) => boolean): string {
  return podAddressCandidates(socketAddress).find(isPodIp) ?? socketAddress;
}

/**
 * The loopback range the datapath uses for the pods of `podCidr`: 10.x/n -> 127.x/n (n >= 8), a loopback CIDR ->
 * itself, anything else -> undefined (its pods cannot be served as sockets). Throws a CidrError on a bad CIDR.
 */
export function hostRange(podCidr: string): IpRange | undefined {
  const range = parseIpRange(podCidr);
  if (range.family !== 4 || range.prefix < FIRST_OCTET_PREFIX) return undefined;
  const first = range.first >> V4_HOST_BITS;
  if (first === LOOPBACK_FIRST_OCTET) return range;
  if (first !== MAPPED_POD_FIRST_OCTET) return undefined;
  return parseIpRange(`${withFirstOctet(LOOPBACK_FIRST_OCTET, range.first & V4_LOW_MASK)}/${range.prefix}`);
}
