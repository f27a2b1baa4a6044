import { stringify } from 'yaml';
import { writePrivateFileAtomic } from './private-file.js';

/** What one etcd client config file (Cilium's format, wire spec section 8) holds. */
export interface EtcdConfigFileSpec {
  endpoints: readonly string[];
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

export function renderEtcdConfig(spec: EtcdConfigFileSpec): string {
  const doc: Record<string, unknown> = { endpoints: [...spec.endpoints] };
  if (spec.caFile) doc['trusted-ca-file'] = spec.caFile;
  if (spec.certFile) doc['cert-file'] = spec.certFile;
  if (spec.keyFile) doc['key-file'] = spec.keyFile;
  return stringify(doc);
}

export async function writeEtcdConfigFile(file: string, spec: EtcdConfigFileSpec): Promise<void> {
  // Atomic: the agents and kvstoremesh follow these files at run time and must never read half of one.
  await writePrivateFileAtomic(file, renderEtcdConfig(spec));
}
