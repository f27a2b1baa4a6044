import type { Etcd3 } from 'etcd3';
import { Backoff, prefixRangeEnd, sleep, toError, type BackoffOptions } from '../kvstore/index.js';
import type { Logger } from '../observe/logger.js';
import {
  CACHE_CANARY_STORES,
  SYNCED_PREFIX,
  clusterConfigKey,
  cacheReachabilityKey,
  storePrefix,
} from '../wire/index.js';
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
    ...CACHE_CANARY_STORES.map((r) => copyPrefixes(r, remote, false).target),
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

/**
 * The names that follow `prefix` in the keys under it (`<prefix><name>/...`, or `<prefix><name>` when `leaf`),
 * read as a skip scan: one single-key range per name, however many keys each name has.
 */
async function namesUnder(local: Etcd3, prefix: string, leaf = false): Promise<string[]> {
  const names: string[] = [];
  const end = prefixRangeEnd(Buffer.from(prefix));
  let from: Buffer = Buffer.from(prefix);
  for (;;) {
    const res = await local.kv.range({ key: from, range_end: end, limit: 1, keys_only: true });
    const key = res.kvs[0]?.key.toString();
    if (key === undefined) return names;
    const rest = key.slice(prefix.length);
    const slash = rest.indexOf('/');
    const name = leaf || slash < 0 ? rest : rest.slice(0, slash);
    if (name) names.push(name);
    from = leaf || slash < 0 ? Buffer.from(`${key}\0`) : prefixRangeEnd(Buffer.from(`${prefix}${name}/`));
  }
}

/** Every remote kvstoremesh left something of in the local etcd: copies, canaries or a reachability marker. */
export async function cachedRemotes(local: Etcd3): Promise<Set<string>> {
  const found = new Set<string>();
  for (const r of CACHE_CANARY_STORES)
    for (const n of await namesUnder(local, `${storePrefix(r, true)}/`)) found.add(n);
  const reachable = cacheReachabilityKey('');
  // `.writer` announces that this cache keeps markers; it names no remote.
  for (const n of await namesUnder(local, reachable, true)) if (!n.startsWith('.')) found.add(n);
  // cilium/synced/<cluster>/... holds the local apiserver's canaries too: only cache canaries name a remote.
  for (const n of await namesUnder(local, `${SYNCED_PREFIX}/`)) {
    const canaries = Buffer.from(cacheCanaryPrefix(n));
    const res = await local.kv.range({ key: canaries, range_end: prefixRangeEnd(canaries), count_only: true });
    if (Number(res.count) > 0) found.add(n);
  }
  return found;
}
