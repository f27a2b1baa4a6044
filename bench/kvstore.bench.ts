/**
 * kvstore throughput against one real etcd (test harness):
 *   (a) raw txns of 128 puts, sequential and 4 in flight            (b) SyncStore writing the same entries
 *   (c) raw range read of every key                                 (d) WatchStore list + JSON decode into its cache
 * The raw calls use the fastest client path cmesh has (kv-wire.ts's encoding on etcd3's connections, which the
 * layers use too), so the ratios measure what the layers add. Issue 2 states its baseline as etcd3's own calls
 * (protobufjs objects): (a3) and (c3) measure those too, and both ratios are printed.
 * Targets: b/a >= 0.7 and c/d >= 0.7 (the layers cost at most ~30% over raw etcd).
 * Run: npm run bench:kvstore   (ENTRIES=20000 npm run bench:kvstore for a quick run)
 */
import type { Etcd3 } from 'etcd3';
import type { IPIdentityPair } from '../src/wire/ipcache.js';

// Info logs (canary written, session started) would interleave with the table; set before any logger exists.
process.env.CMESH_LOG_LEVEL ??= 'warn';
const { TestEtcd } = await import('../test/harness/etcd.js');
const { createEtcdClient } = await import('../src/kvstore/client.js');
const { SyncStore } = await import('../src/kvstore/sync-store.js');
const { WatchStore } = await import('../src/kvstore/watch-store.js');
const { keyAfter, prefixRangeEnd } = await import('../src/kvstore/list-watcher.js');
const { rangeRaw, txnPutsDeletes } = await import('../src/kvstore/kv-calls.js');
const { encodeIPIdentityPair } = await import('../src/wire/ipcache.js');
const { timeBatched } = await import('./batches.js');

const ENTRIES = Number(process.env.ENTRIES ?? 100_000);
const TXN_OPS = 128;
const RAW_PIPELINE = 4;
const TARGET = 0.7;
const WRITE_REPEATS = 2;
const READ_REPEATS = 3;

