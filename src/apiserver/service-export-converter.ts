import type { Service, ServiceExport as ServiceExportObject } from '../k8s/types.js';
import { encodeServiceExport, type ServiceExport } from '../wire/index.js';
import type { ClusterIdentity } from '../k8s/node-converter.js';

/**
 * Service + its ServiceExport -> the MCS ServiceExport value as Cilium 1.20 writes it (legacy `Labels`/`Annotations`
 * copies, `ipFamilies`, `internalTrafficPolicy`, `trafficDistribution`); ExternalName services are never exported.
 */
export function serviceToExport(svc: Service, exp: ServiceExportObject, cluster: ClusterIdentity): string | undefined {
  if (svc.spec?.type === 'ExternalName') return undefined;
  const value: ServiceExport = {
    cluster: cluster.name,
    name: svc.metadata.name,
    namespace: svc.metadata.namespace ?? '',
    exportCreationTimestamp: (exp.metadata.creationTimestamp ?? new Date(0).toISOString()).replace(/\.\d+Z$/, 'Z'),
    ports: (svc.spec?.ports ?? []).map((p) => ({
      ...(p.name ? { name: p.name } : {}),
      protocol: p.protocol ?? 'TCP',
      ...(p.appProtocol !== undefined ? { appProtocol: p.appProtocol } : {}),
      port: p.port,
    })),
    type: svc.spec?.clusterIP === 'None' ? 'Headless' : 'ClusterSetIP',
    sessionAffinity: svc.spec?.sessionAffinity ?? 'None',
  };
  if (exp.spec?.exportedAnnotations) value.annotations = exp.spec.exportedAnnotations;
  if (exp.spec?.exportedLabels) value.labels = exp.spec.exportedLabels;
  // Only a set clientIP.timeoutSeconds makes a sessionAffinityConfig (Cilium's FromCiliumServiceToMCSAPIServiceSpec).
  const cfg = svc.spec?.sessionAffinityConfig as ServiceExport['sessionAffinityConfig'] | undefined;
  const timeout = cfg?.clientIP?.timeoutSeconds;
  if (typeof timeout === 'number') value.sessionAffinityConfig = { clientIP: { timeoutSeconds: timeout } };
  if (svc.spec?.ipFamilies?.length) value.ipFamilies = [...svc.spec.ipFamilies];
  if (svc.spec?.internalTrafficPolicy) value.internalTrafficPolicy = svc.spec.internalTrafficPolicy;
  const td = svc.spec?.trafficDistribution;
  if (typeof td === 'string' && td !== '') value.trafficDistribution = td;
  return encodeServiceExport(value);
}
