import {
  ClientClosedError,
  type Etcd3,
  type IDuplexStream,
  type IKeyValue,
  type IWatchRequest,
  type IWatchResponse,
} from 'etcd3';
import { logger } from '../observe/logger.js';
import { Backoff, sleep, type BackoffOptions } from './backoff.js';
import { invalidateAuthToken } from './client.js';
import { rangeRaw } from './kv-calls.js';
import {
  CompactedError,
  WatchCanceledError,
  WatchStreamEndedError,
  isAuthError,
  isCompactedError,
  toError,
} from './errors.js';
import { countQuorumError, eventsQueueSeconds, relists, scopeFromKey } from './metrics.js';
import type { KeyValue, ListWatchHandler } from './types.js';

/**
 * Keys per list page; every page is read at the first page's revision. Large on purpose: etcd 3.4 walks the
 * whole rest of the range for every page (to count it), so small pages make a 100k-key list quadratic; 10k keys of
 * ~300 bytes is a 3 MB message, well within MAX_RECEIVE_MESSAGE_BYTES.
 */
export const LIST_PAGE_SIZE = 10_000;
/**
 * A listed page is delivered in chunks of this many keys with a turn of the event loop in between: handlers that
 * resolve at once would otherwise keep everything in microtasks for a whole page, starving I/O (a consumer writing
 * each key elsewhere could not overlap its writes with the list).
 */
const LIST_YIELD_EVERY = 512;
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
/** Watch responses buffered before the stream is paused (backpressure on a slow handler). */
const WATCH_QUEUE_HIGH_WATER = 64;
const WATCH_QUEUE_LOW_WATER = 16;

const log = logger('kvstore-listwatch');

export interface ListWatcherOptions {
  pageSize?: number;
  backoff?: BackoffOptions;
}

/** etcd3 types the stream narrowly; at run time it is a gRPC duplex (a Node stream). */
type WatchStream = IDuplexStream<IWatchRequest, IWatchResponse> & { pause(): void; resume(): void };

/** Thrown inside the loop to unwind once stop() has been called. */
class StoppedSignal extends Error {}

/** The smallest key greater than every key starting with `prefix` (etcd's range_end for a prefix). */
export function prefixRangeEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** The smallest key greater than `key`: where the next page of a paged range starts. */
export function keyAfter(key: Buffer): Buffer {
  return Buffer.concat([key, Buffer.from([0])]);
}

function toKeyValue(kv: IKeyValue): KeyValue {
  return {
    key: kv.key.toString(),
    value: kv.value,
    modRevision: Number(kv.mod_revision),
    createRevision: Number(kv.create_revision),
    lease: kv.lease,
  };
}

/**
 * Lists a prefix at one revision, then watches it from the next revision, forever, delivering every change to
 * the handler in revision order (handlers are awaited one at a time).
 *
 * Resuming: after a stream error the watch restarts at (last delivered revision + 1) - never at a response
 * header's revision, which may run ahead of the events actually received. etcd sends all events of one revision
 * in one response, so a whole revision is always delivered before the resume point moves past it.
 *
 * Re-listing: when etcd has compacted the revision the watch needs, the prefix is listed again: onListStart,
 * upserts, synthetic onDelete for every known key that no longer exists, onListDone. Upserts whose modRevision
 * is not newer than the one already delivered for that key are skipped, so a re-list re-delivers nothing that
 * the handler already has; a consumer that wants a full snapshot uses a new ListWatcher (its known-key set starts
 * empty).
 */
