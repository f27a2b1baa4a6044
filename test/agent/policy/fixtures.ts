/** Identities, endpoints and policy builders shared by the policy tests. */
import type { CiliumClusterwideNetworkPolicy, CiliumNetworkPolicy } from '../../../src/k8s/types.js';
import { PolicyEngine } from '../../../src/agent/policy/index.js';

export const LOCAL = 'c1';
export const REMOTE = 'c2';

export function podLabels(cluster: string, namespace: string, labels: Record<string, string>): string[] {
  return [
    ...Object.entries(labels).map(([k, v]) => `k8s:${k}=${v}`),
    `k8s:io.kubernetes.pod.namespace=${namespace}`,
    `k8s:io.cilium.k8s.policy.cluster=${cluster}`,
  ];
}

/** Identities: c1 in 65536.., c2 in 131072.. (cluster ID << 16). */
export const ID = {
  client: 65537,
  web: 65538,
  otherNsClient: 65539,
  containerClient: 65540,
  db: 65541,
  remoteClient: 131073,
  remoteWeb: 131074,
} as const;

export function seed(engine: PolicyEngine): void {
  engine.upsertIdentity(ID.client, podLabels(LOCAL, 'default', { app: 'client', tier: 'front' }));
  engine.upsertIdentity(ID.web, podLabels(LOCAL, 'default', { app: 'web' }));
  engine.upsertIdentity(ID.otherNsClient, podLabels(LOCAL, 'other', { app: 'client' }));
  engine.upsertIdentity(ID.containerClient, [
    'container:app=client',
    'k8s:io.kubernetes.pod.namespace=default',
    `k8s:io.cilium.k8s.policy.cluster=${LOCAL}`,
  ]);
  engine.upsertIdentity(ID.db, podLabels(LOCAL, 'default', { app: 'db', tier: 'back' }));
  engine.upsertIdentity(ID.remoteClient, podLabels(REMOTE, 'default', { app: 'client', tier: 'front' }));
  engine.upsertIdentity(ID.remoteWeb, podLabels(REMOTE, 'default', { app: 'web' }));
  engine.upsertEndpoint({
    id: 'default/web',
    namespace: 'default',
    identity: ID.web,
    labels: podLabels(LOCAL, 'default', { app: 'web' }),
    ips: ['10.10.0.2'],
  });
  engine.upsertEndpoint({
    id: 'default/client',
    namespace: 'default',
    identity: ID.client,
    labels: podLabels(LOCAL, 'default', { app: 'client', tier: 'front' }),
    ips: ['10.10.0.1'],
  });
}

export function newEngine(defaultLocalCluster = true): PolicyEngine {
  const e = new PolicyEngine({ clusterName: LOCAL, defaultLocalCluster });
  seed(e);
  return e;
}

export function cnp(name: string, spec: Record<string, unknown>, namespace = 'default'): CiliumNetworkPolicy {
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumNetworkPolicy',
    metadata: { name, namespace },
    spec: spec,
  };
}

export function ccnp(name: string, spec: Record<string, unknown>): CiliumClusterwideNetworkPolicy {
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumClusterwideNetworkPolicy',
    metadata: { name },
    spec: spec,
  };
}

/** A rule selecting default/web with the given ingress section. */
export function webIngress(ingress: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { endpointSelector: { matchLabels: { app: 'web' } }, ingress, ...extra };
}
