/**
 * A work queue of string keys as client-go's: a key queued many times is processed once; a key changed while it
 * is being processed is processed again afterwards (never twice at once); failures are retried with jittered
 * exponential backoff, unless the handler says the failure is permanent.
 *
 * The project's one work queue: the operator's controllers and the clustermesh-apiserver's external workload
 * manager use it. It lives in k8s/ because it is the controller machinery of client-go's kind, and k8s/ is the
 * lowest layer both components sit on (components may not import each other).
 */
import { Backoff } from '../kvstore/backoff.js';

/** Keys processed at once. etcd round trips dominate, so some parallelism pays off even on one core. */
export const DEFAULT_WORKERS = 16;
export const RETRY_INITIAL_MS = 50;
export const RETRY_MAX_MS = 5_000;

export interface WorkQueueOptions {
  workers?: number;
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Called after a failure; return false to drop the key (a bad object), true to retry it later. */
  shouldRetry?: (key: string, err: unknown) => boolean;
  onError?: (key: string, err: unknown, willRetry: boolean) => void;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private head = 0;
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  /** Keys that changed while being processed: re-queued when their current run ends. */
  private readonly dirty = new Set<string>();
  private readonly retries = new Map<string, Backoff>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly idleWaiters: (() => void)[] = [];
  private running = 0;
  private started = false;
  private stopped = false;
  private readonly workers: number;

  constructor(
    private readonly handler: (key: string) => Promise<void>,
    private readonly opts: WorkQueueOptions = {},
  ) {
    this.workers = opts.workers ?? DEFAULT_WORKERS;
  }

  /** Keys queued, running or waiting for a retry. */
  get depth(): number {
    return this.queued.size + this.processing.size + this.timers.size;
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    // A fresh event supersedes a pending retry: handle it now.
    const t = this.timers.get(key);
    if (t) {
      clearTimeout(t);
      this.timers.delete(key);
    }
    this.queued.add(key);
    this.queue.push(key);
    this.pump();
  }

  /** Starts processing (keys added before are kept and processed now). */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.pump();
  }

  /** Resolves once nothing is queued, running or waiting for a retry. */
  idle(): Promise<void> {
    if (this.depth === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops taking keys and waits for the running ones to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.queue.length = 0;
    this.head = 0;
    this.queued.clear();
    this.dirty.clear();
    while (this.running > 0) await new Promise((r) => setTimeout(r, 5));
    this.notifyIdle();
  }

  private pump(): void {
    if (!this.started || this.stopped) return;
    while (this.running < this.workers && this.head < this.queue.length) {
      const key = this.queue[this.head++]!;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue.splice(0, this.head);
        this.head = 0;
      }
      this.queued.delete(key);
      this.processing.add(key);
      this.running++;
      void this.run(key);
    }
  }

  private async run(key: string): Promise<void> {
    try {
      await this.handler(key);
      this.retries.delete(key);
    } catch (err) {
      const retry = !this.stopped && (this.opts.shouldRetry?.(key, err) ?? true);
      this.opts.onError?.(key, err, retry);
      if (retry && !this.dirty.has(key)) this.scheduleRetry(key);
      else if (!retry) this.retries.delete(key);
    } finally {
      this.processing.delete(key);
      this.running--;
      if (this.dirty.delete(key)) this.add(key);
      this.pump();
      if (this.depth === 0) this.notifyIdle();
    }
  }

  private scheduleRetry(key: string): void {
    let b = this.retries.get(key);
    if (!b) {
      b = new Backoff({
        initialMs: this.opts.retryInitialMs ?? RETRY_INITIAL_MS,
        maxMs: this.opts.retryMaxMs ?? RETRY_MAX_MS,
      });
      this.retries.set(key, b);
    }
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, b.next());
    this.timers.set(key, timer);
  }

  private notifyIdle(): void {
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
