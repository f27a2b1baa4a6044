import type { Etcd3 } from 'etcd3';
import type { KeyValue, ListWatchHandler } from '../../src/kvstore/types.js';

export const WAIT_TIMEOUT_MS = 20_000;

/** Polls `cond` until it is true; fails with `what` after the timeout. */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = WAIT_TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const sleepMs = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Everything under `prefix` in etcd right now: key -> { value, modRevision, version }. */
export async function etcdContent(
  client: Etcd3,
  prefix: string,
): Promise<Map<string, { value: string; modRevision: number; version: number; lease: string }>> {
  const res = await client.getAll().prefix(prefix).exec();
  const out = new Map<string, { value: string; modRevision: number; version: number; lease: string }>();
  for (const kv of res.kvs) {
    out.set(kv.key.toString(), {
      value: kv.value.toString(),
      modRevision: Number(kv.mod_revision),
      version: Number(kv.version),
      lease: kv.lease,
    });
  }
  return out;
}

export async function currentRevision(client: Etcd3): Promise<number> {
  const res = await client.kv.range({ key: Buffer.from('\0'), limit: 1 });
  return Number(res.header.revision);
}

/**
 * A ListWatchHandler that records a consumer's view and checks the delivery invariants as it goes:
 * per key, delivered mod revisions strictly increase; deletes only for keys the view holds.
 */
export class Recorder implements ListWatchHandler {
  readonly view = new Map<string, KeyValue>();
  readonly lastRevision = new Map<string, number>();
  readonly puts = new Map<string, number>();
  readonly deletes: { key: string; modRevision: number }[] = [];
  readonly violations: string[] = [];
  listStarts = 0;
  listDones: number[] = [];
  errors: Error[] = [];
  events = 0;
  /** Every `slowEvery` events the handler returns a promise that resolves on the next macrotask. */
  constructor(private readonly slowEvery = 0) {}

  onListStart(): void {
    this.listStarts++;
  }

  onUpsert(kv: KeyValue): void | Promise<void> {
    const last = this.lastRevision.get(kv.key) ?? 0;
    if (kv.modRevision <= last) this.violations.push(`${kv.key}: upsert rev ${kv.modRevision} <= ${last}`);
    this.lastRevision.set(kv.key, kv.modRevision);
    this.view.set(kv.key, kv);
    this.puts.set(kv.key, (this.puts.get(kv.key) ?? 0) + 1);
    return this.tick();
  }

  onDelete(key: string, modRevision: number): void | Promise<void> {
    const last = this.lastRevision.get(key) ?? 0;
    if (modRevision <= last) this.violations.push(`${key}: delete rev ${modRevision} <= ${last}`);
    if (!this.view.has(key)) this.violations.push(`${key}: delete of a key not in the view`);
    this.lastRevision.set(key, modRevision);
    this.view.delete(key);
    this.deletes.push({ key, modRevision });
    return this.tick();
  }

  onListDone(revision: number): void {
    this.listDones.push(revision);
  }

  onError(err: Error): void {
    this.errors.push(err);
  }

  private tick(): void | Promise<void> {
    this.events++;
    if (this.slowEvery > 0 && this.events % this.slowEvery === 0) {
      return new Promise((r) => setImmediate(r));
    }
  }

  /** The view as key -> value strings. */
  values(): Map<string, string> {
    return new Map([...this.view].map(([k, kv]) => [k, kv.value.toString()]));
  }
}
