import { logger } from '../../observe/logger.js';
import type { MaxConnectedClusters } from '../../wire/index.js';
import type { ClusterMeshHandle, ClusterMeshOptions, RemoteClusterStatus } from '../remote-cluster-types.js';
import { ConfigDirectoryWatcher } from './config-directory.js';
import { remoteClusters } from './metrics.js';
import { RemoteCluster, defaultRemoteClusterTuning, type RemoteClusterTuning } from './remote-cluster.js';

/** Cilium's default bound of the wait for remote clusters' initial sync at agent start. */
export const SYNC_TIMEOUT_MS = 60_000;

const log = logger('clustermesh');

/** Extra knobs, outside the contract: tests shorten intervals; the agent may name its node for metrics. */
export interface ClusterMeshTuning extends Partial<RemoteClusterTuning> {
  configDebounceMs?: number;
  configRescanMs?: number;
}

/**
 * The agent's remote-cluster side: follows the config directory, runs one RemoteCluster per file, and keeps
 * cluster IDs unique across remotes (the first remote to claim an ID keeps it; another one claiming it is
 * refused, with a status saying so, until the first one leaves or changes ID).
 */
export class ClusterMesh implements ClusterMeshHandle {
  readonly localClusterName: string;
  readonly localClusterId: number;
  readonly localMaxConnectedClusters: MaxConnectedClusters;
  private readonly remotes = new Map<string, RemoteCluster>();
  /** id -> the remote holding it. */
  private readonly idOwners = new Map<number, string>();
  private readonly watcher: ConfigDirectoryWatcher;
  private readonly tuning: ClusterMeshTuning;
  private readonly nodeName: string;
  /** Removals in flight: stop() waits for their drains, and a remote added again starts after its drain. */
  private readonly removing = new Map<string, Promise<void>>();
  private started = false;
  private stopped = false;

  constructor(
    private readonly opts: ClusterMeshOptions,
    tuning: ClusterMeshTuning = {},
  ) {
    this.localClusterName = opts.localClusterName;
    this.localClusterId = opts.localClusterId;
    this.localMaxConnectedClusters = opts.localMaxConnectedClusters;
    this.tuning = tuning;
    this.nodeName = tuning.nodeName ?? defaultRemoteClusterTuning().nodeName;
    this.watcher = new ConfigDirectoryWatcher({
      dir: opts.configDir,
      localClusterName: opts.localClusterName,
      ...(tuning.configDebounceMs !== undefined ? { debounceMs: tuning.configDebounceMs } : {}),
      ...(tuning.configRescanMs !== undefined ? { rescanMs: tuning.configRescanMs } : {}),
      listener: {
        onAdd: (cluster, file) => {
          this.add(cluster, file);
        },
        onChange: (cluster) => {
          this.remotes.get(cluster)?.restart();
        },
        onRemove: (cluster) => {
          this.remove(cluster);
        },
      },
    });
  }

  /** Reads the config directory (synchronously: the remotes present now are known when this returns) and connects. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    log.info({ configDir: this.opts.configDir, localCluster: this.localClusterName }, 'starting clustermesh');
    this.watcher.start();
  }

  async synced(): Promise<void> {
    const waits = [...this.remotes.values()].map((r) => r.whenReady());
    if (waits.length === 0) return;
    const timeoutMs = this.opts.syncTimeoutMs ?? SYNC_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => {
        resolve('timeout');
      }, timeoutMs);
      timer.unref();
    });
    const result = await Promise.race([Promise.all(waits), timeout]);
    clearTimeout(timer);
    if (result === 'timeout') {
      const notReady = [...this.remotes.values()].filter((r) => !r.isReady).map((r) => r.name);
      log.warn({ notReady, timeoutMs }, 'remote clusters not synced within the timeout; continuing without them');
    }
  }

  status(): RemoteClusterStatus[] {
    return [...this.remotes.values()].map((r) => r.status()).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Stops every connection; the entries stay in the sink (an agent restart must not break connections). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.watcher.stop();
    await Promise.all([...this.remotes.values()].map((r) => r.stop()));
    await Promise.all([...this.removing.values()]);
    this.remotes.clear();
  }

  /** Cluster IDs held by remotes other than `self` (for RemoteCluster). */
  otherRemoteIds(self: string): ReadonlyMap<number, string> {
    const out = new Map<number, string>();
    for (const [id, owner] of this.idOwners) if (owner !== self) out.set(id, owner);
    return out;
  }

  claimClusterId(remote: string, id: number): void {
    const owner = this.idOwners.get(id);
    if (owner !== undefined && owner !== remote) {
      throw new Error(`cluster ID ${id} is already held by remote cluster "${owner}"`);
    }
    this.releaseClusterId(remote);
    this.idOwners.set(id, remote);
  }

  releaseClusterId(remote: string): void {
    for (const [id, owner] of this.idOwners) if (owner === remote) this.idOwners.delete(id);
  }

  private add(cluster: string, file: string): void {
    if (this.stopped || this.remotes.has(cluster)) return;
    const rc = new RemoteCluster({
      name: cluster,
      configFile: file,
      mesh: this,
      sink: this.opts.sink,
      ...(this.opts.cacheTtlMs !== undefined ? { cacheTtlMs: this.opts.cacheTtlMs } : {}),
      tuning: {
        ...this.tuning,
        nodeName: this.nodeName,
        ...(this.opts.heartbeatStaleMs !== undefined ? { heartbeatStaleMs: this.opts.heartbeatStaleMs } : {}),
      },
    });
    this.remotes.set(cluster, rc);
    this.updateCount();
    const draining = this.removing.get(cluster);
    if (!draining) {
      rc.start();
      return;
    }
    // The old instance's drain would otherwise delete what the new one delivers, and release its ID claim.
    void draining.then(() => {
      if (this.remotes.get(cluster) === rc && !this.stopped) rc.start();
    });
  }

  private remove(cluster: string): void {
    const rc = this.remotes.get(cluster);
    if (!rc) return;
    this.remotes.delete(cluster);
    this.updateCount();
    const previous = this.removing.get(cluster) ?? Promise.resolve();
    const p: Promise<void> = previous
      .then(() => rc.remove())
      .catch((err: unknown) => {
        log.error({ err, cluster }, 'removing remote cluster failed');
      })
      .finally(() => {
        if (this.removing.get(cluster) === p) this.removing.delete(cluster);
      });
    this.removing.set(cluster, p);
  }

  private updateCount(): void {
    remoteClusters().set({ source_cluster: this.localClusterName, source_node_name: this.nodeName }, this.remotes.size);
  }
}
