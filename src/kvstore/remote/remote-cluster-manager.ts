import { logger } from '../../observe/logger.js';
import type { MaxConnectedClusters } from '../../wire/index.js';
import { ConfigDirectoryWatcher } from './config-directory.js';
import type { RemoteClusterMeshView } from './remote-link.js';

const log = logger('clustermesh');

/** One remote as the manager drives it. */
export interface ManagedRemote {
  readonly name: string;
  start(): void;
  /** Its config file changed. */
  restart(): void;
  /** The process is shutting down: stop, keep what was learned. */
  stop(): Promise<void>;
  /**
   * The remote left the mesh (its config file is gone). `signal` aborts when the same remote is configured again
   * meanwhile: a removal that waits (kvstoremesh's grace period) may then stop early and keep the data.
   */
  remove(signal: AbortSignal): Promise<void>;
}

export interface RemoteClusterManagerOptions<R extends ManagedRemote> {
  localClusterName: string;
  localClusterId: number;
  localMaxConnectedClusters: MaxConnectedClusters;
  /** Cilium's format: one etcd config file per remote, named after it; changes are followed at run time. */
  configDir: string;
  create(name: string, configFile: string, mesh: RemoteClusterMeshView): R;
  /** The number of configured remotes changed. */
  onCountChange?(count: number): void;
  debounceMs?: number;
  rescanMs?: number;
}

/**
 * Follows the config directory, runs one remote per file, and keeps cluster IDs unique across remotes (the first
 * remote to claim an ID keeps it; another one claiming it is refused until the first one leaves or changes ID).
 * A remote configured again while its removal runs starts once that removal has finished.
 */
export class RemoteClusterManager<R extends ManagedRemote> implements RemoteClusterMeshView {
  readonly localClusterName: string;
  readonly localClusterId: number;
  readonly localMaxConnectedClusters: MaxConnectedClusters;
  private readonly active = new Map<string, R>();
  /** id -> the remote holding it. */
  private readonly idOwners = new Map<number, string>();
  private readonly watcher: ConfigDirectoryWatcher;
  /** Removals in flight: stop() waits for them, and a remote added again starts after its removal. */
  private readonly removing = new Map<string, { done: Promise<void>; abort: AbortController }>();
  private started = false;
  private stopped = false;

  constructor(private readonly opts: RemoteClusterManagerOptions<R>) {
    this.localClusterName = opts.localClusterName;
    this.localClusterId = opts.localClusterId;
    this.localMaxConnectedClusters = opts.localMaxConnectedClusters;
    this.watcher = new ConfigDirectoryWatcher({
      dir: opts.configDir,
      localClusterName: opts.localClusterName,
      ...(opts.debounceMs !== undefined ? { debounceMs: opts.debounceMs } : {}),
      ...(opts.rescanMs !== undefined ? { rescanMs: opts.rescanMs } : {}),
      listener: {
        onAdd: (cluster, file) => {
          this.add(cluster, file);
        },
        onChange: (cluster) => {
          this.active.get(cluster)?.restart();
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
    this.watcher.start();
  }

  /** Stops every remote (keeping their data) and waits for the removals in flight. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.watcher.stop();
    await Promise.all([...this.active.values()].map((r) => r.stop()));
    await Promise.all([...this.removing.values()].map((r) => r.done));
    this.active.clear();
  }

  /** The configured remotes, by name. */
  remotes(): R[] {
    return [...this.active.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  get(name: string): R | undefined {
    return this.active.get(name);
  }

  /** Names of remotes being removed. */
  removals(): string[] {
    return [...this.removing.keys()];
  }

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
    if (this.stopped || this.active.has(cluster)) return;
    const r = this.opts.create(cluster, file, this);
    this.active.set(cluster, r);
    this.opts.onCountChange?.(this.active.size);
    const removal = this.removing.get(cluster);
    if (!removal) {
      r.start();
      return;
    }
    removal.abort.abort();
    // The old instance's removal would otherwise delete what the new one delivers, and release its ID claim.
    void removal.done.then(() => {
      if (this.active.get(cluster) === r && !this.stopped) r.start();
    });
  }

  /**
   * Removes a remote that left the mesh while the process was down: found in what the process wrote before, not in
   * the config directory. It goes as if its config file had just been deleted (kvstoremesh's grace period
   * included). Nothing happens for a configured remote, one being removed, or the local cluster.
   */
  removeStale(cluster: string): void {
    if (this.stopped || !this.started) return;
    if (this.active.has(cluster) || this.removing.has(cluster) || cluster === this.localClusterName) return;
    log.info({ cluster }, 'remote cluster left the mesh while this process was down; removing what is left of it');
    this.scheduleRemoval(cluster, this.opts.create(cluster, '', this));
  }

  private remove(cluster: string): void {
    const r = this.active.get(cluster);
    if (!r) return;
    this.active.delete(cluster);
    this.opts.onCountChange?.(this.active.size);
    this.scheduleRemoval(cluster, r);
  }

  private scheduleRemoval(cluster: string, r: R): void {
    const previous = this.removing.get(cluster)?.done ?? Promise.resolve();
    const abort = new AbortController();
    const done: Promise<void> = previous
      .then(() => r.remove(abort.signal))
      .catch((err: unknown) => {
        log.error({ err, cluster }, 'removing remote cluster failed');
      })
      .finally(() => {
        // A remote added again meanwhile holds its own claim (claimed after this removal finished).
        if (!this.active.has(cluster)) this.releaseClusterId(cluster);
        if (this.removing.get(cluster)?.done === done) this.removing.delete(cluster);
      });
    this.removing.set(cluster, { done, abort });
  }
}
