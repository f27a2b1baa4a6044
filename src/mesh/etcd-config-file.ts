import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';

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

/**
 * Writes a file atomically (temp file + rename): the agents and kvstoremesh follow these files at run time and
 * must never read half of one. The temp file is a dotfile, which config-directory watchers ignore.
 */
export async function writeFileAtomic(file: string, content: string, mode = 0o600): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${Date.now()}`);
  try {
    await writeFile(tmp, content, { mode });
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export async function writeEtcdConfigFile(file: string, spec: EtcdConfigFileSpec): Promise<void> {
  await writeFileAtomic(file, renderEtcdConfig(spec));
}
