/** First retry delay after a failure. */
export const BACKOFF_INITIAL_MS = 100;
/** Upper bound of the retry delay: etcd restarts take a few seconds; waiting longer only delays recovery. */
export const BACKOFF_MAX_MS = 5_000;
export const BACKOFF_FACTOR = 2;
/** Each delay is drawn uniformly from [delay * (1 - JITTER), delay], so that many clients do not retry in lockstep. */
export const BACKOFF_JITTER = 0.5;

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
}

/** Jittered exponential backoff; reset() after a success. */
export class Backoff {
  private attempt = 0;
  private readonly initialMs: number;
  private readonly maxMs: number;

  constructor(opts: BackoffOptions = {}) {
    this.initialMs = opts.initialMs ?? BACKOFF_INITIAL_MS;
    this.maxMs = opts.maxMs ?? BACKOFF_MAX_MS;
  }

  next(): number {
    const base = Math.min(this.maxMs, this.initialMs * BACKOFF_FACTOR ** this.attempt);
    this.attempt++;
    return Math.round(base * (1 - BACKOFF_JITTER * Math.random()));
  }

  reset(): void {
    this.attempt = 0;
  }
}

/** Sleeps `ms`, resolving early (without throwing) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
