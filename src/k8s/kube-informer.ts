/**
 * An informer over one kind of a real Kubernetes API server, as client-go's reflector does it: list (in pages),
 * then watch from the list's resourceVersion with bookmarks; re-watch from the last resourceVersion when a watch
 * ends; list again when that resourceVersion has expired (410 Gone) or the watch reports an error, delivering only
 * what changed meanwhile; retry with backoff while the API server is away or the kind is not served (a CRD not
 * installed yet). client-node's makeInformer is not used: its reconnects re-list without telling what vanished,
 * and it has no backpressure. The HTTP is client-node's (kube-api.ts).
 */
import { Backoff, sleep, type BackoffOptions } from '../kvstore/backoff.js';
import { logger } from '../observe/logger.js';
import { objectRef } from '../wire/object-ref.js';
import { InformerDispatcher } from './informer-dispatch.js';
import type { KubeApi, WatchEvent } from './kube-api.js';
import { ExpiredError, ForbiddenError, KubeApiError, ResourceNotServedError, type KubeStatus } from './kube-errors.js';
import { resourcePath } from './kube-paths.js';
import { formatSelector, parseSelector, toMatcher, type LabelMatcher } from './label-selector.js';
import { informerErrors, informerRelists, informerWatchRestarts, invalidObjects } from './metrics.js';
import type { Informer, InformerHandler, InformerOptions } from './source.js';
import { KINDS, type K8sObject, type KindName, type ObjectOf } from './types.js';

/** Objects per list page (client-go's reflector pages at 500 as well). */
export const LIST_PAGE_SIZE = 500;
/** A listed page is delivered with a turn of the event loop every this many objects, so that I/O is not starved. */
const LIST_YIELD_EVERY = 512;
/**
 * Server-side watch timeout, drawn between MIN and 2 x MIN as client-go does, so that many watchers do not all
 * reconnect together; a closed watch resumes from the last resourceVersion without a list.
 */
export const WATCH_TIMEOUT_MIN_SECONDS = 300;
/**
 * A watch that has said nothing (no event, no bookmark) for its timeout plus this long is taken for a dead
 * connection (the server would have closed it) and started again.
 */
const WATCH_IDLE_GRACE_MS = 30_000;
/**
 * Watch events received and not yet delivered, beyond which the watch is closed until the handlers catch up, then
 * resumed from the last delivered resourceVersion: client-node's Watch cannot pause its stream, so this is how a
 * slow handler bounds the memory a fast API server can fill.
 */
export const WATCH_QUEUE_HIGH_WATER = 1000;
/** First retry delay when the API server is away, refuses or does not serve the kind. */
export const RETRY_INITIAL_MS = 200;
/** Longest retry delay: an API server restart takes a few seconds; longer waits only delay recovery. */
export const RETRY_MAX_MS = 10_000;

const log = logger('k8s-kube-informer');

export interface KubeInformerOptions {
  /** Retry delays (tests shorten them). */
  backoff?: BackoffOptions;
  /** WATCH_QUEUE_HIGH_WATER unless set (tests lower it). */
  watchQueueHighWater?: number;
}

/** Why one watch ended. */
type WatchEnd =
  | { kind: 'closed'; events: number }
  | { kind: 'paused' }
  | { kind: 'expired'; status: KubeStatus | undefined }
  | { kind: 'failed'; status: KubeStatus | undefined }
  | { kind: 'error'; err: unknown }
  | { kind: 'stopped' };

