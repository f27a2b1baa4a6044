/**
 * The remote-cluster lifecycle shared by the agent and kvstoremesh: the config directory, one connection loop per
 * remote (config file -> connect -> cluster config -> sessions with probes and heartbeat), and the mesh's
 * cluster ID bookkeeping. Components plug in what they read from each remote.
 */
export * from './config-directory.js';
export * from './link-state.js';
export * from './remote-cluster-manager.js';
export * from './remote-link.js';
export * from './remote-session.js';
