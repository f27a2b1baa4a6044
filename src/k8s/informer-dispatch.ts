/**
 * How an informer calls its handlers, whatever feeds it (source.ts states the contract): one call at a time, in the
 * order of the changes, a returned promise awaited before the next call, a handler registered late first replayed
 * the cached objects, and nothing called once stopped. Shared by the `local` and `kubernetes` informers.
 */
import type { Logger } from '../observe/logger.js';
import type { InformerHandler } from './source.js';
import type { K8sObject, KindName } from './types.js';

export type InformerEventType = 'add' | 'update' | 'delete';

function call<T extends K8sObject>(
  h: InformerHandler<T>,
  type: InformerEventType,
  obj: T,
  old: T | undefined,
): void | Promise<void> {
  if (type === 'add') return h.onAdd?.(obj);
  if (type === 'update') return h.onUpdate?.(obj, old!);
  return h.onDelete?.(obj);
}

export class InformerDispatcher<T extends K8sObject> {
  /** Registered handlers; replaced, never mutated, so that a queued change keeps the snapshot it was queued with. */
  private handlers: readonly InformerHandler<T>[] = [];
  /** Tail of the serialized handler calls. */
  private queue: Promise<void> = Promise.resolve();
  /** Tasks queued and not settled; 0 means a new task may run synchronously. */
  private pending = 0;
  private stopped = false;

  constructor(
    private readonly kind: KindName,
    private readonly log: Logger,
  ) {}

  /**
   * Registers `handler`; it first receives onAdd for each of `existing` (the informer's cached objects now), then
   * every change queued after this call. Returns the function that unregisters it.
   */
  register(handler: InformerHandler<T>, existing: readonly T[]): () => void {
    this.handlers = [...this.handlers, handler];
    if (existing.length > 0) {
      void this.enqueueTask(async () => {
        for (const obj of existing) {
          if (!this.handlers.includes(handler) || this.stopped) return;
          try {
            await handler.onAdd?.(obj);
          } catch (err) {
            this.log.error({ err, kind: this.kind }, 'informer handler failed; continuing');
          }
        }
      });
    }
    return () => {
      this.handlers = this.handlers.filter((h) => h !== handler);
    };
  }

  /**
   * Queues the change for the handlers registered now (a handler registered later got a snapshot that already
   * includes it). Returns the queue's tail when a handler is still busy, for the feeder to await: that is the
   * backpressure; undefined when every call already completed.
   */
  enqueue(type: InformerEventType, obj: T, old: T | undefined): Promise<void> | undefined {
    const handlers = this.handlers;
    if (this.pending === 0) return this.runTask(this.dispatch(handlers, 0, type, obj, old));
    return this.runTask(this.queue.then(() => this.dispatch(handlers, 0, type, obj, old)));
  }

  /** Runs `task` after every queued one; at once (synchronously) when nothing is queued. */
  enqueueTask(task: () => void | Promise<void>): Promise<void> | undefined {
    if (this.pending === 0) return this.runTask(task());
    return this.runTask(this.queue.then(task));
  }

  /** No handler is called from now on (calls already running finish). */
  stop(): void {
    this.stopped = true;
  }

  /** Settles once every queued call has. */
  idle(): Promise<void> {
    return this.queue;
  }

  /**
   * Calls handlers[from..] in order; synchronous as long as they return nothing, so that a list of 100k objects
   * does not allocate a promise chain per object. Returns a promise only once a handler returned one.
   */
  private dispatch(
    handlers: readonly InformerHandler<T>[],
    from: number,
    type: InformerEventType,
    obj: T,
    old: T | undefined,
  ): Promise<void> | undefined {
    for (let i = from; i < handlers.length; i++) {
      const h = handlers[i]!;
      // Unregistered meanwhile, or stopped: the contract is that no handler runs once stop() resolves.
      if (this.stopped || (this.handlers !== handlers && !this.handlers.includes(h))) continue;
      let r: void | Promise<void>;
      try {
        r = call(h, type, obj, old);
      } catch (err) {
        this.log.error({ err, kind: this.kind }, 'informer handler failed; continuing');
        continue;
      }
      if (r) {
        return r.then(
          () => this.dispatch(handlers, i + 1, type, obj, old),
          (err: unknown) => {
            this.log.error({ err, kind: this.kind }, 'informer handler failed; continuing');
            return this.dispatch(handlers, i + 1, type, obj, old);
          },
        );
      }
    }
    return undefined;
  }

  /** Tracks what a task returned: nothing (it ran to completion) or the promise the next task must wait for. */
  private runTask(r: void | Promise<void>): Promise<void> | undefined {
    if (!r) return undefined;
    this.pending++;
    this.queue = r.finally(() => {
      this.pending--;
    });
    return this.queue;
  }
}