/** Thrown inside the loop to unwind once stop() has been called. */
class StoppedSignal extends Error {}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isAbort(err: unknown): boolean {
  return (err as { name?: string } | null)?.name === 'AbortError';
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface ListPage {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: unknown[];
}

export class KubeInformer<K extends KindName> implements Informer<ObjectOf<K>> {
  readonly synced: Promise<void>;
  private resolveSynced!: () => void;
  private isSynced = false;
  /** objectRef (namespace/name) -> cached object (cache: true). */
  private readonly cache = new Map<string, ObjectOf<K>>();
  /** objectRef -> resourceVersion (cache: false): enough to tell a change from a replay and to find deletions. */
  private readonly versions = new Map<string, string>();
  private readonly dispatcher: InformerDispatcher<ObjectOf<K>>;
  private readonly match: LabelMatcher;
  /** The selector in the API's string form, sent with every list and watch. */
  private readonly selector: string | undefined;
  private readonly caching: boolean;
  private readonly path: string;
  private readonly backoff: Backoff;
  private readonly highWater: number;
  private readonly abort = new AbortController();
  /** The resourceVersion up to which every change has been delivered; where a watch resumes. */
  private resourceVersion = '';
  private watchController: AbortController | undefined;
  /** The last refusal logged (not served, forbidden), so that a retry loop logs it once, not every round. */
  private lastRefusal: string | undefined;
  private loop: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly api: KubeApi,
    readonly kind: K,
    opts: InformerOptions = {},
    informerOpts: KubeInformerOptions = {},
  ) {
    const info = KINDS[kind];
    if (opts.namespace && !info.namespaced) {
      throw new Error(`${kind} is cluster-scoped: an informer over it cannot be limited to a namespace`);
    }
    const sel = opts.labelSelector;
    this.match = toMatcher(sel);
    const formatted =
      sel === undefined ? undefined : formatSelector(typeof sel === 'string' ? parseSelector(sel) : sel);
    this.selector = formatted === '' ? undefined : formatted;
    this.caching = opts.cache ?? true;
    this.path = resourcePath(kind, opts.namespace);
    this.backoff = new Backoff({ initialMs: RETRY_INITIAL_MS, maxMs: RETRY_MAX_MS, ...informerOpts.backoff });
    this.highWater = informerOpts.watchQueueHighWater ?? WATCH_QUEUE_HIGH_WATER;
    this.dispatcher = new InformerDispatcher(kind, log);
    this.synced = new Promise((resolve) => {
      this.resolveSynced = resolve;
    });
  }

  on(handler: InformerHandler<ObjectOf<K>>): () => void {
    return this.dispatcher.register(handler, [...this.cache.values()]);
  }

  start(): void {
    if (this.loop || this.stopped) return;
    this.loop = this.run().catch((err: unknown) => {
      log.error({ err, kind: this.kind }, 'informer loop failed');
    });
  }

  hasSynced(): boolean {
    return this.isSynced;
  }

  list(): ObjectOf<K>[] {
    this.assertCaching('list()');
    return [...this.cache.values()];
  }

  get(namespace: string | undefined, name: string): ObjectOf<K> | undefined {
    this.assertCaching('get()');
    return this.cache.get(objectRef(KINDS[this.kind].namespaced ? namespace : undefined, name));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.dispatcher.stop();
    this.abort.abort();
    this.watchController?.abort();
    await this.loop;
    await this.dispatcher.idle();
  }

  private assertCaching(what: string): void {
    if (!this.caching)
      throw new Error(`${what} on a ${this.kind} informer created with cache: false, which keeps no objects`);
  }

  /** A method, not a field read, so that the compiler does not assume it unchanged across awaits. */
  private isStopped(): boolean {
    return this.stopped;
  }

  private checkStopped(): void {
    if (this.stopped) throw new StoppedSignal();
  }

