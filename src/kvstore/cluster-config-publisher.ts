import type { Etcd3 } from 'etcd3';
import { logger } from '../observe/logger.js';
import { clusterConfigKey, encodeClusterConfig, type ClusterConfig } from '../wire/index.js';
import { Backoff } from './backoff.js';
import { isLeaseNotFoundError, toError } from './errors.js';
import type { LeaseManager } from './lease.js';
import { ListWatcher } from './list-watcher.js';

/** Cilium re-asserts the cluster config every 5 minutes. */
export const CLUSTER_CONFIG_ENFORCE_INTERVAL_MS = 5 * 60_000;

export type ClusterConfigPublisherOptions = { clusterName: string; intervalMs?: number } & (
  | { config: ClusterConfig }
  /** Another key kept the same way (e.g. kvstoremesh's reachability-writer key). */
  | { key: string; value: string }
) & {
    /** Skip the write when the key already holds the value under the current lease (a restart adopting it). */
    skipUnchanged?: boolean;
  };

/**
 * Publishes `cilium/cluster-config/<cluster>` under the writer's lease and keeps it so: re-asserted every interval,
 * and rewritten at once when someone else changes or deletes it (it is watched).
 */
export class ClusterConfigPublisher {
  private readonly log;
  private readonly key: string;
  private readonly value: Buffer;
  private readonly backoff = new Backoff();
  private timer: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private watcher: ListWatcher | undefined;
  private writing = false;
  private again = false;
  private stopped = false;
  private resolveFirst!: () => void;
  /** Resolves after the first successful write. */
  readonly firstPublish: Promise<void>;
  published = false;

  constructor(
    private readonly client: Etcd3,
    private readonly lease: LeaseManager,
    opts: ClusterConfigPublisherOptions,
  ) {
    this.key = 'key' in opts ? opts.key : clusterConfigKey(opts.clusterName);
    this.value = Buffer.from('key' in opts ? opts.value : encodeClusterConfig(opts.config));
    this.interval = opts.intervalMs ?? CLUSTER_CONFIG_ENFORCE_INTERVAL_MS;
    this.log = logger('cluster-config', { clusterName: opts.clusterName });
    this.firstPublish = new Promise((r) => (this.resolveFirst = r));
    this.skipUnchanged = opts.skipUnchanged ?? false;
    this.lease.onLost(() => {
      this.assert();
    });
  }

  private readonly interval: number;
  private readonly skipUnchanged: boolean;

  start(): void {
    this.assert();
    this.timer = setInterval(() => {
      this.assert();
    }, this.interval);
    this.watcher = new ListWatcher(this.client, this.key, {
      onUpsert: (kv) => {
        if (kv.key === this.key && !kv.value.equals(this.value)) {
          this.log.warn({ key: this.key }, 'cluster config changed by someone else; restoring it');
          this.assert();
        }
      },
      onDelete: (key) => {
        if (key === this.key) {
          this.log.warn({ key: this.key }, 'cluster config deleted by someone else; restoring it');
          this.assert();
        }
      },
    });
    this.watcher.start();
  }

  /** Writes the config now (coalescing concurrent requests); failures retry with backoff. */
  assert(): void {
    if (this.stopped) return;
    if (this.writing) {
      this.again = true;
      return;
    }
    this.writing = true;
    void this.write().finally(() => {
      this.writing = false;
      if (this.again) {
        this.again = false;
        this.assert();
      }
    });
  }

  private async write(): Promise<void> {
    let leaseId: string | undefined;
    try {
      leaseId = await this.lease.current();
      const key = Buffer.from(this.key);
      const cur = this.skipUnchanged ? (await this.client.kv.range({ key })).kvs[0] : undefined;
      if (cur?.lease !== leaseId || !cur.value.equals(this.value)) {
        await this.client.kv.put({ key, value: this.value, lease: leaseId });
      }
      this.backoff.reset();
      if (!this.published) {
        this.published = true;
        this.resolveFirst();
      }
    } catch (e) {
      const err = toError(e);
      if (leaseId !== undefined && isLeaseNotFoundError(err)) {
        this.lease.reportLost(leaseId);
        return;
      }
      const delay = this.backoff.next();
      this.log.warn({ err: err.message, retryInMs: delay }, 'writing the cluster config failed; retrying');
      clearTimeout(this.retry);
      this.retry = setTimeout(() => {
        this.assert();
      }, delay);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.retry);
    await this.watcher?.stop();
  }
}
