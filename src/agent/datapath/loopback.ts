/** The datapath opens sockets on loopback addresses only: IPs in other ranges are data, never destinations. */
import { ipFamily, parseAddress } from '../../wire/index.js';

const LOOPBACK_V4_FIRST_OCTET = 127n;
/** A loopback CIDR lies within 127.0.0.0/8: no shorter prefix. */
const MIN_LOOPBACK_PREFIX = 8;
const MAX_V4_PREFIX = 32;

export function isLoopbackV4(ip: string): boolean {
  // Strict dotted quads only: ipaddr.js alone would read `127.1` as 127.0.0.1.
  if (!/^[0-9.]+$/.test(ip) || ipFamily(ip) !== 4) return false;
  const a = parseAddress(ip);
  return a?.family === 4 && a.addr >> 24n === LOOPBACK_V4_FIRST_OCTET;
}

/** Whether a CIDR lies inside 127.0.0.0/8 (its addresses, e.g. service frontends, can be real sockets here). */
export function isLoopbackCidr(cidr: string): boolean {
  const [ip = '', len = ''] = cidr.split('/');
  return /^[0-9]+$/.test(len) && Number(len) >= MIN_LOOPBACK_PREFIX && Number(len) <= MAX_V4_PREFIX && isLoopbackV4(ip);
}
