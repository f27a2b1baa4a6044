import { MalformedValueError } from './errors.js';
import { canonicalIp, wireToCidr, type WireCidr } from './ip.js';
import {
  arrayField,
  asObject,
  asObjectField,
  describe,
  parseJsonObject,
  str,
  stringMap,
  uint,
  type JsonObject,
} from './json-fields.js';
import { goSlice, goString, goStringMap } from './json-encode.js';

/** `cilium/state/nodes/v1/<cluster>/<node>` and `cilium/state/noderegister/v1/<node>`: Cilium's Node, field names as on the wire. */
export interface Node {
  Name: string;
  Cluster: string;
  IPAddresses: NodeAddress[] | null;
  IPv4AllocCIDR: WireCidr | null;
  IPv4SecondaryAllocCIDRs: WireCidr[] | null;
  IPv6AllocCIDR: WireCidr | null;
  IPv6SecondaryAllocCIDRs: WireCidr[] | null;
  /** "" when unset. */
  IPv4HealthIP: string;
  IPv6HealthIP: string;
  IPv4IngressIP: string;
  IPv6IngressIP: string;
  ClusterID: number;
  Source: string;
  EncryptionKey: number;
  /** null for an empty map. */
  Labels: Record<string, string> | null;
  Annotations: Record<string, string> | null;
  WireguardPubKey: string;
  BootID: string;
}

export interface NodeAddress {
  /** `InternalIP`, `ExternalIP`, `CiliumInternalIP`, ... */
  Type: string;
  IP: string;
}

export const NodeAddressType = {
  InternalIP: 'InternalIP',
  ExternalIP: 'ExternalIP',
  CiliumInternalIP: 'CiliumInternalIP',
  Hostname: 'Hostname',
  InternalDNS: 'InternalDNS',
  ExternalDNS: 'ExternalDNS',
} as const;

/** The Source the clustermesh-apiserver writes for nodes it reads from CiliumNode objects. */
export const NODE_SOURCE_CUSTOM_RESOURCE = 'custom-resource';

/** A Node with Go's zero values (as the apiserver's source) but for `fields`. */
export function newNode(name: string, fields: Partial<Node> = {}): Node {
  return {
    Name: name,
    Cluster: '',
    IPAddresses: null,
    IPv4AllocCIDR: null,
    IPv4SecondaryAllocCIDRs: null,
    IPv6AllocCIDR: null,
    IPv6SecondaryAllocCIDRs: null,
    IPv4HealthIP: '',
    IPv6HealthIP: '',
    IPv4IngressIP: '',
    IPv6IngressIP: '',
    ClusterID: 0,
    Source: NODE_SOURCE_CUSTOM_RESOURCE,
    EncryptionKey: 0,
    Labels: null,
    Annotations: null,
    WireguardPubKey: '',
    BootID: '',
    ...fields,
  };
}

const WHAT = 'node value';
const UINT8_MAX = 255;

function encodeCidr(c: WireCidr | null | undefined): string {
  return c ? `{"IP":${goString(c.IP)},"Mask":${goString(c.Mask)}}` : 'null';
}

function encodeAddress(a: NodeAddress): string {
  return `{"Type":${goString(a.Type)},"IP":${goString(a.IP)}}`;
}

/** Exactly Cilium's bytes, fields in Go struct order, maps sorted, empty maps as null. */
export function encodeNode(n: Node): string {
  return (
    `{"Name":${goString(n.Name)},"Cluster":${goString(n.Cluster)}` +
    `,"IPAddresses":${goSlice(n.IPAddresses, encodeAddress)}` +
    `,"IPv4AllocCIDR":${encodeCidr(n.IPv4AllocCIDR)}` +
    `,"IPv4SecondaryAllocCIDRs":${goSlice(n.IPv4SecondaryAllocCIDRs, encodeCidr)}` +
    `,"IPv6AllocCIDR":${encodeCidr(n.IPv6AllocCIDR)}` +
    `,"IPv6SecondaryAllocCIDRs":${goSlice(n.IPv6SecondaryAllocCIDRs, encodeCidr)}` +
    `,"IPv4HealthIP":${goString(n.IPv4HealthIP || '')},"IPv6HealthIP":${goString(n.IPv6HealthIP || '')}` +
    `,"IPv4IngressIP":${goString(n.IPv4IngressIP || '')},"IPv6IngressIP":${goString(n.IPv6IngressIP || '')}` +
    `,"ClusterID":${n.ClusterID},"Source":${goString(n.Source)},"EncryptionKey":${n.EncryptionKey}` +
    `,"Labels":${goStringMap(n.Labels, 'null')},"Annotations":${goStringMap(n.Annotations, 'null')}` +
    `,"WireguardPubKey":${goString(n.WireguardPubKey || '')},"BootID":${goString(n.BootID || '')}}`
  );
}

