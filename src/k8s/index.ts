export * from './types.js';
export * from './names.js';
export * from './keys.js';
export * from './validation-error.js';
export * from './errors.js';
export * from './label-selector.js';
export * from './schemas.js';
export * from './codec.js';
export * from './manifest.js';
export * from './object-client.js';
export * from './retry-on-conflict.js';
export * from './object-store.js';
export * from './source.js';
export * from './local-source.js';
// The Kubernetes source and client (kubeconfig.ts, kube-*.ts) are imported by path: @kubernetes/client-node takes
// about a second to load, which a process that does not use them should not pay.
