/** The cluster the apiserver benchmark publishes, in the bench process and in its bootstrap child alike. */
export const BENCH_CLUSTER = { clusterName: 'east', clusterId: 7, maxConnectedClusters: 255 } as const;
