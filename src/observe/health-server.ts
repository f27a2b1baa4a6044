import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSafeHttpServer } from './http-safe-server.js';
import { registry } from './metrics.js';

export interface HealthChecks {
  /** The process is alive and its loops are running. */
  healthy(): boolean;
  /** The component has done its initial work (e.g. every sync canary written). */
  ready(): boolean;
  /** Extra JSON detail for /readyz, e.g. which resources are still syncing. */
  detail?(): unknown;
}

/** Serves /healthz, /readyz and /metrics (GET only) on loopback. Returns the bound port (useful with port 0). */
export class HealthServer {
  private server: http.Server | undefined;

  constructor(private readonly checks: HealthChecks) {}

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
      const ok = this.checks.ready();
      const body = JSON.stringify({ ready: ok, detail: this.checks.detail?.() ?? null }) + '\n';
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(body);
    } else if (url === '/metrics') {
      const body = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType }).end(body);
    } else {
      res.writeHead(404).end('not found\n');
    }
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) =>
      s.close(() => {
        resolve();
      }),
    );
  }
}
