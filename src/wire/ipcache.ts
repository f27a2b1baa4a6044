import { MalformedValueError, ValidationError } from './errors.js';
import { canonicalIp, ipFamily, maskToPrefixLength } from './ip.js';
import { arrayField, asObject, describe, optStr, parseJsonObject, str, uint } from './json-fields.js';
import { goString } from './json-encode.js';

/** `cilium/state/ip/v1/default/<ip>[/<len>]`: one endpoint address and its security identity. */
export interface IPIdentityPair {
  IP: string;
  /** base64 of the raw mask bytes; only for CIDR entries (written as `"Mask":null` for host entries). */
  Mask?: string;
  /** The node hosting the endpoint; "" when unknown. */
  HostIP: string;
  ID: number;
  /** Encryption key index. */
  Key: number;
  Metadata: string;
  K8sNamespace?: string;
  K8sPodName?: string;
  K8sServiceAccount?: string;
  /** In the order of the CiliumEndpoint's named ports. */
  NamedPorts?: NamedPort[];
}

export interface NamedPort {
  Name: string;
  Port: number;
  Protocol: string;
}

const WHAT = 'ipcache value';
const UINT8_MAX = 255;
const UINT16_MAX = 65535;

function encodeNamedPort(p: NamedPort): string {
  return `{"Name":${goString(p.Name)},"Port":${p.Port},"Protocol":${goString(p.Protocol)}}`;
}

/**
 * Exactly Cilium 1.20's bytes: `Mask` always present (`null` unless a CIDR entry), no pod UID field (Cilium's
 * IPIdentityPair has none), empty omitempty fields dropped.
 */
export function encodeIPIdentityPair(p: IPIdentityPair): string {
  let out = `{"IP":${goString(p.IP)}`;
  out += `,"Mask":${p.Mask ? goString(p.Mask) : 'null'}`;
  out += `,"HostIP":${goString(p.HostIP || '')},"ID":${p.ID},"Key":${p.Key},"Metadata":${goString(p.Metadata || '')}`;
  if (p.K8sNamespace) out += `,"K8sNamespace":${goString(p.K8sNamespace)}`;
  if (p.K8sPodName) out += `,"K8sPodName":${goString(p.K8sPodName)}`;
  if (p.K8sServiceAccount) out += `,"K8sServiceAccount":${goString(p.K8sServiceAccount)}`;
  if (p.NamedPorts && p.NamedPorts.length > 0) {
    out += ',"NamedPorts":[';
    for (let i = 0; i < p.NamedPorts.length; i++) out += (i > 0 ? ',' : '') + encodeNamedPort(p.NamedPorts[i]!);
    out += ']';
  }
  return out + '}';
}

/** The key suffix for an entry: the IP, or `ip/len` when a mask is set (Cilium's PrefixString). */
export function ipcacheKeyName(p: Pick<IPIdentityPair, 'IP' | 'Mask'>): string {
  if (!p.Mask) return p.IP;
  const family = ipFamily(p.IP);
  if (family === undefined)
    throw new MalformedValueError(`${WHAT}: field "IP" is not a valid IP address: ${describe(p.IP)}`);
  return `${p.IP}/${maskToPrefixLength(p.Mask, family, `${WHAT}: field "Mask"`)}`;
}

/**
 * Parses and checks an IPIdentityPair. With `keySuffix` (the part of the key after
 * `cilium/state/ip/v1/default/`), also rejects an entry whose key and value disagree.
 * IP and HostIP are returned in canonical form; unknown fields are ignored.
 */
export function decodeIPIdentityPair(bytes: string | Uint8Array, keySuffix?: string): IPIdentityPair {
  const o = parseJsonObject(bytes, WHAT);
  const rawIp = o.IP;
  const ip = typeof rawIp === 'string' ? canonicalIp(rawIp) : undefined;
  if (ip === undefined)
    throw new MalformedValueError(`${WHAT}: field "IP" must be a valid IP address, got ${describe(rawIp)}`);
  const hostRaw = str(o, 'HostIP', WHAT, '');
  const hostIp = hostRaw === '' ? '' : canonicalIp(hostRaw);
  if (hostIp === undefined) {
    throw new MalformedValueError(`${WHAT}: field "HostIP" must be a valid IP address, got ${describe(hostRaw)}`);
  }
  const pair: IPIdentityPair = {
    IP: ip,
    HostIP: hostIp,
    ID: uint(o, 'ID', WHAT, undefined, 0),
    Key: uint(o, 'Key', WHAT, UINT8_MAX, 0),
    Metadata: str(o, 'Metadata', WHAT, ''),
  };
  const mask = o.Mask;
  if (mask !== undefined && mask !== null) {
    if (typeof mask !== 'string')
      throw new MalformedValueError(`${WHAT}: field "Mask" must be a base64 string, got ${describe(mask)}`);
    if (mask !== '') pair.Mask = mask;
  }
  const ns = optStr(o, 'K8sNamespace', WHAT);
  if (ns !== undefined) pair.K8sNamespace = ns;
  const pod = optStr(o, 'K8sPodName', WHAT);
  if (pod !== undefined) pair.K8sPodName = pod;
  const sa = optStr(o, 'K8sServiceAccount', WHAT);
  if (sa !== undefined) pair.K8sServiceAccount = sa;
  const ports = arrayField(o, 'NamedPorts', WHAT);
  if (ports && ports.length > 0) {
    pair.NamedPorts = ports.map((p, i) => {
      const what = `${WHAT} NamedPorts[${i}]`;
      const po = asObject(p, what);
      return {
        Name: str(po, 'Name', what, ''),
        Port: uint(po, 'Port', what, UINT16_MAX, 0),
        Protocol: str(po, 'Protocol', what, ''),
      };
    });
  }
  // Computing the key name also validates the mask against the address family.
  const name = ipcacheKeyName(pair);
  if (keySuffix !== undefined && name !== keySuffix) {
    throw new ValidationError(
      `ipcache key suffix ${JSON.stringify(keySuffix)} does not match the value's address "${name}"`,
    );
  }
  return pair;
}
