import type { Etcd3 } from 'etcd3';
import { Backoff, prefixRangeEnd, sleep, toError, type BackoffOptions } from '../kvstore/index.js';
import type { Logger } from '../observe/logger.js';
import { MESH_RESOURCES, clusterConfigKey, cacheReachabilityKey } from '../wire/index.js';
import { cacheCanaryPrefix, copyPrefixes } from './cache-layout.js';

/** Retries `op` with backoff until it succeeds; returns false if `signal` aborted first. */
export async function retrying(
  what: string,
  op: () => Promise<void>,
  opts: { signal: AbortSignal; log: Logger; backoff?: BackoffOptions },
): Promise<boolean> {
  const backoff = new Backoff(opts.backoff);
  while (!opts.signal.aborted) {
    try {
      await op();
      return true;
    } catch (err) {
      const delay = backoff.next();
      opts.log.warn({ err: toError(err).message, retryInMs: delay }, `${what} failed; retrying`);
      await sleep(delay, opts.signal);
    }
  }
  return false;
}

/** Deletes the cluster config kvstoremesh published for `remote`. */
export async function deleteCachedClusterConfig(local: Etcd3, remote: string): Promise<void> {
  await local.kv.deleteRange({ key: Buffer.from(clusterConfigKey(remote)) });
}

/** Deletes every copy of `remote`'s data and its cache canaries, in one transaction. */
export async function deleteRemoteCache(local: Etcd3, remote: string): Promise<void> {
  const prefixes = [
    ...MESH_RESOURCES.map((r) => copyPrefixes(r, remote, false).target),
    cacheCanaryPrefix(remote),
    cacheReachabilityKey(remote),
  ];
  await local.kv.txn({
    success: prefixes.map((p) => {
      const key = Buffer.from(p);
      return { request_delete_range: { key, range_end: prefixRangeEnd(key) } };
    }),
  });
}
