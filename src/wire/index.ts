/** Cilium's clustermesh wire format: keys, value codecs, identity layout and validation. Pure: no I/O. */
export * from './errors.js';
export * from './cluster.js';
export * from './identity-layout.js';
export * from './labels.js';
export * from './keys.js';
export * from './object-ref.js';
export * from './ip.js';
export * from './timestamps.js';
export * from './cluster-config.js';
export * from './node.js';
export * from './ipcache.js';
export * from './cluster-service.js';
export * from './service-export.js';
export * from './identity.js';
export * from './validate.js';
export * from './register-node.js';
export { goString, compareGoStrings } from './json-encode.js';
