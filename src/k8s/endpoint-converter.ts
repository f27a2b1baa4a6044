import type { CiliumEndpoint } from './types.js';
import { canonicalIp, type IPIdentityPair, type NamedPort } from '../wire/index.js';

/**
 * CiliumEndpoint -> one IPIdentityPair per address (IPv4 and IPv6), as Cilium 1.20's clustermesh-apiserver writes
 * them: also for an endpoint without an identity yet (`ID` 0), with no pod UID, and each named port's protocol copied
 * as given. An endpoint without an address yields nothing.
 */
export function endpointToIpcache(cep: CiliumEndpoint): IPIdentityPair[] {
  const st = cep.status;
  const id = st?.identity?.id ?? 0;
  const addressing = st?.networking?.addressing;
  if (!addressing?.length) return [];
  const hostIp = canonicalIp(st?.networking?.node ?? '') ?? '';
  const namedPorts: NamedPort[] | undefined = st?.['named-ports']?.length
    ? st['named-ports'].map((p) => ({ Name: p.name, Port: p.port, Protocol: p.protocol ?? '' }))
    : undefined;
  const out: IPIdentityPair[] = [];
  for (const pair of addressing) {
    for (const raw of [pair.ipv4, pair.ipv6]) {
      const ip = raw ? canonicalIp(raw) : undefined;
      if (!ip) continue;
      const p: IPIdentityPair = {
        IP: ip,
        HostIP: hostIp,
        ID: id,
        Key: st?.encryption?.key ?? 0,
        Metadata: '',
        K8sNamespace: cep.metadata.namespace ?? '',
        K8sPodName: cep.metadata.name,
      };
      if (st?.['service-account']) p.K8sServiceAccount = st['service-account'];
      if (namedPorts) p.NamedPorts = namedPorts;
      out.push(p);
    }
  }
  return out;
}
