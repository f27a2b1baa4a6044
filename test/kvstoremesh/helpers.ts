/** Helpers for kvstoremesh tests: a local clustermesh etcd, kvstoremesh instances with short intervals, etcd reads. */
import type { Etcd3 } from 'etcd3';
import { prefixRangeEnd } from '../../src/kvstore/index.js';
import { KVStoreMesh, type KVStoreMeshOptions, type KVStoreMeshTuning } from '../../src/kvstoremesh/kvstoremesh.js';
import { FAST } from '../agent/remote/helpers.js';

export {
  ConfigDir,
  FakeRemote,
  RecordingSink,
  clusterIdentity,
  identityLabels,
  makeIpcache,
  makeNode,
  makeService,
  sleepMs,
  waitFor,
} from '../agent/remote/helpers.js';

const { configDebounceMs, configRescanMs, ...linkTuning } = FAST;

export const KM_FAST: KVStoreMeshTuning = {
  ...linkTuning,
  ...(configDebounceMs !== undefined ? { configDebounceMs } : {}),
  ...(configRescanMs !== undefined ? { configRescanMs } : {}),
  removalBackoff: { initialMs: 50, maxMs: 300 },
  leaseTtlSeconds: 60,
};

/** The source -> cache prefix mapping of a remote read directly (spelled out, not computed by the code under test). */
export function directMapping(remote: string): [string, string][] {
  return [
    [`cilium/state/nodes/v1/${remote}/`, `cilium/cache/nodes/v1/${remote}/`],
    [`cilium/state/services/v1/${remote}/`, `cilium/cache/services/v1/${remote}/`],
    // Identity master keys only (nothing under value/ or locks/), as Cilium's kvstoremesh copies them.
    [`cilium/state/identities/v1/id/`, `cilium/cache/identities/v1/${remote}/id/`],
    [`cilium/state/ip/v1/default/`, `cilium/cache/ip/v1/${remote}/`],
  ];
}

export interface StoredKey {
  value: Buffer;
  lease: string;
  modRevision: string;
}

/** Every key under `prefix`, by key. */
export async function readPrefix(client: Etcd3, prefix: string): Promise<Map<string, StoredKey>> {
  const key = Buffer.from(prefix);
  const res = await client.kv.range({ key, range_end: prefixRangeEnd(key) });
  return new Map(
    res.kvs.map((kv) => [kv.key.toString(), { value: kv.value, lease: kv.lease, modRevision: kv.mod_revision }]),
  );
}

/** Suffix -> value of every key under `prefix`. */
export async function readSuffixes(client: Etcd3, prefix: string): Promise<Map<string, string>> {
  const all = await readPrefix(client, prefix);
  return new Map([...all].map(([k, v]) => [k.slice(prefix.length), v.value.toString()]));
}

export async function getKey(client: Etcd3, key: string): Promise<string | undefined> {
  return (await client.get(key).string()) ?? undefined;
}

/** Polls an async condition. */
export async function waitForAsync(what: string, cond: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 30));
  }
}

export function makeKVStoreMesh(local: Etcd3, configDir: string, opts: Partial<KVStoreMeshOptions> = {}): KVStoreMesh {
  return new KVStoreMesh({
    clusterName: 'c1',
    clusterId: 1,
    maxConnectedClusters: 255,
    configDir,
    local,
    ...opts,
    tuning: { ...KM_FAST, ...opts.tuning },
  });
}
