import {
  RemoteClusterManager,
  defaultRemoteClusterTuning,
  type RemoteClusterTuning,
} from '../../kvstore/remote/index.js';
import { logger } from '../../observe/logger.js';
import type { ClusterMeshHandle, ClusterMeshOptions, RemoteClusterStatus } from './remote-cluster-types.js';
import { remoteClusters } from './metrics.js';
import { RemoteCluster } from './remote-cluster.js';

/** Cilium's default bound of the wait for remote clusters' initial sync at agent start. */
export const SYNC_TIMEOUT_MS = 60_000;

const log = logger('clustermesh');

/** Extra knobs, outside the contract: tests shorten intervals; the agent may name its node for metrics. */
export interface ClusterMeshTuning extends Partial<RemoteClusterTuning> {
  configDebounceMs?: number;
  configRescanMs?: number;
}

/**
 * The agent's remote-cluster side: follows the config directory and runs one RemoteCluster per file through the
 * shared RemoteClusterManager (which keeps cluster IDs unique across remotes).
 */
export class ClusterMesh implements ClusterMeshHandle {
  private readonly localClusterName: string;
  private readonly manager: RemoteClusterManager<RemoteCluster>;
  private readonly nodeName: string;
  private started = false;
  private stopped = false;

  constructor(
    private readonly opts: ClusterMeshOptions,
    tuning: ClusterMeshTuning = {},
  ) {
    this.localClusterName = opts.localClusterName;
    this.nodeName = tuning.nodeName ?? defaultRemoteClusterTuning().nodeName;
    this.manager = new RemoteClusterManager<RemoteCluster>({
      localClusterName: opts.localClusterName,
      localClusterId: opts.localClusterId,
      localMaxConnectedClusters: opts.localMaxConnectedClusters,
      configDir: opts.configDir,
      ...(tuning.configDebounceMs !== undefined ? { debounceMs: tuning.configDebounceMs } : {}),
      ...(tuning.configRescanMs !== undefined ? { rescanMs: tuning.configRescanMs } : {}),
      create: (name, configFile, mesh) =>
        new RemoteCluster({
          name,
          configFile,
          mesh,
          sink: opts.sink,
          ...(opts.cacheTtlMs !== undefined ? { cacheTtlMs: opts.cacheTtlMs } : {}),
          tuning: {
            ...tuning,
            nodeName: this.nodeName,
            ...(opts.heartbeatStaleMs !== undefined ? { heartbeatStaleMs: opts.heartbeatStaleMs } : {}),
          },
        }),
      onCountChange: (count) => {
        remoteClusters().set({ source_cluster: this.localClusterName, source_node_name: this.nodeName }, count);
      },
    });
  }

  /** Reads the config directory (synchronously: the remotes present now are known when this returns) and connects. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    log.info({ configDir: this.opts.configDir, localCluster: this.localClusterName }, 'starting clustermesh');
    this.manager.start();
  }

  async synced(): Promise<void> {
    const remotes = this.manager.remotes();
    const waits = remotes.map((r) => r.whenReady());
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
      const notReady = this.manager
        .remotes()
        .filter((r) => !r.isReady)
        .map((r) => r.name);
      log.warn({ notReady, timeoutMs }, 'remote clusters not synced within the timeout; continuing without them');
    }
  }

  status(): RemoteClusterStatus[] {
    return this.manager.remotes().map((r) => r.status());
  }

  /** Stops every connection; the entries stay in the sink (an agent restart must not break connections). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.manager.stop();
  }
}
