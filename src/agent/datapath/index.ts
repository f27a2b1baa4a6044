export { ServiceProxy } from './service-proxy.js';
export type { ServiceProxyOptions, ProxyVerdict, Decision, FlowQuery, ListenerStatus } from './service-proxy.js';
export { PodServer, PodServerError } from './pod-server.js';
export type { PodServerOptions } from './pod-server.js';
export { BackendSelector } from './backend-selector.js';
export type { LbAlgorithm } from './backend-selector.js';
export {
  maglevTable,
  offsetAndSkip,
  murmurSeed,
  flowHash,
  MAGLEV_TABLE_SIZE,
  MAGLEV_HASH_SEED,
  MaglevError,
} from './maglev.js';
export { murmur3x64128 } from './murmur3.js';
export { isLoopbackCidr, isLoopbackV4 } from './loopback.js';
export {
  hostAddress,
  hostRange,
  podAddressCandidates,
  podAddressOf,
  requireHostAddress,
  NoHostAddressError,
} from './host-address.js';
