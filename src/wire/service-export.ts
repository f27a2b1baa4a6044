import { MalformedValueError } from './errors.js';
import {
  arrayField,
  asObject,
  asObjectField,
  describe,
  optStr,
  parseJsonObject,
  str,
  stringMap,
  uint,
} from './json-fields.js';
import { goSlice, goString, goStringMap } from './json-encode.js';

/** `cilium/state/serviceexports/v1/<cluster>/<namespace>/<name>`: an exported service (MCS API), Cilium's MCSAPIServiceSpec. */
export interface ServiceExport {
  cluster: string;
  name: string;
  namespace: string;
  /** Omitted when empty. */
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  /** RFC 3339 in UTC, seconds precision (Kubernetes metav1.Time). */
  exportCreationTimestamp: string;
  ports: ServiceExportPort[];
  type: ServiceImportType;
  /** `None` or `ClientIP`. */
  sessionAffinity: string;
  /** Written only when `clientIP.timeoutSeconds` is set. */
  sessionAffinityConfig?: SessionAffinityConfig;
  /** Cilium 1.19+; omitted when empty. */
  ipFamilies?: string[];
  /** Cilium 1.19+: `Cluster` or `Local`; omitted when unset. */
  internalTrafficPolicy?: string;
  /** Cilium 1.19+: `PreferClose`, `PreferSameZone` or `PreferSameNode`; omitted when unset. */
  trafficDistribution?: string;
}

export type ServiceImportType = 'ClusterSetIP' | 'Headless';
export const SERVICE_IMPORT_TYPES: readonly ServiceImportType[] = ['ClusterSetIP', 'Headless'];
export const SESSION_AFFINITIES: readonly string[] = ['None', 'ClientIP'];
export const INTERNAL_TRAFFIC_POLICIES: readonly string[] = ['Cluster', 'Local'];
export const TRAFFIC_DISTRIBUTIONS: readonly string[] = ['PreferClose', 'PreferSameZone', 'PreferSameNode'];

export interface ServiceExportPort {
  name?: string;
  protocol?: string;
  appProtocol?: string;
  port: number;
}

export interface SessionAffinityConfig {
  clientIP?: { timeoutSeconds?: number };
}

const WHAT = 'service export value';
const INT32_MAX = 2147483647;

function encodePort(p: ServiceExportPort): string {
  let out = '{';
  if (p.name) out += `"name":${goString(p.name)},`;
  if (p.protocol) out += `"protocol":${goString(p.protocol)},`;
  if (p.appProtocol !== undefined) out += `"appProtocol":${goString(p.appProtocol)},`;
  return out + `"port":${p.port}}`;
}

function nonEmpty(m: Record<string, string> | null | undefined): m is Record<string, string> {
  if (!m) return false;
  for (const _ in m) return true;
  return false;
}

/**
 * Exactly Cilium 1.20's bytes (Go struct order; omitempty fields dropped when empty): the legacy upper-case `Labels`
 * and `Annotations` repeat the two maps, `sessionAffinityConfig` appears only with `clientIP.timeoutSeconds` set.
 */
export function encodeServiceExport(s: ServiceExport): string {
  let out = `{"cluster":${goString(s.cluster)},"name":${goString(s.name)},"namespace":${goString(s.namespace)}`;
  if (nonEmpty(s.annotations)) out += `,"annotations":${goStringMap(s.annotations, '{}')}`;
  if (nonEmpty(s.labels)) out += `,"labels":${goStringMap(s.labels, '{}')}`;
  if (nonEmpty(s.labels)) out += `,"Labels":${goStringMap(s.labels, '{}')}`;
  if (nonEmpty(s.annotations)) out += `,"Annotations":${goStringMap(s.annotations, '{}')}`;
  out +=
    `,"exportCreationTimestamp":${s.exportCreationTimestamp ? goString(s.exportCreationTimestamp) : 'null'}` +
    `,"ports":${goSlice(s.ports, encodePort)},"type":${goString(s.type)},"sessionAffinity":${goString(s.sessionAffinity)}`;
  const timeout = s.sessionAffinityConfig?.clientIP?.timeoutSeconds;
  if (timeout !== undefined) out += `,"sessionAffinityConfig":{"clientIP":{"timeoutSeconds":${timeout}}}`;
  if (s.ipFamilies?.length) out += `,"ipFamilies":${goSlice(s.ipFamilies, goString)}`;
  if (s.internalTrafficPolicy) out += `,"internalTrafficPolicy":${goString(s.internalTrafficPolicy)}`;
  if (s.trafficDistribution) out += `,"trafficDistribution":${goString(s.trafficDistribution)}`;
  return out + '}';
}

