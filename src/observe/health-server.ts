import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { registry } from './metrics.js';

export interface HealthChecks {
  /** The process is alive and its loops are running. */
  healthy(): boolean;
  /** The component has done its initial work (e.g. every sync canary written). */
  ready(): boolean;
  /** Extra JSON detail for /readyz, e.g. which resources are still syncing. */
  detail?(): unknown;
}

/** Serves /healthz, /readyz and /metrics on loopback. Returns the bound port (useful with port 0). */
export class HealthServer {
  private server: http.Server | undefined;

  constructor(private readonly checks: HealthChecks) {}

  async listen(port: number, host = '127.0.0.1'): Promise<number> {
    const server = http.createServer((req, res) => {
      void this.handle(req, res);
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

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = (req.url ?? '/').split('?')[0];
    if (url === '/healthz') {
      const ok = this.checks.healthy();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'unhealthy\n');
    } else if (url === '/readyz') {
      const ok = this.checks.ready();
      res
        .writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify({ ready: ok, detail: this.checks.detail?.() ?? null }) + '\n');
    } else if (url === '/metrics') {
      res.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics());
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
