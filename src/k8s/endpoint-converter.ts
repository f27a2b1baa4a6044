import type { CiliumEndpoint } from './types.js';
import { canonicalIp, type IPIdentityPair, type NamedPort } from '../wire/index.js';

/**
 * CiliumEndpoint -> one IPIdentityPair per address (IPv4 and IPv6), as Cilium's clustermesh-apiserver writes them.
 * An endpoint without an identity or an address yields nothing (it is not ready to be shared yet).
 */
export function endpointToIpcache(cep: CiliumEndpoint): IPIdentityPair[] {
  const st = cep.status;
  const id = st?.identity?.id;
  const addressing = st?.networking?.addressing;
  if (id === undefined || !addressing?.length) return [];
  const hostIp = canonicalIp(st?.networking?.node ?? '') ?? '';
  const podUid = cep.metadata.ownerReferences?.find((o) => o.kind === 'Pod')?.uid;
  const namedPorts: NamedPort[] | undefined = st?.['named-ports']?.length
    ? st['named-ports'].map((p) => ({ Name: p.name, Port: p.port, Protocol: p.protocol ?? 'TCP' }))
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
      if (podUid) p.K8sPodUID = podUid;
      if (st?.['service-account']) p.K8sServiceAccount = st['service-account'];
      if (namedPorts) p.NamedPorts = namedPorts;
      out.push(p);
    }
  }
  return out;
}
