export * from './types.js';
export { PolicyEngine, ANY_IDENTITY } from './engine.js';
export type {
  PolicyEngineOptions,
  EndpointPolicyView,
  PolicyMapEntry,
  PolicyStatus,
  UpsertResult,
  EngineStats,
} from './engine.js';
export { parsePolicy, policyName, entitySelectors } from './parse-policy.js';
export type { ParsedPolicy, ParsedRule, PeerRule, ParseOptions } from './parse-policy.js';
export { tracePolicy, ipcachePodLocator, parseDport, TraceError } from './trace.js';
export type { TraceRequest, TraceResult, TraceStep, TracePeer, PodLocator } from './trace.js';
export { localEndpointOf } from './endpoint-source.js';