  private async run(): Promise<void> {
    let needList = true;
    while (!this.isStopped()) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
          this.recovered();
        }
        const end = await this.watchOnce();
        if (end.kind === 'stopped') return;
        informerWatchRestarts().inc({ kind: this.kind, reason: end.kind });
        switch (end.kind) {
          case 'closed':
            // A watch the server ended after saying something is the normal timeout: resume at once. One that
            // ended without a word is a server in trouble: wait, so as not to spin.
            if (end.events > 0) {
              this.backoff.reset();
              continue;
            }
            break;
          case 'paused':
            // Closed because the handlers fell behind: resume once they have caught up.
            await this.dispatcher.idle();
            continue;
          case 'expired':
            log.info(
              { kind: this.kind, resourceVersion: this.resourceVersion, message: end.status?.message },
              'watch resourceVersion expired; listing again',
            );
            informerRelists().inc({ kind: this.kind });
            needList = true;
            continue;
          case 'failed':
            log.warn({ kind: this.kind, status: end.status }, 'watch reported an error; listing again');
            informerRelists().inc({ kind: this.kind });
            needList = true;
            break;
          case 'error':
            throw end.err;
        }
      } catch (err) {
        if (this.isStopped() || err instanceof StoppedSignal) return;
        if (err instanceof ExpiredError) {
          // A list's continue token expired: list again from the start, at once.
          log.info({ kind: this.kind }, 'list continuation expired; listing again');
          needList = true;
          continue;
        }
        this.report(err);
      }
      await sleep(this.backoff.next(), this.abort.signal);
    }
  }

  /** Logs why a round failed: refusals once until they change, the API server being away at debug level. */
  private report(err: unknown): void {
    const reason =
      err instanceof ForbiddenError
        ? 'forbidden'
        : err instanceof ResourceNotServedError
          ? 'not_served'
          : err instanceof KubeApiError
            ? 'server_error'
            : 'unreachable';
    informerErrors().inc({ kind: this.kind, reason });
    if (err instanceof ResourceNotServedError || err instanceof ForbiddenError) {
      if (this.lastRefusal !== err.message) {
        this.lastRefusal = err.message;
        log.warn({ kind: this.kind, err: err.message }, 'cannot list and watch; retrying with backoff');
      }
      return;
    }
    if (err instanceof KubeApiError) {
      log.warn({ kind: this.kind, err: err.message }, 'list or watch failed; retrying with backoff');
      return;
    }
    log.debug({ kind: this.kind, err: (err as Error).message }, 'API server unreachable; retrying with backoff');
  }

  private recovered(): void {
    this.backoff.reset();
    if (this.lastRefusal !== undefined) {
      log.info({ kind: this.kind }, 'listing works again');
      this.lastRefusal = undefined;
    }
  }

  // ---- list ----

  /**
   * Lists every page and delivers the difference to what is known: new objects -> add, objects at another
   * resourceVersion -> update, known objects not listed -> delete. The first list marks the informer synced.
   */
  private async relist(): Promise<void> {
    this.checkStopped();
    const known = this.caching ? this.cache : this.versions;
    // On the first list nothing can have vanished, so the listed refs need no tracking.
    const listed = known.size > 0 ? new Set<string>() : undefined;
    const fetchPage = (cont: string | undefined) =>
      this.api.request<ListPage>({
        method: 'GET',
        path: this.path,
        query: { limit: LIST_PAGE_SIZE, continue: cont, labelSelector: this.selector },
        kind: this.kind,
        signal: this.abort.signal,
      });
    let page = (await fetchPage(undefined)).body;
    const resourceVersion = page.metadata?.resourceVersion ?? '';
    for (;;) {
      const cont = page.metadata?.continue;
      // The next page is requested before this one is delivered, so that the server serves it meanwhile.
      const next = cont ? fetchPage(cont) : undefined;
      next?.catch(() => undefined); // settled below; this only silences an early rejection while we deliver
      let sinceYield = 0;
      for (const item of page.items ?? []) {
        if (++sinceYield >= LIST_YIELD_EVERY) {
          sinceYield = 0;
          await yieldToEventLoop();
        }
        // List items carry no apiVersion and kind: the list's kind names them.
        const obj = this.object(item, true);
        if (!obj || !this.match(obj.metadata.labels)) continue;
        const ref = this.refOf(obj);
        listed?.add(ref);
        this.checkStopped();
        const r = this.upsert(ref, obj);
        if (r) await r;
      }
      if (!next) break;
      page = (await next).body;
    }
    for (const ref of listed ? [...known.keys()] : []) {
      if (listed?.has(ref)) continue;
      this.checkStopped();
      const r = this.remove(ref, undefined);
      if (r) await r;
    }
    this.resourceVersion = resourceVersion;
    this.checkStopped();
    const r = this.dispatcher.enqueueTask(() => {
      this.markSynced();
    });
    if (r) await r;
  }

  private markSynced(): void {
    if (this.isSynced) return;
    this.isSynced = true;
    this.resolveSynced();
  }

  // ---- watch ----

  /** One watch from the last resourceVersion; settles when it ends, after every event received was delivered. */
  private watchOnce(): Promise<WatchEnd> {
    this.checkStopped();
    const timeoutSeconds = Math.floor(WATCH_TIMEOUT_MIN_SECONDS * (1 + Math.random()));
    return new Promise<WatchEnd>((resolve) => {
      const queue: WatchEvent[] = [];
      let head = 0;
      let pumping = false;
      let ending: WatchEnd | undefined;
      let settled = false;
      let events = 0;
      let controller: AbortController | undefined;
      let idle: NodeJS.Timeout | undefined;
      const finish = (end: WatchEnd): void => {
        if (settled) return;
        settled = true;
        clearTimeout(idle);
        this.abort.signal.removeEventListener('abort', onStop);
        controller?.abort();
        if (this.watchController === controller) this.watchController = undefined;
        resolve(end);
      };
      /** No more events are taken; the watch settles once those queued are delivered. */
      const end = (why: WatchEnd): void => {
        ending ??= why;
        controller?.abort();
        if (!pumping) finish(ending);
      };
      const onStop = (): void => {
        finish({ kind: 'stopped' });
      };
      const armIdle = (): void => {
        clearTimeout(idle);
        idle = setTimeout(
          () => {
            end({ kind: 'closed', events });
          },
          timeoutSeconds * 1000 + WATCH_IDLE_GRACE_MS,
        );
        idle.unref();
      };
      const pump = async (): Promise<void> => {
        pumping = true;
        try {
          while (head < queue.length && !settled) {
            const ev = queue[head]!;
            queue[head++] = undefined as never;
            const outcome = this.handleEvent(ev);
            if (outcome instanceof Promise) await outcome;
            else if (outcome) {
              ending = outcome; // events after an error are not delivered
              controller?.abort();
              break;
            }
          }
          queue.length = 0;
          head = 0;
        } catch (err) {
          ending = err instanceof StoppedSignal ? { kind: 'stopped' } : { kind: 'error', err };
        } finally {
          pumping = false;
        }
        if (ending) finish(ending);
      };
      const onEvent = (ev: WatchEvent): void => {
        if (settled || ending) return;
        events++;
        armIdle();
        queue.push(ev);
        if (queue.length - head >= this.highWater) end({ kind: 'paused' });
        if (!pumping) void pump();
      };
      const onDone = (err: unknown): void => {
        if (!err || isAbort(err)) end({ kind: 'closed', events });
        // client-node's Watch keeps only the status code of a refused watch request.
        else if ((err as { statusCode?: number }).statusCode === 410) end({ kind: 'expired', status: undefined });
        else end({ kind: 'error', err });
      };
      this.abort.signal.addEventListener('abort', onStop, { once: true });
      armIdle();
      this.api
        .watch(
          this.path,
          {
            resourceVersion: this.resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds,
            labelSelector: this.selector,
          },
          onEvent,
          onDone,
        )
        .then(
          (c) => {
            controller = c;
            if (settled || ending) c.abort();
            else this.watchController = c;
          },
          (err: unknown) => {
            end({ kind: 'error', err });
          },
        );
    });
  }

  /**
   * Applies one watch event: the delivery to await, nothing, or why the watch must end (an ERROR event).
   * Bookmarks only move the resourceVersion.
   */
  private handleEvent(ev: WatchEvent): Promise<void> | WatchEnd | undefined {
    this.checkStopped();
    if (ev.type === 'ERROR') {
      const status = isObject(ev.object) ? (ev.object as KubeStatus) : undefined;
      if (status?.code === 410 || status?.reason === 'Expired' || status?.reason === 'Gone') {
        return { kind: 'expired', status };
      }
      return { kind: 'failed', status };
    }
    const rv = isObject(ev.object) && isObject(ev.object.metadata) ? ev.object.metadata.resourceVersion : undefined;
    if (ev.type === 'BOOKMARK') {
      if (typeof rv === 'string' && rv !== '') this.resourceVersion = rv;
      return undefined;
    }
    const obj = this.object(ev.object, false);
    if (typeof rv === 'string' && rv !== '') this.resourceVersion = rv;
    if (!obj) return undefined;
    const ref = this.refOf(obj);
    if (ev.type === 'DELETED') return this.remove(ref, obj);
    // The server sends an object that stops matching the selector as DELETED; this check covers the rest.
    if (!this.match(obj.metadata.labels)) return this.remove(ref, obj);
    return this.upsert(ref, obj);
  }

  // ---- the cache and the deliveries ----

  /**
   * The object an item of a list or event is, stamped with apiVersion and kind (list items have neither), or
   * undefined (counted, logged) when it is not a well-formed object of this kind.
   */
  private object(raw: unknown, stamp: boolean): ObjectOf<K> | undefined {
    const info = KINDS[this.kind];
    const meta = isObject(raw) ? raw.metadata : undefined;
    const problem = !isObject(raw)
      ? 'not an object'
      : !isObject(meta) || typeof meta.name !== 'string' || meta.name === ''
        ? 'metadata.name must be a string'
        : info.namespaced !== (typeof meta.namespace === 'string' && meta.namespace !== '')
          ? `metadata.namespace must be ${info.namespaced ? 'set' : 'unset'} for ${this.kind}`
          : typeof meta.resourceVersion !== 'string'
            ? 'metadata.resourceVersion must be a string'
            : (['labels', 'annotations'] as const).find((f) => meta[f] !== undefined && !isObject(meta[f]))
              ? 'metadata.labels and annotations must be maps'
              : undefined;
    if (problem !== undefined || !isObject(raw)) {
      invalidObjects().inc({ kind: this.kind });
      log.warn({ kind: this.kind, problem }, 'ignoring an invalid object from the API server');
      return undefined;
    }
    if (stamp || raw.apiVersion === undefined || raw.kind === undefined) {
      // In front, where the API server puts them.
      return { apiVersion: info.apiVersion, kind: this.kind, ...raw } as unknown as ObjectOf<K>;
    }
    return raw as unknown as ObjectOf<K>;
  }

  private refOf(obj: K8sObject): string {
    return objectRef(obj.metadata.namespace, obj.metadata.name);
  }

  /** A new or changed object: add, update, or nothing when its resourceVersion did not move. */
  private upsert(ref: string, obj: ObjectOf<K>): Promise<void> | undefined {
    const rv = obj.metadata.resourceVersion!;
    if (!this.caching) {
      if (this.versions.get(ref) === rv) return undefined;
      this.versions.set(ref, rv);
      return this.dispatcher.enqueue('add', obj, undefined);
    }
    const old = this.cache.get(ref);
    if (old?.metadata.resourceVersion === rv) return undefined;
    this.cache.set(ref, obj);
    return old ? this.dispatcher.enqueue('update', obj, old) : this.dispatcher.enqueue('add', obj, undefined);
  }

  /**
   * A vanished object (or one that stopped matching): delete with the last state known (cache: true) or a stub
   * (cache: false), or nothing when it was not known.
   */
  private remove(ref: string, last: ObjectOf<K> | undefined): Promise<void> | undefined {
    if (!this.caching) {
      if (!this.versions.delete(ref)) return undefined;
      return this.dispatcher.enqueue('delete', this.stub(ref, last), undefined);
    }
    const old = this.cache.get(ref);
    if (!old) return undefined;
    this.cache.delete(ref);
    return this.dispatcher.enqueue('delete', old, undefined);
  }

  /** What onDelete receives from an informer without a cache: the object's identity only. */
  private stub(ref: string, last: ObjectOf<K> | undefined): ObjectOf<K> {
    const info = KINDS[this.kind];
    let namespace = last?.metadata.namespace;
    let name = last?.metadata.name;
    if (name === undefined) {
      const slash = ref.indexOf('/');
      if (info.namespaced && slash >= 0) {
        namespace = ref.slice(0, slash);
        name = ref.slice(slash + 1);
      } else name = ref;
    }
    const metadata: { name: string; namespace?: string } = { name };
    if (info.namespaced && namespace !== undefined) metadata.namespace = namespace;
    return { apiVersion: info.apiVersion, kind: this.kind, metadata } as ObjectOf<K>;
  }
}