/** An optional IP field: "" (unset) or a valid address, returned in canonical form. */
function ipField(o: JsonObject, field: string): string {
  const v = str(o, field, WHAT, '');
  if (v === '') return '';
  const ip = canonicalIp(v);
  if (ip === undefined)
    throw new MalformedValueError(`${WHAT}: field "${field}" is not a valid IP address: ${describe(v)}`);
  return ip;
}

function cidrValue(v: unknown, field: string): WireCidr | null {
  if (v === undefined || v === null) return null;
  const o = asObjectField(v, WHAT, field);
  const c: WireCidr = { IP: str(o, 'IP', `${WHAT} ${field}`), Mask: str(o, 'Mask', `${WHAT} ${field}`) };
  const ip = wireToCidr(c, `${WHAT}: field "${field}"`).split('/')[0]!;
  return { IP: ip, Mask: c.Mask };
}

function cidrList(o: JsonObject, field: string): WireCidr[] | null {
  const list = arrayField(o, field, WHAT);
  return list ? list.map((c, i) => cidrValue(c, `${field}[${i}]`) ?? nullCidr(field, i)) : null;
}

function nullCidr(field: string, i: number): never {
  throw new MalformedValueError(`${WHAT}: field "${field}[${i}]" must be an object, got null`);
}

/** Parses and checks a Node; rejects empty Name or Cluster, invalid IPs and CIDRs. Unknown fields are ignored. */
export function decodeNode(bytes: string | Uint8Array): Node {
  const o = parseJsonObject(bytes, WHAT);
  const name = str(o, 'Name', WHAT, '');
  const cluster = str(o, 'Cluster', WHAT, '');
  if (name === '') throw new MalformedValueError(`${WHAT}: field "Name" must not be empty`);
  if (cluster === '') throw new MalformedValueError(`${WHAT}: field "Cluster" must not be empty`);
  const addrs = arrayField(o, 'IPAddresses', WHAT);
  return {
    Name: name,
    Cluster: cluster,
    IPAddresses: addrs
      ? addrs.map((a, i) => {
          const ao = asObject(a, `${WHAT}: field "IPAddresses[${i}]"`);
          const ip = str(ao, 'IP', `${WHAT} IPAddresses[${i}]`, '');
          const canonical = ip === '' ? '' : canonicalIp(ip);
          if (canonical === undefined) {
            throw new MalformedValueError(
              `${WHAT}: field "IPAddresses[${i}].IP" is not a valid IP address: ${describe(ip)}`,
            );
          }
          return { Type: str(ao, 'Type', `${WHAT} IPAddresses[${i}]`, ''), IP: canonical };
        })
      : null,
    IPv4AllocCIDR: cidrValue(o.IPv4AllocCIDR, 'IPv4AllocCIDR'),
    IPv4SecondaryAllocCIDRs: cidrList(o, 'IPv4SecondaryAllocCIDRs'),
    IPv6AllocCIDR: cidrValue(o.IPv6AllocCIDR, 'IPv6AllocCIDR'),
    IPv6SecondaryAllocCIDRs: cidrList(o, 'IPv6SecondaryAllocCIDRs'),
    IPv4HealthIP: ipField(o, 'IPv4HealthIP'),
    IPv6HealthIP: ipField(o, 'IPv6HealthIP'),
    IPv4IngressIP: ipField(o, 'IPv4IngressIP'),
    IPv6IngressIP: ipField(o, 'IPv6IngressIP'),
    ClusterID: uint(o, 'ClusterID', WHAT, undefined, 0),
    Source: str(o, 'Source', WHAT, ''),
    EncryptionKey: uint(o, 'EncryptionKey', WHAT, UINT8_MAX, 0),
    Labels: nonEmpty(stringMap(o, 'Labels', WHAT)),
    Annotations: nonEmpty(stringMap(o, 'Annotations', WHAT)),
    WireguardPubKey: str(o, 'WireguardPubKey', WHAT, ''),
    BootID: str(o, 'BootID', WHAT, ''),
  };
}

function nonEmpty(m: Record<string, string> | null): Record<string, string> | null {
  if (!m) return null;
  for (const _ in m) return m;
  return null;
}

/** The key suffix under `cilium/state/nodes/v1/`: `<cluster>/<name>`. */
export function nodeKeyName(n: Pick<Node, 'Cluster' | 'Name'>): string {
  return `${n.Cluster}/${n.Name}`;
}
