import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { logger } from '../../observe/logger.js';
import { validateClusterName } from '../../wire/index.js';

/** Events are coalesced for this long: editors and Kubernetes volume updates produce bursts of them. */
export const CONFIG_DIR_DEBOUNCE_MS = 100;
/**
 * A full rescan runs this often whatever fs.watch reports: fs.watch misses events on some file systems and
 * cannot watch a directory that does not exist yet.
 */
export const CONFIG_DIR_RESCAN_MS = 5_000;
/** Cilium treats a file as an etcd config only when it mentions endpoints (e.g. skips README files). */
const ETCD_CONFIG_MARKER = 'endpoints:';

const log = logger('clustermesh-config');

/** What the watcher reports; the file name is the cluster name. */
export interface ConfigDirectoryListener {
  /** A new config file for `cluster` (also every file found by the first scan). */
  onAdd(cluster: string, file: string): void;
  /** The file's content changed. */
  onChange(cluster: string, file: string): void;
  /** The file is gone, or no longer an etcd config. */
  onRemove(cluster: string): void;
}

export interface ConfigDirectoryOptions {
  dir: string;
  /** The local cluster's own file is ignored (the same directory is often shared by every cluster). */
  localClusterName: string;
  listener: ConfigDirectoryListener;
  debounceMs?: number;
  rescanMs?: number;
}

/**
 * Follows a Cilium clustermesh config directory: one etcd client config per remote cluster, named after it.
 * Content is compared by hash, so a touched but unchanged file (or a Kubernetes symlink swap with the same
 * content) does not reconnect. Dotfiles (Kubernetes' `..data` links), directories, the local cluster's file
 * and names that are not valid cluster names are ignored.
 */
export class ConfigDirectoryWatcher {
  private readonly tracked = new Map<string, string>();
  private readonly warned = new Set<string>();
  private readonly debounceMs: number;
  private readonly rescanMs: number;
  private fsWatcher: FSWatcher | undefined;
  private watchedIno: number | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private rescanTimer: NodeJS.Timeout | undefined;
  private running = false;
  private missingLogged = false;

  constructor(private readonly opts: ConfigDirectoryOptions) {
    this.debounceMs = opts.debounceMs ?? CONFIG_DIR_DEBOUNCE_MS;
    this.rescanMs = opts.rescanMs ?? CONFIG_DIR_RESCAN_MS;
  }

  /** The clusters currently configured, with their files. */
  clusters(): ReadonlyMap<string, string> {
    return new Map([...this.tracked.keys()].map((c) => [c, path.join(this.opts.dir, c)]));
  }

  /** Scans synchronously (so the caller knows the initial remotes when this returns), then follows changes. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.rescan();
    this.rescanTimer = setInterval(() => {
      this.rescan();
    }, this.rescanMs);
    this.rescanTimer.unref();
  }

  stop(): void {
    this.running = false;
    clearInterval(this.rescanTimer);
    clearTimeout(this.debounceTimer);
    this.rescanTimer = undefined;
    this.debounceTimer = undefined;
    this.closeFsWatcher();
  }

  /** Re-reads the directory now and reports differences. */
  rescan(): void {
    if (!this.running) return;
    this.ensureFsWatcher();
    const found = this.scan();
    for (const [cluster, hash] of found) {
      const prev = this.tracked.get(cluster);
      if (prev === hash) continue;
      this.tracked.set(cluster, hash);
      const file = path.join(this.opts.dir, cluster);
      if (prev === undefined) {
        log.info({ cluster, file }, 'new remote cluster configuration');
        this.emit(() => {
          this.opts.listener.onAdd(cluster, file);
        });
      } else {
        log.info({ cluster, file }, 'remote cluster configuration changed');
        this.emit(() => {
          this.opts.listener.onChange(cluster, file);
        });
      }
    }
    for (const cluster of [...this.tracked.keys()]) {
      if (found.has(cluster)) continue;
      this.tracked.delete(cluster);
      log.info({ cluster }, 'remote cluster configuration removed');
      this.emit(() => {
        this.opts.listener.onRemove(cluster);
      });
    }
  }

  private emit(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      log.error({ err }, 'config directory listener failed');
    }
  }

  /** cluster -> content hash of every valid config file in the directory. */
  private scan(): Map<string, string> {
    const out = new Map<string, string>();
    let names: string[];
    try {
      names = readdirSync(this.opts.dir);
      this.missingLogged = false;
    } catch (err) {
      if (!this.missingLogged) {
        this.missingLogged = true;
        log.info(
          { dir: this.opts.dir, err: (err as Error).message },
          'clustermesh config directory not readable yet; no remote clusters until it appears',
        );
      }
      return out;
    }
    for (const name of names) {
      if (name.startsWith('.') || name === this.opts.localClusterName) continue;
      const file = path.join(this.opts.dir, name);
      let content: Buffer;
      try {
        // stat follows symlinks, as Kubernetes ConfigMap/Secret mounts use them.
        if (!statSync(file).isFile()) continue;
        content = readFileSync(file);
      } catch {
        continue; // vanished or unreadable: treated as absent
      }
      if (!content.toString('utf8').includes(ETCD_CONFIG_MARKER)) continue;
      try {
        validateClusterName(name);
      } catch (err) {
        if (!this.warned.has(name)) {
          this.warned.add(name);
          log.warn({ file, err: (err as Error).message }, 'ignoring clustermesh config file: not a valid cluster name');
        }
        continue;
      }
      out.set(name, createHash('sha256').update(content).digest('hex'));
    }
    return out;
  }

  private ensureFsWatcher(): void {
    let ino: number;
    try {
      ino = statSync(this.opts.dir).ino;
    } catch {
      this.closeFsWatcher();
      return; // does not exist yet; the periodic rescan retries
    }
    // A directory removed and created again is a new inode: the old watch would stay silent.
    if (this.fsWatcher && this.watchedIno === ino) return;
    this.closeFsWatcher();
    try {
      const w = watch(this.opts.dir, { persistent: false }, () => {
        this.schedule();
      });
      w.on('error', () => {
        // The directory was removed or replaced: fall back to rescans until it can be watched again.
        this.closeFsWatcher();
        this.schedule();
      });
      this.fsWatcher = w;
      this.watchedIno = ino;
    } catch {
      // Raced with a removal; the periodic rescan retries.
    }
  }

  private closeFsWatcher(): void {
    this.fsWatcher?.close();
    this.fsWatcher = undefined;
  }

  private schedule(): void {
    if (!this.running) return;
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined;
      this.rescan();
    }, this.debounceMs);
    this.debounceTimer.unref();
  }
}
