import type { Etcd3, IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse } from 'etcd3';
import { logger } from '../observe/logger.js';
import { Backoff, sleep } from './backoff.js';
import { isLeaseNotFoundError } from './errors.js';
import { prefixRangeEnd } from './list-watcher.js';

/** Cilium's default lease TTL (--kvstore-lease-ttl): keys of a dead writer vanish this long after it died. */
export const LEASE_TTL_SECONDS = 15 * 60;
/** Keepalives are sent every TTL / KEEPALIVE_DIVISOR, as etcd's Go client does. */
const KEEPALIVE_DIVISOR = 3;

const log = logger('kvstore-lease');

export interface LeaseManagerOptions {
  ttlSeconds?: number;
}

/** etcd3 types the stream narrowly; at run time it is a gRPC duplex (a Node stream). */
type KeepAliveStream = IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse> & { readonly writable: boolean };

/**
 * One etcd lease shared by every key a process writes (Cilium's session lease), kept alive over a keepalive stream.
 * When etcd says the lease is gone (keepalive answered with TTL 0, or a write failed with "requested lease not
 * found"), listeners are told and the next current() grants a new lease; owners then rewrite their keys under it.
 */
export class LeaseManager {
  readonly ttlSeconds: number;
  private leaseId: string | undefined;
  private granting: Promise<string> | undefined;
  private readonly listeners = new Set<(lostId: string) => void>();
  private keepalive: { id: string; abort: AbortController; done: Promise<void> } | undefined;
  private closed = false;

  constructor(
    private readonly client: Etcd3,
    opts: LeaseManagerOptions = {},
  ) {
    this.ttlSeconds = opts.ttlSeconds ?? LEASE_TTL_SECONDS;
    if (!Number.isInteger(this.ttlSeconds) || this.ttlSeconds < 2) {
      throw new RangeError(`lease TTL must be an integer >= 2 seconds, got ${this.ttlSeconds}`);
    }
  }

  /** The lease ID currently in use (decimal string), if one has been granted. */
  get id(): string | undefined {
    return this.leaseId;
  }

  /** The live lease's ID, granting one first if needed. Rejects when etcd cannot be reached; callers retry. */
  async current(): Promise<string> {
    if (this.closed) throw new Error('lease manager is closed');
    if (this.leaseId !== undefined) return this.leaseId;
    this.granting ??= this.grant().finally(() => {
      this.granting = undefined;
    });
    return this.granting;
  }

  /** Registers a listener for lease loss; returns the function that unregisters it. */
  onLost(listener: (lostId: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** An etcd call attached to `id` failed with "lease not found": the lease is gone. */
  reportLost(id: string): void {
    if (id !== this.leaseId) return;
    log.warn({ lease: id }, 'etcd lease lost; a new one will be granted and its keys rewritten');
    this.leaseId = undefined;
    this.stopKeepalive();
    for (const l of this.listeners) l(id);
  }

  /** Inspects an error from a call made under `id` and reports the loss when it says so. */
  checkError(id: string, err: unknown): void {
    if (isLeaseNotFoundError(err)) this.reportLost(id);
  }

  /** Stops the keepalives; with revoke, also deletes the lease (and every key attached to it) right away. */
  async close(opts: { revoke?: boolean } = {}): Promise<void> {
    this.closed = true;
    const id = this.leaseId;
    const ka = this.keepalive;
    this.stopKeepalive();
    await ka?.done;
    if (opts.revoke && id !== undefined) {
      try {
        await this.client.leaseClient.leaseRevoke({ ID: id });
      } catch (err) {
        if (!isLeaseNotFoundError(err)) throw err;
      }
    }
  }

  /**
   * Takes over the lease of a previous run of the same writer, found on the first of `keys` that exists (a key, or a
   * prefix when it ends with '/'), when etcd says it is still alive: its keys then need no rewrite. Returns the
   * adopted lease ID, or undefined (a new lease will be granted on first use).
   */
  async adoptFrom(keys: readonly string[]): Promise<string | undefined> {
    if (this.leaseId !== undefined) return this.leaseId;
    for (const k of keys) {
      const key = Buffer.from(k);
      const res = await this.client.kv.range(
        k.endsWith('/') ? { key, range_end: prefixRangeEnd(key), limit: 1 } : { key },
      );
      const lease = res.kvs[0]?.lease;
      if (lease === undefined || lease === '0') continue;
      const ttl = await this.client.leaseClient.leaseTimeToLive({ ID: lease });
      if (Number(ttl.TTL) <= 0) continue;
      this.leaseId = lease;
      log.info({ lease, remainingTtl: ttl.TTL }, 'adopted the lease of a previous run');
      this.startKeepalive(lease);
      return lease;
    }
    return undefined;
  }

  private async grant(): Promise<string> {
    const res = await this.client.leaseClient.leaseGrant({ TTL: this.ttlSeconds });
    if (this.closed) throw new Error('lease manager is closed');
    this.leaseId = res.ID;
    log.debug({ lease: res.ID, ttl: this.ttlSeconds }, 'granted etcd lease');
    this.startKeepalive(res.ID);
    return res.ID;
  }

  private startKeepalive(id: string): void {
    this.stopKeepalive();
    const abort = new AbortController();
    const done = this.keepaliveLoop(id, abort.signal).catch((err: unknown) => {
      log.error({ err }, 'lease keepalive loop failed');
    });
    this.keepalive = { id, abort, done };
  }

  private stopKeepalive(): void {
    this.keepalive?.abort.abort();
    this.keepalive = undefined;
  }

  private async keepaliveLoop(id: string, signal: AbortSignal): Promise<void> {
    const backoff = new Backoff();
    const intervalMs = Math.max(500, (this.ttlSeconds * 1000) / KEEPALIVE_DIVISOR);
    while (!signal.aborted) {
      let stream: KeepAliveStream | undefined;
      try {
        stream = (await this.client.leaseClient.leaseKeepAlive()) as KeepAliveStream;
        const outcome = await this.runKeepaliveStream(stream, id, intervalMs, signal, () => {
          backoff.reset();
        });
        if (outcome === 'expired') {
          this.reportLost(id);
          return;
        }
      } catch (err) {
        log.debug({ err, lease: id }, 'lease keepalive stream failed; retrying');
      } finally {
        stream?.cancel();
      }
      await sleep(backoff.next(), signal);
    }
  }

  /** Resolves 'expired' when etcd answers TTL 0, 'ended' when the stream fails or the loop is aborted. */
  private runKeepaliveStream(
    stream: KeepAliveStream,
    id: string,
    intervalMs: number,
    signal: AbortSignal,
    onAlive: () => void,
  ): Promise<'expired' | 'ended'> {
    return new Promise((resolve) => {
      const finish = (outcome: 'expired' | 'ended'): void => {
        clearInterval(timer);
        signal.removeEventListener('abort', onAbort);
        resolve(outcome);
      };
      const onAbort = (): void => {
        finish('ended');
      };
      const send = (): void => {
        if (stream.writable) stream.write({ ID: id });
      };
      stream.on('data', (res: ILeaseKeepAliveResponse) => {
        if (Number(res.TTL) <= 0) finish('expired');
        else onAlive();
      });
      stream.on('error', () => {
        finish('ended');
      });
      stream.on('end', () => {
        finish('ended');
      });
      signal.addEventListener('abort', onAbort, { once: true });
      const timer = setInterval(send, intervalMs);
      send();
    });
  }
}
