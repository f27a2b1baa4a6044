import { chmod, mkdir, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createSafeHttpServer } from './http-safe-server.js';
import { registry } from './metrics.js';

export interface HealthChecks {
  /** The process is alive and its loops are running. */
  healthy(): boolean;
  /** The component has done its initial work (e.g. every sync canary written). */
  ready(): boolean;
  /**
   * Extra JSON detail (which resources are still syncing, the VM inventory, ...). Never on the TCP port, which any
   * local user can reach: only on the status socket (see statusSocketPath), readable by the owner alone.
   */
  detail?(): unknown;
}

/** The owner-only status socket of a daemon (`role`: apiserver, kvstoremesh) in a local cluster's `run/` folder. */
export function statusSocketPath(clusterDir: string, role: string): string {
  return path.join(clusterDir, 'run', `${role}-status.sock`);
}

/** What the TCP /readyz answers: status words only (issue 25, hole 10). */
export interface ReadyzAnswer {
  ready: boolean;
  status: 'ready' | 'syncing';
}

/**
 * Serves /healthz, /readyz and /metrics (GET only) on loopback. Returns the bound port (useful with port 0). The TCP
 * /readyz answers `{"ready":..,"status":"ready"|"syncing"}` and nothing more; the detail is served, as
 * `{ready, status, detail}` on GET /readyz, only on a unix socket created 0600 (listenStatusSocket).
 */
export class HealthServer {
  private server: http.Server | undefined;
  private statusServer: http.Server | undefined;
  private statusSocket: string | undefined;

  constructor(private readonly checks: HealthChecks) {}

  /** Serves the detailed /readyz on a unix socket at `file`, mode 0600 (a stale socket there is replaced). */
  async listenStatusSocket(file: string): Promise<void> {
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    await rm(file, { force: true });
    const server = createSafeHttpServer(
      (req, res) => {
        this.handleStatus(req.pathname, res);
      },
      {
        name: 'health-status',
        methods: ['GET'],
        body: 'text',
      },
    );
    // The socket is created with the process umask; a tight umask around listen() leaves no window where another
    // user could connect, and the chmod after it states the mode whatever the umask was.
    const oldMask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(file, () => {
          resolve();
        });
      });
    } finally {
      process.umask(oldMask);
    }
    await chmod(file, 0o600);
    this.statusServer = server;
    this.statusSocket = file;
  }

  private answer(): ReadyzAnswer {
    const ready = this.checks.ready();
    return { ready, status: ready ? 'ready' : 'syncing' };
  }

  private handleStatus(url: string, res: http.ServerResponse): void {
    if (url !== '/readyz') {
      res.writeHead(404).end('not found\n');
      return;
    }
    const a = this.answer();
    const body = JSON.stringify({ ...a, detail: this.checks.detail?.() ?? null }) + '\n';
    res.writeHead(a.ready ? 200 : 503, { 'content-type': 'application/json' }).end(body);
  }

  async listen(port: number, host = '127.0.0.1'): Promise<number> {
    const server = createSafeHttpServer((req, res) => this.handle(req.pathname, res), {
      name: 'health',
      methods: ['GET'],
      body: 'text',
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        resolve();
      });
    });
    return (server.address() as AddressInfo).port;
  }

  private async handle(url: string, res: http.ServerResponse): Promise<void> {
    if (url === '/healthz') {
      const ok = this.checks.healthy();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'unhealthy\n');
    } else if (url === '/readyz') {
      const a = this.answer();
      res.writeHead(a.ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(a) + '\n');
    } else if (url === '/metrics') {
      const body = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType }).end(body);
    } else {
      res.writeHead(404).end('not found\n');
    }
  }

  async close(): Promise<void> {
    for (const s of [this.server, this.statusServer]) {
      if (!s) continue;
      s.closeAllConnections();
      await new Promise<void>((resolve) =>
        s.close(() => {
          resolve();
        }),
      );
    }
    this.server = undefined;
    this.statusServer = undefined;
    if (this.statusSocket) await rm(this.statusSocket, { force: true });
    this.statusSocket = undefined;
  }
}

/** GET /readyz on a status socket: `{status, body}`, status 0 when nothing answers. */
export function getStatusSocket(file: string, timeoutMs: number): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath: file, path: '/readyz', timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let body: unknown = null;
        try {
          body = JSON.parse(text);
        } catch {
          body = null;
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('error', () => {
      resolve({ status: 0, body: null });
    });
    req.on('timeout', () => {
      req.destroy();
      resolve({ status: 0, body: null });
    });
  });
}
