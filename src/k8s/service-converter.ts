import type { Endpoint, EndpointSlice, Service } from './types.js';
import { canonicalIp, type BackendZone, type ClusterService, type PortConfiguration } from '../wire/index.js';
import { isGlobalService, isSharedService } from './cilium-annotations.js';
import type { ClusterIdentity } from './node-converter.js';

/** The label that ties an EndpointSlice to its Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export function sliceServiceName(slice: EndpointSlice): string | undefined {
  return slice.metadata.labels?.[SERVICE_NAME_LABEL];
}

/** Whether a service is exported to the mesh: global, shared, not ExternalName. */
export function isExportedService(svc: Service): boolean {
  return svc.spec?.type !== 'ExternalName' && isSharedService(svc.metadata.annotations);
}

/** Kubernetes' label for a Service that gets no cluster IP from its proxy (k8s.io/api's IsHeadlessService). */
export const HEADLESS_LABEL = 'service.kubernetes.io/headless';

/** Headless as Cilium decides it: cluster IP `None`, or the `service.kubernetes.io/headless` label (any value). */
export function isHeadlessService(svc: Service): boolean {
  return svc.spec?.clusterIP?.toLowerCase() === 'none' || svc.metadata.labels?.[HEADLESS_LABEL] !== undefined;
}

/** The L4 protocols of backend ports Cilium keeps; an unset protocol is TCP. Other endpoint ports are skipped. */
const L4_PROTOCOLS: ReadonlySet<string> = new Set(['TCP', 'UDP', 'SCTP']);

function l4Protocol(protocol: string | undefined): string | undefined {
  const p = protocol ?? 'TCP';
  return L4_PROTOCOLS.has(p) ? p : undefined;
}

/** The zone from `deprecatedTopology` (still sent by older kube-apiservers), the fallback when `zone` is unset. */
function endpointDeprecatedZone(ep: Endpoint): string | undefined {
  const topo = ep.deprecatedTopology as Record<string, unknown> | undefined;
  const z = topo?.['topology.kubernetes.io/zone'];
  return typeof z === 'string' && z !== '' ? z : undefined;
}

function frontendIps(svc: Service): string[] {
  if (isHeadlessService(svc)) return [];
  const ips = svc.spec?.clusterIPs?.length ? svc.spec.clusterIPs : svc.spec?.clusterIP ? [svc.spec.clusterIP] : [];
  return ips.map((ip) => canonicalIp(ip)).filter((ip): ip is string => ip !== undefined);
}

/**
 * Service + its EndpointSlices -> ClusterService as Cilium 1.20's clustermesh-apiserver writes it. Backends are the
 * endpoints that are ready or serving (an unset condition counts as true), so a terminating-but-serving pod stays a
 * backend; only their TCP, UDP and SCTP ports count (unset = TCP); a headless Service has no frontends; an endpoint
 * with a zone gets `forZones` as an array, `[]` without hints.
 */
export function serviceToClusterService(
  svc: Service,
  slices: readonly EndpointSlice[],
  cluster: ClusterIdentity,
): ClusterService {
  const frontends: Record<string, PortConfiguration> = {};
  for (const ip of frontendIps(svc)) {
    const ports: PortConfiguration = {};
    // The Service's ports as given (Cilium's service sync copies them; Kubernetes admits only TCP, UDP and SCTP).
    for (const p of svc.spec?.ports ?? []) ports[p.name ?? ''] = { Protocol: p.protocol ?? 'TCP', Port: p.port };
    frontends[ip] = ports;
  }
  const backends: Record<string, PortConfiguration> = {};
  const hostnames: Record<string, string> = {};
  const zones: Record<string, BackendZone> = {};
  for (const slice of slices) {
    if (slice.addressType === 'FQDN') continue;
    for (const ep of slice.endpoints) {
      if (ep.conditions?.ready === false && ep.conditions.serving === false) continue;
      for (const raw of ep.addresses) {
        const ip = canonicalIp(raw);
        if (!ip) continue;
        // An address in two slices takes the later slice's ports.
        const ports: PortConfiguration = {};
        for (const p of slice.ports ?? []) {
          const protocol = l4Protocol(p.protocol);
          if (p.port === undefined || !protocol) continue;
          ports[p.name ?? ''] = { Protocol: protocol, Port: p.port };
        }
        backends[ip] = ports;
        if (ep.hostname) hostnames[ip] = ep.hostname;
        const zone = (ep.zone === '' ? undefined : ep.zone) ?? endpointDeprecatedZone(ep);
        if (zone) {
          const hints = (ep.hints as { forZones?: { name: string }[] } | undefined)?.forZones;
          zones[ip] = { zone, forZones: (hints ?? []).map((h) => ({ name: h.name })) };
        }
      }
    }
  }
  const cs: ClusterService = {
    cluster: cluster.name,
    namespace: svc.metadata.namespace ?? '',
    name: svc.metadata.name,
    frontends,
    backends,
    labels: { ...(svc.metadata.labels ?? {}) },
    selector: { ...(svc.spec?.selector ?? {}) },
    includeExternal: isGlobalService(svc.metadata.annotations),
    shared: isSharedService(svc.metadata.annotations),
    clusterID: cluster.id,
  };
  if (Object.keys(hostnames).length) cs.hostnames = hostnames;
  if (Object.keys(zones).length) cs.zones = zones;
  return cs;
}
