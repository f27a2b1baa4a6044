/**
 * client-go's retry.RetryOnConflict: run a read-modify-write again while it fails with a ConflictError (someone
 * else wrote the object between its read and its write). `fn` must read the object afresh on every call.
 */
import { ConflictError } from './errors.js';

/** Attempts in all, as client-go's retry.DefaultRetry (5 steps). */
export const RETRY_ON_CONFLICT_ATTEMPTS = 5;
/** Pause between attempts (client-go: 10 ms, factor 1): a conflict means the other writer has just finished. */
export const RETRY_ON_CONFLICT_DELAY_MS = 10;
/** Each pause is stretched by up to this fraction, so that writers that collided do not collide again in step. */
const RETRY_ON_CONFLICT_JITTER = 0.1;

export interface RetryOnConflictOptions {
  attempts?: number;
  delayMs?: number;
}

/** Calls `fn` until it succeeds, fails with another error, or has failed with a ConflictError `attempts` times. */
export async function retryOnConflict<T>(fn: () => Promise<T>, opts: RetryOnConflictOptions = {}): Promise<T> {
  const attempts = Math.max(1, opts.attempts ?? RETRY_ON_CONFLICT_ATTEMPTS);
  const delayMs = opts.delayMs ?? RETRY_ON_CONFLICT_DELAY_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof ConflictError) || attempt >= attempts) throw err;
    }
    const pause = delayMs * (1 + RETRY_ON_CONFLICT_JITTER * Math.random());
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}
