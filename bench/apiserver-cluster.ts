/** The cluster the apiserver benchmark publishes and its CiliumEndpoints, in the bench process and its children. */
import type { CiliumEndpoint } from '../src/k8s/types.js';

export const BENCH_CLUSTER = { clusterName: 'east', clusterId: 7, maxConnectedClusters: 255 } as const;

/** The i-th endpoint; `generation` > 0 is the same endpoint after its pod was replaced (a new pod UID). */
export function benchEndpoint(i: number, ns: string, generation = 0): CiliumEndpoint {
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumEndpoint',
    metadata: {
      name: `web-${i.toString(36)}`,
      namespace: ns,
      uid: `uid-${i}`,
      ownerReferences: [
        {
          apiVersion: 'v1',
          kind: 'Pod',
          name: `web-${i.toString(36)}`,
          uid: `4f1c-${i.toString(16)}${generation > 0 ? `-g${generation}` : ''}`,
        },
      ],
    },
    status: {
      id: i + 1,
      identity: { id: 459001 + (i % 500), labels: ['k8s:app=web'] },
      networking: { addressing: [{ ipv4: `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}` }], node: '172.20.0.4' },
      encryption: { key: 3 },
      'named-ports': [{ name: 'http', port: 8080, protocol: 'TCP' }],
      'service-account': 'web',
      state: 'ready',
    },
  };
}
