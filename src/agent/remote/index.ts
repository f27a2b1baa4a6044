/** The agent's remote-cluster side: one RemoteCluster per remote, validation, the sink feed. */
export * from './cluster-mesh.js';
export * from './metrics.js';
export * from './remote-cluster.js';
export * from './remote-stores.js';
