/** The datapath opens sockets on loopback addresses only: IPs in other ranges are data, never destinations. */
import { parseAddress } from '../../wire/index.js';

const LOOPBACK_V4_FIRST_OCTET = 127n;

export function isLoopbackV4(ip: string): boolean {
  const a = parseAddress(ip);
  return a?.family === 4 && a.addr >> 24n === LOOPBACK_V4_FIRST_OCTET && /^[0-9.]+$/.test(ip);
}
