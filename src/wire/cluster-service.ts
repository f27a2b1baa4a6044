import { MalformedValueError } from './errors.js';
import { canonicalIp } from './ip.js';
import {
  arrayField,
  asObject,
  asObjectField,
  bool,
  describe,
  parseJsonObject,
  str,
  stringMap,
  uint,
  type JsonObject,
} from './json-fields.js';
import { goMap, goSlice, goString, goStringMap } from './json-encode.js';

/** `cilium/state/services/v1/<cluster>/<namespace>/<name>`: a global service as Cilium's ClusterService. */
export interface ClusterService {
  cluster: string;
  namespace: string;
  name: string;
  /** ClusterIP -> port name ("" when unnamed) -> L4 address. */
  frontends: Record<string, PortConfiguration>;
  /** Backend IP -> port name -> L4 address. */
  backends: Record<string, PortConfiguration>;
  /** Backend IP -> hostname; omitted when empty. */
  hostnames?: Record<string, string>;
  /** Backend IP -> zone; omitted when empty. */
  zones?: Record<string, BackendZone>;
  labels: Record<string, string>;
  selector: Record<string, string>;
  includeExternal: boolean;
  shared: boolean;
  clusterID: number;
}

export type PortConfiguration = Record<string, L4Addr>;

export interface L4Addr {
  /** `TCP`, `UDP`, `SCTP`, ... */
  Protocol: string;
  Port: number;
}

export interface BackendZone {
  zone: string;
  forZones: { name: string }[] | null;
}

const WHAT = 'service value';
const UINT16_MAX = 65535;

function encodeL4(a: L4Addr): string {
  return `{"Protocol":${goString(a.Protocol)},"Port":${a.Port}}`;
}

function encodePorts(p: PortConfiguration): string {
  return goMap(p, 'null', encodeL4);
}

function encodeZone(z: BackendZone): string {
  return `{"zone":${goString(z.zone)},"forZones":${goSlice(z.forZones, (f) => `{"name":${goString(f.name)}}`)}}`;
}

function hasEntries(m: object | undefined): boolean {
  if (!m) return false;
  for (const _ in m) return true;
  return false;
}

/** Exactly Cilium's bytes: maps sorted by key, `labels`/`selector` `{}` when empty, hostnames/zones omitted when empty. */
export function encodeClusterService(s: ClusterService): string {
  let out =
    `{"cluster":${goString(s.cluster)},"namespace":${goString(s.namespace)},"name":${goString(s.name)}` +
    `,"frontends":${goMap(s.frontends, '{}', encodePorts)},"backends":${goMap(s.backends, '{}', encodePorts)}`;
  if (hasEntries(s.hostnames)) out += `,"hostnames":${goStringMap(s.hostnames, '{}')}`;
  if (hasEntries(s.zones)) out += `,"zones":${goMap(s.zones, '{}', encodeZone)}`;
  return (
    out +
    `,"labels":${goStringMap(s.labels, '{}')},"selector":${goStringMap(s.selector, '{}')}` +
    `,"includeExternal":${s.includeExternal},"shared":${s.shared},"clusterID":${s.clusterID}}`
  );
}

function addressMap(o: JsonObject, field: string): Record<string, PortConfiguration> {
  const v = o[field];
  const out: Record<string, PortConfiguration> = {};
  if (v === undefined || v === null) return out;
  const m = asObjectField(v, WHAT, field);
  for (const address in m) {
    if (canonicalIp(address) === undefined) {
      throw new MalformedValueError(
        `${WHAT}: field "${field}" has key ${describe(address)}, which is not a valid IP address`,
      );
    }
    const ports: PortConfiguration = {};
    const raw = m[address];
    if (raw !== null) {
      const po = asObjectField(raw, WHAT, `${field}.${address}`);
      for (const portName in po) {
        const what = `${WHAT} ${field}.${address}.${JSON.stringify(portName)}`;
        const a = asObject(po[portName], what);
        ports[portName] = { Protocol: str(a, 'Protocol', what, ''), Port: uint(a, 'Port', what, UINT16_MAX, 0) };
      }
    }
    out[address] = ports;
  }
  return out;
}

function zonesField(o: JsonObject): Record<string, BackendZone> | undefined {
  const v = o.zones;
  if (v === undefined || v === null) return undefined;
  const m = asObjectField(v, WHAT, 'zones');
  const out: Record<string, BackendZone> = {};
  for (const address in m) {
    const what = `${WHAT} zones.${address}`;
    const z = asObject(m[address], what);
    const forZones = arrayField(z, 'forZones', what);
    out[address] = {
      zone: str(z, 'zone', what, ''),
      forZones: forZones
        ? forZones.map((f, i) => ({ name: str(asObject(f, `${what}.forZones[${i}]`), 'name', what, '') }))
        : null,
    };
  }
  return hasEntries(out) ? out : undefined;
}

/** Parses and checks a ClusterService as Cilium does: cluster, namespace and name set; addresses valid IPs. */
export function decodeClusterService(bytes: string | Uint8Array): ClusterService {
  const o = parseJsonObject(bytes, WHAT);
  const svc: ClusterService = {
    cluster: str(o, 'cluster', WHAT, ''),
    namespace: str(o, 'namespace', WHAT, ''),
    name: str(o, 'name', WHAT, ''),
    frontends: addressMap(o, 'frontends'),
    backends: addressMap(o, 'backends'),
    labels: stringMap(o, 'labels', WHAT) ?? {},
    selector: stringMap(o, 'selector', WHAT) ?? {},
    includeExternal: bool(o, 'includeExternal', WHAT, false),
    shared: bool(o, 'shared', WHAT, false),
    clusterID: uint(o, 'clusterID', WHAT, undefined, 0),
  };
  for (const f of ['cluster', 'namespace', 'name'] as const) {
    if (svc[f] === '') throw new MalformedValueError(`${WHAT}: field "${f}" must not be empty`);
  }
  const hostnames = stringMap(o, 'hostnames', WHAT);
  if (hostnames && hasEntries(hostnames)) svc.hostnames = hostnames;
  const zones = zonesField(o);
  if (zones) svc.zones = zones;
  return svc;
}

/** The key suffix under `cilium/state/services/v1/`: `<cluster>/<namespace>/<name>`. */
export function clusterServiceKeyName(s: Pick<ClusterService, 'cluster' | 'namespace' | 'name'>): string {
  return `${s.cluster}/${s.namespace}/${s.name}`;
}
