/**
 * The floor for bench:apiserver's bootstrap: the least work any apiserver must do to publish the ipcache from the
 * state store, with none of the apiserver's book-keeping (no informer, IP claims, SyncStore, restart safety or
 * canary). It lists the CiliumEndpoints page by page, decodes each with the apiserver's own decodeObject, derives
 * and encodes its ipcache entries, and writes them under a lease in txns of 128 puts, 4 in flight, while it lists.
 * Its ratio against the raw puts says what this machine allows; the apiserver's, how close the apiserver comes.
 * Usage: node --import tsx bench/apiserver-floor.child.ts STATE_ENDPOINT MESH_ENDPOINT
 * Prints one JSON line: {"ms": first list call to last txn answered, "cpuMs": CPU time of the process meanwhile}.
 */
process.env.CMESH_LOG_LEVEL ??= 'warn';
const { createEtcdClient } = await import('../src/kvstore/client.js');
const { rangeRaw, txnPutsDeletes } = await import('../src/kvstore/kv-calls.js');
const { LIST_PAGE_SIZE, keyAfter, prefixRangeEnd } = await import('../src/kvstore/list-watcher.js');
const { decodeObject } = await import('../src/k8s/codec.js');
const { kindPrefix } = await import('../src/k8s/keys.js');
const { endpointToIpcache } = await import('../src/k8s/endpoint-converter.js');
const { encodeIPIdentityPair, resourceWatchPrefix } = await import('../src/wire/index.js');
const { BENCH_CLUSTER } = await import('./apiserver-cluster.js');
const { MAX_TXN_OPS, MAX_TXNS_IN_FLIGHT } = await import('../src/kvstore/sync-store.js');
const { utf8Bytes } = await import('../src/kvstore/byte-string.js');
import type { TxnOp } from '../src/kvstore/kv-wire.js';

const LEASE_TTL_SECONDS = 600;

const [stateEndpoint, meshEndpoint] = process.argv.slice(2);
if (!stateEndpoint || !meshEndpoint) {
  console.error('usage: apiserver-floor.child.ts STATE_ENDPOINT MESH_ENDPOINT');
  process.exit(2);
}
const state = createEtcdClient({ endpoints: [stateEndpoint] });
const mesh = createEtcdClient({ endpoints: [meshEndpoint] });
const keyPrefix = Buffer.from(resourceWatchPrefix('ip', BENCH_CLUSTER.clusterName));
const listPrefix = Buffer.from(kindPrefix('CiliumEndpoint'));
const rangeEnd = prefixRangeEnd(listPrefix);

const t0 = performance.now();
const cpu0 = process.cpuUsage();
const { ID: lease } = await mesh.leaseClient.leaseGrant({ TTL: LEASE_TTL_SECONDS });
const inFlight = new Set<Promise<unknown>>();
let batch: TxnOp[] = [];
/** Sends the batch once a txn slot is free: waiting for one is the backpressure that lets responses in. */
const flush = async (): Promise<void> => {
  const ops = batch;
  batch = [];
  while (inFlight.size >= MAX_TXNS_IN_FLIGHT) await Promise.race(inFlight);
  const txn: Promise<unknown> = txnPutsDeletes(mesh, ops, lease, keyPrefix).finally(() => inFlight.delete(txn));
  inFlight.add(txn);
};

let page = await rangeRaw(state, { key: listPrefix, rangeEnd, limit: LIST_PAGE_SIZE });
const revision = page.revision;
for (;;) {
  // The next page is fetched while this one is decoded, as the ListWatcher does.
  const next =
    page.more && page.lastKey
      ? rangeRaw(state, {
          key: keyAfter(page.lastKey),
          rangeEnd,
          limit: LIST_PAGE_SIZE,
          revision,
        })
      : undefined;
  for (const kv of page.kvs) {
    const cep = decodeObject('CiliumEndpoint', kv.key, kv.value, kv.modRevision);
    for (const p of endpointToIpcache(cep)) batch.push({ key: p.IP, value: utf8Bytes(encodeIPIdentityPair(p)) });
    if (batch.length >= MAX_TXN_OPS) await flush();
  }
  if (!next) break;
  page = await next;
}
if (batch.length > 0) await flush();
await Promise.all(inFlight);
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
console.log(JSON.stringify({ ms, cpuMs: (cpu.user + cpu.system) / 1000 }));
state.close();
mesh.close();
