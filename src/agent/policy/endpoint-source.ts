/** The policy engine's view of a CiliumEndpoint: its id, identity, identity labels and addresses. */
import type { CiliumEndpoint } from '../../k8s/types.js';
import { canonicalIp, objectRef } from '../../wire/index.js';
import type { LocalEndpoint } from './types.js';

/** Undefined while the endpoint has no identity yet (no policy can be computed for it). */
export function localEndpointOf(cep: CiliumEndpoint, identityLabels?: readonly string[]): LocalEndpoint | undefined {
  const id = cep.status?.identity?.id;
  if (id === undefined) return undefined;
  const ips: string[] = [];
  for (const a of cep.status?.networking?.addressing ?? []) {
    for (const raw of [a.ipv4, a.ipv6]) {
      const ip = raw ? canonicalIp(raw) : undefined;
      if (ip) ips.push(ip);
    }
  }
  const namespace = cep.metadata.namespace ?? '';
  return {
    id: objectRef(namespace, cep.metadata.name),
    namespace,
    identity: id,
    labels: cep.status?.identity?.labels ?? identityLabels ?? [],
    ips,
  };
}