function entry(i: number): [string, string] {
  const ip = `10.${244 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
  const pair: IPIdentityPair = {
    IP: ip,
    HostIP: `172.20.${(i >> 8) & 255}.4`,
    ID: 459001 + (i % 500),
    Key: 3,
    Metadata: '',
    K8sNamespace: 'shop',
    K8sPodName: `web-${i.toString(36)}`,
    K8sServiceAccount: 'web',
    NamedPorts: [
      { Name: 'http', Port: 8080, Protocol: 'TCP' },
      { Name: 'dns', Port: 53, Protocol: 'UDP' },
    ],
  };
  return [ip, encodeIPIdentityPair(pair)];
}

const entries: [string, Buffer][] = [];
for (let i = 0; i < ENTRIES; i++) {
  const [k, v] = entry(i);
  entries.push([k, Buffer.from(v)]);
}

function rawWrite(client: Etcd3, prefix: string, inFlight: number): Promise<number> {
  return timeBatched(entries, TXN_OPS, inFlight, (batch) =>
    txnPutsDeletes(
      client,
      batch.map(([k, value]) => ({ key: prefix + k, value })),
    ),
  );
}

/** (a3): the same txns through etcd3's own kv.txn (protobufjs encoding), 4 in flight. */
function etcd3Write(client: Etcd3, prefix: string): Promise<number> {
  return timeBatched(entries, TXN_OPS, RAW_PIPELINE, (batch) =>
    client.kv.txn({ success: batch.map(([k, value]) => ({ request_put: { key: Buffer.from(prefix + k), value } })) }),
  );
}

async function syncStoreWrite(client: Etcd3, prefix: string): Promise<number> {
  const t0 = performance.now();
  const store = new SyncStore(client, { prefix, clusterName: 'bench' });
  for (const [k, v] of entries) store.upsert(k, v);
  await store.synced();
  const ms = performance.now() - t0;
  await store.close();
  return ms;
}

/** One page of a range read: how many keys it held, the last one, and whether more follow. */
interface Page {
  count: number;
  lastKey: Buffer | undefined;
  more: boolean;
}

/**
 * Reads every key under `prefix` page by page (the first page fixes the revision; `fetch` keeps it) and returns
 * the time and the number of keys.
 */
async function timePagedRead(
  prefix: string,
  fetch: (start: Buffer, end: Buffer) => Promise<Page>,
): Promise<{ ms: number; n: number }> {
  const t0 = performance.now();
  const key = Buffer.from(prefix);
  const end = prefixRangeEnd(key);
  let n = 0;
  let start: Buffer = key;
  for (;;) {
    const page = await fetch(start, end);
    n += page.count;
    if (!page.more || !page.lastKey) break;
    start = keyAfter(page.lastKey);
  }
  return { ms: performance.now() - t0, n };
}

function rawRead(client: Etcd3, prefix: string, pageSize: number): Promise<{ ms: number; n: number }> {
  let revision = 0;
  return timePagedRead(prefix, async (start, end) => {
    const res = await rangeRaw(client, { key: start, rangeEnd: end, limit: pageSize, revision });
    if (revision === 0) revision = res.revision;
    return { count: res.kvs.length, lastKey: res.lastKey, more: res.more };
  });
}

/** (c3): the same pages through etcd3's own kv.range. */
function etcd3Read(client: Etcd3, prefix: string, pageSize: number): Promise<{ ms: number; n: number }> {
  let revision = '0';
  return timePagedRead(prefix, async (start, end) => {
    const res = await client.kv.range({ key: start, range_end: end, limit: pageSize, revision });
    if (revision === '0') revision = res.header.revision;
    return { count: res.kvs.length, lastKey: res.kvs[res.kvs.length - 1]?.key, more: res.more };
  });
}

async function watchStoreList(client: Etcd3, prefix: string): Promise<{ ms: number; n: number }> {
  const t0 = performance.now();
  const store = new WatchStore<unknown>({
    prefix,
    decode: (_suffix, value) => JSON.parse(value.toString()) as unknown,
  });
  store.watch(client);
  await store.synced;
  const ms = performance.now() - t0;
  const n = store.size;
  await store.stop();
  return { ms, n };
}

const best = <T extends { ms: number }>(xs: T[]): T => xs.reduce((a, b) => (b.ms < a.ms ? b : a));

async function main(): Promise<void> {
  const etcd = await TestEtcd.start();
  const client = createEtcdClient({ endpoints: [etcd.endpoint] });
  try {
    await client.put('bench/warmup').value('x');
    const bytes = entries.reduce((a, [k, v]) => a + k.length + v.length, 0);
    console.log(
      `etcd ${etcd.endpoint}; ${ENTRIES} IPIdentityPair entries, ${(bytes / 1e6).toFixed(1)} MB of keys+values`,
    );

    // Interleaved and repeated (best of each): the database grows with every run, and this machine is shared.
    const seqRuns: number[] = [];
    const pipeRuns: number[] = [];
    const syncRuns: number[] = [];
    const etcd3Runs: number[] = [];
    for (let rep = 0; rep < WRITE_REPEATS; rep++) {
      seqRuns.push(await rawWrite(client, `bench/raw-seq-${rep}/`, 1));
      pipeRuns.push(await rawWrite(client, `bench/raw-pipe-${rep}/`, RAW_PIPELINE));
      etcd3Runs.push(await etcd3Write(client, `bench/etcd3-${rep}/`));
      syncRuns.push(await syncStoreWrite(client, rep === 0 ? 'cilium/state/ip/v1/default' : `bench/sync-${rep}`));
    }
    const rawSeq = Math.min(...seqRuns);
    const rawPipe = Math.min(...pipeRuns);
    const sync = Math.min(...syncRuns);
    const rawBestWrite = Math.min(rawSeq, rawPipe);
    const etcd3BestWrite = Math.min(...etcd3Runs);

    const prefix = 'cilium/state/ip/v1/default/';
    const reads = [];
    const etcd3Reads = [];
    const ws = [];
    for (let rep = 0; rep < READ_REPEATS; rep++) {
      for (const page of [0, 10_000]) reads.push({ page, ...(await rawRead(client, prefix, page)) });
      for (const page of [0, 10_000]) etcd3Reads.push({ page, ...(await etcd3Read(client, prefix, page)) });
      ws.push(await watchStoreList(client, prefix));
    }
    const rawBestRead = best(reads);
    const etcd3BestRead = best(etcd3Reads);
    const wsBest = best(ws);
    if (rawBestRead.n !== ENTRIES || etcd3BestRead.n !== ENTRIES || wsBest.n !== ENTRIES) {
      throw new Error(`read ${rawBestRead.n}/${etcd3BestRead.n}/${wsBest.n} entries`);
    }

    const rate = (ms: number) => `${Math.round(ENTRIES / (ms / 1000)).toLocaleString('en-US')}/s`;
    const rows: [string, number][] = [
      [`(a) raw txns x${TXN_OPS}, sequential`, rawSeq],
      [`(a) raw txns x${TXN_OPS}, ${RAW_PIPELINE} in flight`, rawPipe],
      [`(a3) etcd3 kv.txn x${TXN_OPS}, ${RAW_PIPELINE} in flight`, etcd3BestWrite],
      ['(b) SyncStore upsert -> canary written', sync],
      [
        `(c) raw range read (${rawBestRead.page ? `pages of ${rawBestRead.page}` : 'single range'}, best)`,
        rawBestRead.ms,
      ],
      [
        `(c3) etcd3 kv.range (${etcd3BestRead.page ? `pages of ${etcd3BestRead.page}` : 'single range'}, best)`,
        etcd3BestRead.ms,
      ],
      ['(d) WatchStore list + JSON decode (best)', wsBest.ms],
    ];
    console.log('');
    console.log(`${'measure'.padEnd(48)} ${'ms'.padStart(9)} ${'entries/s'.padStart(12)}`);
    for (const [name, ms] of rows)
      console.log(`${name.padEnd(48)} ${ms.toFixed(0).padStart(9)} ${rate(ms).padStart(12)}`);
    const verdict = (r: number): string => `${r.toFixed(2)} ${r >= TARGET ? 'OK' : 'BELOW TARGET'}`;
    console.log('');
    console.log(`write ratio b/a  (throughput SyncStore / best raw):  ${verdict(rawBestWrite / sync)}`);
    console.log(`write ratio b/a3 (against etcd3's own txn):          ${verdict(etcd3BestWrite / sync)}`);
    console.log(`read ratio c/d   (time raw / WatchStore):            ${verdict(rawBestRead.ms / wsBest.ms)}`);
    console.log(`read ratio c3/d  (against etcd3's own range):        ${verdict(etcd3BestRead.ms / wsBest.ms)}`);
    const list = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(' ');
    console.log(
      `runs (ms): raw seq ${list(seqRuns)}; raw x${RAW_PIPELINE} ${list(pipeRuns)}; etcd3 x${RAW_PIPELINE} ${list(etcd3Runs)}; SyncStore ${list(syncRuns)}`,
    );
    console.log(
      `           range ${reads.map((r) => `${r.page || 'single'}=${r.ms.toFixed(0)}`).join(' ')}; etcd3 range ${etcd3Reads.map((r) => `${r.page || 'single'}=${r.ms.toFixed(0)}`).join(' ')}; WatchStore ${list(ws.map((r) => r.ms))}`,
    );
  } finally {
    client.close();
    await etcd.stop();
  }
}

await main();