/** Parses and checks an export as Cilium does: names set, timestamp set, known type and session affinity. */
export function decodeServiceExport(bytes: string | Uint8Array): ServiceExport {
  const o = parseJsonObject(bytes, WHAT);
  const type = str(o, 'type', WHAT, '');
  if (!(SERVICE_IMPORT_TYPES as readonly string[]).includes(type)) {
    throw new MalformedValueError(`${WHAT}: field "type" must be ClusterSetIP or Headless, got ${describe(type)}`);
  }
  const affinity = str(o, 'sessionAffinity', WHAT, '');
  if (!SESSION_AFFINITIES.includes(affinity)) {
    throw new MalformedValueError(
      `${WHAT}: field "sessionAffinity" must be None or ClientIP, got ${describe(affinity)}`,
    );
  }
  const ts = str(o, 'exportCreationTimestamp', WHAT, '');
  if (ts === '' || Number.isNaN(Date.parse(ts))) {
    throw new MalformedValueError(
      `${WHAT}: field "exportCreationTimestamp" must be an RFC 3339 time, got ${describe(o.exportCreationTimestamp)}`,
    );
  }
  const ports = arrayField(o, 'ports', WHAT) ?? [];
  const se: ServiceExport = {
    cluster: str(o, 'cluster', WHAT, ''),
    name: str(o, 'name', WHAT, ''),
    namespace: str(o, 'namespace', WHAT, ''),
    exportCreationTimestamp: ts,
    ports: ports.map((p, i) => {
      const what = `${WHAT} ports[${i}]`;
      const po = asObject(p, what);
      const port: ServiceExportPort = { port: uint(po, 'port', what, INT32_MAX, 0) };
      const name = optStr(po, 'name', what);
      if (name !== undefined) port.name = name;
      const protocol = optStr(po, 'protocol', what);
      if (protocol !== undefined) port.protocol = protocol;
      if (typeof po.appProtocol === 'string') port.appProtocol = po.appProtocol;
      return port;
    }),
    type: type as ServiceImportType,
    sessionAffinity: affinity,
  };
  for (const f of ['cluster', 'namespace', 'name'] as const) {
    if (se[f] === '') throw new MalformedValueError(`${WHAT}: field "${f}" must not be empty`);
  }
  // The legacy upper-case copies stand in when a writer sent only those.
  const annotations = stringMap(o, 'annotations', WHAT) ?? stringMap(o, 'Annotations', WHAT);
  if (nonEmpty(annotations)) se.annotations = annotations;
  const labels = stringMap(o, 'labels', WHAT) ?? stringMap(o, 'Labels', WHAT);
  if (nonEmpty(labels)) se.labels = labels;
  const families = arrayField(o, 'ipFamilies', WHAT);
  if (families?.length) {
    se.ipFamilies = families.map((f, i) => {
      if (typeof f !== 'string') {
        throw new MalformedValueError(`${WHAT}: field "ipFamilies[${i}]" must be a string, got ${describe(f)}`);
      }
      return f;
    });
  }
  const itp = optStr(o, 'internalTrafficPolicy', WHAT);
  if (itp !== undefined) {
    if (!INTERNAL_TRAFFIC_POLICIES.includes(itp)) {
      throw new MalformedValueError(
        `${WHAT}: field "internalTrafficPolicy" must be Cluster or Local, got ${describe(itp)}`,
      );
    }
    se.internalTrafficPolicy = itp;
  }
  const td = optStr(o, 'trafficDistribution', WHAT);
  if (td !== undefined) {
    if (!TRAFFIC_DISTRIBUTIONS.includes(td)) {
      throw new MalformedValueError(
        `${WHAT}: field "trafficDistribution" must be one of ${TRAFFIC_DISTRIBUTIONS.join(', ')}, got ${describe(td)}`,
      );
    }
    se.trafficDistribution = td;
  }
  const cfg = o.sessionAffinityConfig;
  if (cfg !== undefined && cfg !== null) {
    const co = asObjectField(cfg, WHAT, 'sessionAffinityConfig');
    se.sessionAffinityConfig = {};
    if (co.clientIP !== undefined && co.clientIP !== null) {
      const ci = asObjectField(co.clientIP, WHAT, 'sessionAffinityConfig.clientIP');
      se.sessionAffinityConfig.clientIP = {};
      if (ci.timeoutSeconds !== undefined && ci.timeoutSeconds !== null) {
        se.sessionAffinityConfig.clientIP.timeoutSeconds = uint(
          ci,
          'timeoutSeconds',
          `${WHAT} sessionAffinityConfig.clientIP`,
          INT32_MAX,
        );
      }
    }
  }
  return se;
}

/** The key suffix under `cilium/state/serviceexports/v1/`: `<cluster>/<namespace>/<name>`. */
export function serviceExportKeyName(s: Pick<ServiceExport, 'cluster' | 'namespace' | 'name'>): string {
  return `${s.cluster}/${s.namespace}/${s.name}`;
}