export class ListWatcher {
  /** Resolves when the first list has been delivered completely (onListDone returned). */
  readonly synced: Promise<void>;
  private resolveSynced!: () => void;
  private readonly prefixBuf: Buffer;
  private readonly rangeEnd: Buffer;
  private readonly pageSize: number;
  private readonly backoff: Backoff;
  private readonly scope: string;
  /** key -> mod revision of the last event delivered for it. */
  private readonly known = new Map<string, number>();
  private deliveredRevision = 0;
  private stopped = false;
  private readonly abort = new AbortController();
  private stream: WatchStream | undefined;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly client: Etcd3,
    readonly prefix: string,
    private readonly handler: ListWatchHandler,
    opts: ListWatcherOptions = {},
  ) {
    this.prefixBuf = Buffer.from(prefix);
    this.rangeEnd = prefixRangeEnd(this.prefixBuf);
    this.pageSize = opts.pageSize ?? LIST_PAGE_SIZE;
    this.backoff = new Backoff(opts.backoff);
    this.scope = scopeFromKey(prefix);
    this.synced = new Promise((resolve) => {
      this.resolveSynced = resolve;
    });
  }

  /** The revision up to which every change has been delivered (0 before the first list completes). */
  get revision(): number {
    return this.deliveredRevision;
  }

  /** Number of keys currently known to exist under the prefix. */
  get size(): number {
    return this.known.size;
  }

  /** Keys currently known to exist, with the mod revision last delivered for each. */
  knownKeys(): ReadonlyMap<string, number> {
    return this.known;
  }

  /** Starts listing and watching in the background; calling it again does nothing. */
  start(): void {
    if (this.loop || this.stopped) return;
    this.loop = this.run().catch((err: unknown) => {
      log.error({ err, prefix: this.prefix }, 'list-watcher loop failed');
    });
  }

  /** Stops the watch. Idempotent; once it resolves the handler is never called again. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.stream?.cancel();
    await this.loop;
  }

  private async run(): Promise<void> {
    let needList = true;
    let lastWasAuthFailure = false;
    while (!this.stopped) {
      try {
        if (needList) {
          await this.list();
          needList = false;
        }
        await this.watch();
      } catch (e) {
        if (this.isStopped() || e instanceof StoppedSignal) return;
        const err = toError(e);
        if (isCompactedError(err)) {
          log.info({ prefix: this.prefix, revision: this.deliveredRevision }, 'watch revision compacted; re-listing');
          relists().inc({ scope: this.scope });
          needList = true;
          continue;
        }
        if (err instanceof ClientClosedError) {
          log.warn({ prefix: this.prefix }, 'etcd client closed under a running list-watcher; stopping it');
          this.stopped = true;
          return;
        }
        const authFailure = isAuthError(err);
        if (authFailure) {
          invalidateAuthToken(this.client);
          if (!lastWasAuthFailure) {
            // An expired token: a fresh one cures it at once, no need to wait.
            lastWasAuthFailure = true;
            log.info({ prefix: this.prefix }, 'etcd auth token rejected; re-authenticating');
            continue;
          }
        }
        lastWasAuthFailure = authFailure;
        if (!(err instanceof WatchStreamEndedError)) countQuorumError(err);
        log.warn({ err: err.message, prefix: this.prefix }, 'list-watch interrupted; retrying');
        try {
          this.handler.onError?.(err);
        } catch {
          // informational callback; its failure must not stop the watch
        }
        await sleep(this.backoff.next(), this.abort.signal);
      }
    }
  }

  /** A method, not a field read, so that the compiler does not assume it unchanged across awaits. */
  private isStopped(): boolean {
    return this.stopped;
  }

  private checkStopped(): void {
    if (this.stopped) throw new StoppedSignal();
  }

  private reportHandlerError(err: unknown, what: string): void {
    log.error({ err, prefix: this.prefix }, `list-watch handler ${what} failed; continuing`);
  }

  private async list(): Promise<void> {
    const h = this.handler;
    this.checkStopped();
    if (h.onListStart) {
      const r = h.onListStart();
      if (r) await r;
    }
    // On the first list nothing can have vanished, so the listed keys need no tracking (a 100k-key list is
    // dominated by per-key costs).
    const listed = this.known.size > 0 ? new Set<string>() : undefined;
    /** revision 0: the current one (the first page); the following pages are read at the first page's. */
    const fetchPage = (start: Buffer, revision: number) =>
      rangeRaw(this.client, { key: start, rangeEnd: this.rangeEnd, limit: this.pageSize, revision });
    let res = await fetchPage(this.prefixBuf, 0);
    const revision = res.revision;
    for (;;) {
      // The next page is requested before this one is delivered, so that etcd serves it meanwhile.
      const next = res.more && res.lastKey ? fetchPage(keyAfter(res.lastKey), revision) : undefined;
      next?.catch(() => undefined); // settled below; this only silences an early rejection while we deliver
      let sinceYield = 0;
      for (const kv of res.kvs) {
        if (++sinceYield >= LIST_YIELD_EVERY) {
          sinceYield = 0;
          await yieldToEventLoop();
        }
        const key = kv.key;
        listed?.add(key);
        const prev = this.known.get(key);
        if (prev !== undefined && prev >= kv.modRevision) continue;
        this.known.set(key, kv.modRevision);
        this.checkStopped();
        try {
          const r = h.onUpsert(kv);
          if (r) await r;
        } catch (err) {
          this.reportHandlerError(err, 'onUpsert');
        }
      }
      if (!next) break;
      res = await next;
    }
    const rev = revision;
    for (const key of listed ? [...this.known.keys()] : []) {
      if (listed?.has(key)) continue;
      this.known.delete(key);
      this.checkStopped();
      try {
        const r = h.onDelete(key, rev);
        if (r) await r;
      } catch (err) {
        this.reportHandlerError(err, 'onDelete');
      }
    }
    this.deliveredRevision = rev;
    this.checkStopped();
    if (h.onListDone) {
      try {
        const r = h.onListDone(rev);
        if (r) await r;
      } catch (err) {
        this.reportHandlerError(err, 'onListDone');
      }
    }
    this.backoff.reset();
    this.resolveSynced();
  }

  private async watch(): Promise<never> {
    this.checkStopped();
    const stream = (await this.client.watchClient.watch()) as WatchStream;
    this.stream = stream;
    try {
      if (this.stopped) throw new StoppedSignal();
      return await this.consume(stream);
    } finally {
      this.stream = undefined;
      stream.cancel();
    }
  }

  /** Feeds the stream's responses to the handler in order; settles when the stream ends or fails. */
  private consume(stream: WatchStream): Promise<never> {
    // A watch never ends normally: the promise only settles by rejection.
    return new Promise<never>((_resolve, reject) => {
      const queue: { res: IWatchResponse; at: number }[] = [];
      let head = 0;
      let pumping = false;
      let paused = false;
      let ended: Error | undefined;
      let settled = false;
      const settle = (err: Error): void => {
        if (settled) return;
        settled = true;
        reject(err);
      };
      const pump = async (): Promise<void> => {
        pumping = true;
        try {
          while (head < queue.length) {
            const item = queue[head]!;
            queue[head++] = undefined as never;
            await this.handleResponse(item.res, item.at);
            if (paused && queue.length - head <= WATCH_QUEUE_LOW_WATER) {
              paused = false;
              stream.resume();
            }
          }
          queue.length = 0;
          head = 0;
        } catch (err) {
          settle(toError(err));
          return;
        } finally {
          pumping = false;
        }
        if (ended) settle(ended);
      };
      stream.on('data', (res: IWatchResponse) => {
        if (settled) return;
        queue.push({ res, at: performance.now() });
        if (!paused && queue.length - head >= WATCH_QUEUE_HIGH_WATER) {
          paused = true;
          stream.pause();
        }
        if (!pumping) void pump();
      });
      const onEnd = (err: Error): void => {
        ended ??= err;
        if (!pumping) settle(ended);
      };
      stream.on('error', onEnd);
      stream.on('end', () => {
        onEnd(new WatchStreamEndedError());
      });
      stream.write({
        create_request: {
          key: this.prefixBuf,
          range_end: this.rangeEnd,
          start_revision: String(this.deliveredRevision + 1),
          progress_notify: true,
          prev_kv: false,
        },
      });
    });
  }

  private async handleResponse(res: IWatchResponse, receivedAt: number): Promise<void> {
    if (res.compact_revision && res.compact_revision !== '0') throw new CompactedError(Number(res.compact_revision));
    if (res.canceled) {
      if (res.cancel_reason.includes('compacted')) throw new CompactedError(0);
      throw new WatchCanceledError(res.cancel_reason);
    }
    if (res.created) {
      // The watch is established: whatever failed before has recovered.
      this.backoff.reset();
    }
    const events = res.events;
    if (events.length === 0) return;
    const h = this.handler;
    const waited = (performance.now() - receivedAt) / 1000;
    const queueMetric = eventsQueueSeconds();
    let lastRevision = this.deliveredRevision;
    let puts = 0;
    for (const ev of events) {
      const key = ev.kv.key.toString();
      const modRevision = Number(ev.kv.mod_revision);
      lastRevision = modRevision;
      const prev = this.known.get(key);
      if (ev.type === 'Delete') {
        if (prev === undefined || prev >= modRevision) continue;
        this.known.delete(key);
        this.checkStopped();
        try {
          const r = h.onDelete(key, modRevision);
          if (r) await r;
        } catch (err) {
          this.reportHandlerError(err, 'onDelete');
        }
      } else {
        if (prev !== undefined && prev >= modRevision) continue;
        this.known.set(key, modRevision);
        puts++;
        this.checkStopped();
        try {
          const r = h.onUpsert(toKeyValue(ev.kv));
          if (r) await r;
        } catch (err) {
          this.reportHandlerError(err, 'onUpsert');
        }
      }
    }
    if (puts > 0) queueMetric.observe({ action: 'upsert', scope: this.scope }, waited);
    if (puts < events.length) queueMetric.observe({ action: 'delete', scope: this.scope }, waited);
    if (lastRevision > this.deliveredRevision) this.deliveredRevision = lastRevision;
  }
}
