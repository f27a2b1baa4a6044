/**
 * Identity garbage collection, as cilium-operator's: every interval, the CiliumIdentities no endpoint has used for
 * longer than the grace period are deleted.
 */
import { sleep } from '../../kvstore/backoff.js';
import type { Logger } from '../../observe/logger.js';
import { DEFAULT_IDENTITY_GC_GRACE_MS, type IdentityAllocator } from '../identity-allocator.js';
import { operatorMetrics } from '../metrics.js';

export const DEFAULT_IDENTITY_GC_INTERVAL_MS = 5_000;

export interface IdentityGcOptions {
  identities: IdentityAllocator;
  log: Logger;
  graceMs?: number;
  /** Defaults to the grace period when that is shorter than DEFAULT_IDENTITY_GC_INTERVAL_MS. */
  intervalMs?: number;
}

export class IdentityGc {
  private readonly identities: IdentityAllocator;
  private readonly log: Logger;
  private readonly graceMs: number;
  private readonly intervalMs: number;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(opts: IdentityGcOptions) {
    this.identities = opts.identities;
    this.log = opts.log;
    this.graceMs = opts.graceMs ?? DEFAULT_IDENTITY_GC_GRACE_MS;
    this.intervalMs = opts.intervalMs ?? Math.min(DEFAULT_IDENTITY_GC_INTERVAL_MS, this.graceMs);
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Runs one collection now; returns how many identities were deleted. */
  collect(now = Date.now()): Promise<number> {
    return this.identities.collect(now, this.graceMs);
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  /** A call, not a property read, so that the compiler does not assume it unchanged across awaits. */
  private stopping(): boolean {
    return this.abort.signal.aborted;
  }

  private async run(): Promise<void> {
    const runs = operatorMetrics().identityGcRuns;
    while (!this.stopping()) {
      await sleep(this.intervalMs, this.abort.signal);
      if (this.stopping()) return;
      try {
        await this.collect();
        runs.inc({ outcome: 'success' });
      } catch (err) {
        runs.inc({ outcome: 'failure' });
        this.log.warn({ err }, 'identity garbage collection failed; retrying at the next interval');
      }
    }
  }
}
