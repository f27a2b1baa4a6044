import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { kubeBinaryPaths } from './kube-binaries.js';

/** How long a freshly spawned etcd may take to answer /health before we give up. */
export const ETCD_START_TIMEOUT_MS = 20_000;
const HEALTH_POLL_INTERVAL_MS = 50;
const STOP_GRACE_MS = 5_000;
/**
 * The etcd every cmesh etcd runs: `$CMESH_ETCD_BINARY`, else the pinned build of scripts/build-kube.sh (etcd 3.6,
 * without the lease and watch-progress gaps of older releases), else `etcd` on PATH.
 */
export function etcdBinary(env: NodeJS.ProcessEnv = process.env): string {
  const given = env.CMESH_ETCD_BINARY;
  if (given !== undefined && given !== '') return given;
  const built = kubeBinaryPaths(env).binaries.etcd;
  return existsSync(built) ? built : 'etcd';
}

/** Every etcd we spawn carries this in its --name so that a janitor can find orphans. */
export const ETCD_NAME_MARKER = 'cmesh-';

export interface EtcdTlsFiles {
  /** CA that signed the client certificates etcd must accept. */
  trustedCaFile: string;
  certFile: string;
  keyFile: string;
  /** Require a client certificate (etcd's --client-cert-auth). */
  clientCertAuth: boolean;
}

export interface EtcdProcessOptions {
  /** Member name; must start with ETCD_NAME_MARKER so orphans can be found. */
  name: string;
  dataDir: string;
  clientPort: number;
  peerPort: number;
  metricsPort: number;
  /** Listen address; loopback only. */
  host?: string;
  tls?: EtcdTlsFiles;
  /** Where etcd's own log goes; discarded when unset. */
  logFile?: string;
  extraArgs?: readonly string[];
  /** The path of the etcd binary; etcdBinary() by default. */
  binary?: string;
  /**
   * Outlive this process (a local cluster's etcd started by the CLI): own process group, not waited for.
   * The pid is written to `pidFile` when set.
   */
  detached?: boolean;
  pidFile?: string;
}

export class EtcdStartError extends Error {
  override name = 'EtcdStartError';
}

/** Asks the kernel for a free TCP port on loopback. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => {
        resolve(port);
      });
    });
  });
}

/**
 * One etcd server process: spawn, wait until healthy, SIGKILL, restart on the same ports and data directory.
 * Used by `cmesh cluster create` for real clusters and by the test harness.
 */
export class EtcdProcess {
  private child: ChildProcess | undefined;
  private exitPromise: Promise<void> | undefined;

  constructor(readonly options: EtcdProcessOptions) {
    if (!options.name.startsWith(ETCD_NAME_MARKER)) {
      throw new Error(`etcd member name ${options.name} must start with ${ETCD_NAME_MARKER}`);
    }
  }

  get host(): string {
    return this.options.host ?? '127.0.0.1';
  }

  get clientUrl(): string {
    return `${this.options.tls ? 'https' : 'http'}://${this.host}:${this.options.clientPort}`;
  }

  get metricsUrl(): string {
    return `http://${this.host}:${this.options.metricsPort}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  isRunning(): boolean {
    const c = this.child;
    return c?.exitCode === null && c.signalCode === null;
  }

  args(): string[] {
    const o = this.options;
    const scheme = o.tls ? 'https' : 'http';
    const peer = `http://${this.host}:${o.peerPort}`;
    const args = [
      `--name=${o.name}`,
      `--data-dir=${o.dataDir}`,
      `--listen-client-urls=${scheme}://${this.host}:${o.clientPort}`,
      `--advertise-client-urls=${scheme}://${this.host}:${o.clientPort}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=${o.name}=${peer}`,
      `--listen-metrics-urls=${this.metricsUrl}`,
      '--logger=zap',
      '--log-outputs=stderr',
    ];
    if (o.tls) {
      args.push(
        `--cert-file=${o.tls.certFile}`,
        `--key-file=${o.tls.keyFile}`,
        `--trusted-ca-file=${o.tls.trustedCaFile}`,
      );
      if (o.tls.clientCertAuth) args.push('--client-cert-auth');
    }
    args.push(...(o.extraArgs ?? []));
    return args;
  }

  /** Spawns etcd and resolves once /health answers true. */
  async start(): Promise<void> {
    if (this.isRunning()) return;
    await mkdir(this.options.dataDir, { recursive: true, mode: 0o700 });
    // etcd writes its log straight into the file, so the log survives us (detached) and costs us nothing.
    const logFd = this.options.logFile ? openSync(this.options.logFile, 'a') : undefined;
    const child = spawn(this.options.binary ?? etcdBinary(), this.args(), {
      stdio: ['ignore', 'ignore', logFd ?? 'ignore'],
      detached: this.options.detached ?? false,
    });
    if (logFd !== undefined) closeSync(logFd);
    this.child = child;
    if (this.options.detached) child.unref();
    if (this.options.pidFile && child.pid) await writeFile(this.options.pidFile, `${child.pid}\n`);
    this.exitPromise = new Promise((resolve) => {
      child.once('exit', () => {
        resolve();
      });
      child.once('error', () => {
        resolve();
      });
    });
    let spawnError: Error | undefined;
    child.once('error', (err) => (spawnError = err));
    const deadline = Date.now() + ETCD_START_TIMEOUT_MS;
    for (;;) {
      if (!this.isRunning()) {
        const err = spawnError;
        throw new EtcdStartError(
          `etcd ${this.options.name} exited during start-up${err ? `: ${err.message}` : ''}` +
            (this.options.logFile ? `; see ${this.options.logFile}` : ''),
          { cause: err },
        );
      }
      if (await this.healthy()) return;
      if (Date.now() > deadline) {
        await this.kill();
        throw new EtcdStartError(`etcd ${this.options.name} did not become healthy within ${ETCD_START_TIMEOUT_MS} ms`);
      }
      await new Promise((r) => setTimeout(r, HEALTH_POLL_INTERVAL_MS));
    }
  }

  /** True when etcd's /health endpoint says so. */
  async healthy(): Promise<boolean> {
    return new Promise((resolve) => {
      const req = http.get(`${this.metricsUrl}/health`, { timeout: 1000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          resolve(res.statusCode === 200 && body.includes('"health":"true"'));
        });
      });
      req.on('error', () => {
        resolve(false);
      });
      req.on('timeout', () => {
        req.destroy();
        resolve(false);
      });
    });
  }

  /** SIGKILL: the server vanishes as in a crash; its data directory stays. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  /** SIGTERM, then SIGKILL after a grace period. */
  async stop(): Promise<void> {
    if (!this.isRunning()) return;
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), STOP_GRACE_MS);
    await this.signal('SIGTERM');
    clearTimeout(timer);
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || !this.isRunning()) return;
    child.kill(sig);
    await this.exitPromise;
  }
}
