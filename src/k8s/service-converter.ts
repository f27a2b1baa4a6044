import type { EndpointSlice, Service } from './types.js';
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

function frontendIps(svc: Service): string[] {
  const ips = svc.spec?.clusterIPs?.length ? svc.spec.clusterIPs : svc.spec?.clusterIP ? [svc.spec.clusterIP] : [];
  return ips.map((ip) => canonicalIp(ip)).filter((ip): ip is string => ip !== undefined);
}

/**
 * Service + its EndpointSlices -> ClusterService as Cilium's clustermesh-apiserver writes it. Backends are the ready
 * endpoints (a missing `ready` condition counts as ready, as in Kubernetes).
 */
export function serviceToClusterService(
  svc: Service,
  slices: readonly EndpointSlice[],
  cluster: ClusterIdentity,
): ClusterService {
  const frontends: Record<string, PortConfiguration> = {};
  for (const ip of frontendIps(svc)) {
    const ports: PortConfiguration = {};
    for (const p of svc.spec?.ports ?? []) ports[p.name ?? ''] = { Protocol: p.protocol ?? 'TCP', Port: p.port };
    frontends[ip] = ports;
  }
  const backends: Record<string, PortConfiguration> = {};
  const hostnames: Record<string, string> = {};
  const zones: Record<string, BackendZone> = {};
  for (const slice of slices) {
    if (slice.addressType === 'FQDN') continue;
    for (const ep of slice.endpoints) {
      if (ep.conditions?.ready === false) continue;
      for (const raw of ep.addresses) {
        const ip = canonicalIp(raw);
        if (!ip) continue;
        const ports: PortConfiguration = backends[ip] ?? {};
        for (const p of slice.ports ?? []) {
          if (p.port === undefined) continue;
          ports[p.name ?? ''] = { Protocol: p.protocol ?? 'TCP', Port: p.port };
        }
        backends[ip] = ports;
        if (ep.hostname) hostnames[ip] = ep.hostname;
        if (ep.zone) {
          const hints = (ep.hints as { forZones?: { name: string }[] } | undefined)?.forZones;
          zones[ip] = { zone: ep.zone, forZones: hints?.length ? hints : null };
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
