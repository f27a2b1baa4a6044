/**
 * A sample pod: a small TCP server bound to the pod's IP. In `http` mode it answers any request with
 * `HTTP/1.0 200` and `cluster=<c> pod=<ns/name> from=<client ip>`, so a test sees where a request landed and from
 * which address; in `echo` mode it sends back what it receives (for throughput measurements).
 */
import net from 'node:net';
import { logger } from '../../observe/logger.js';
import { isLoopbackV4 } from './loopback.js';

const log = logger('pod-server');
const HEADER_END = '\r\n\r\n';
/** A request larger than this without a header end gets answered anyway. */
const MAX_REQUEST_BYTES = 16 * 1024;

export interface PodServerOptions {
  ip: string;
  port: number;
  cluster: string;
  /** `namespace/name`. */
  pod: string;
  mode?: 'http' | 'echo';
}

export class PodServerError extends Error {
  override name = 'PodServerError';
}

export class PodServer {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  /** Connections accepted so far. */
  accepted = 0;

  constructor(readonly opts: PodServerOptions) {
    if (!isLoopbackV4(opts.ip))
      throw new PodServerError(`pod IP ${opts.ip} is not in 127.0.0.0/8; cmesh binds loopback only`);
  }

  body(from: string): string {
    return `cluster=${this.opts.cluster} pod=${this.opts.pod} from=${from}\n`;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = net.createServer({ allowHalfOpen: true }, (sock) => {
      this.accepted++;
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
      sock.on('error', () => sock.destroy());
      if (this.opts.mode === 'echo') {
        sock.pipe(sock);
        return;
      }
      let seen = '';
      let answered = false;
      const answer = (): void => {
        if (answered) return;
        answered = true;
        const body = this.body(sock.remoteAddress ?? '');
        sock.end(
          `HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      };
      sock.on('data', (chunk: Buffer) => {
        seen += chunk.toString('latin1');
        if (seen.includes(HEADER_END) || seen.length > MAX_REQUEST_BYTES) answer();
      });
      sock.on('end', answer);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.opts.ip, port: this.opts.port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => {
      log.warn({ pod: this.opts.pod, err }, 'pod server error');
    });
    this.server = server;
  }

  /** The bound port (useful with port 0). */
  get port(): number {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : this.opts.port;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    for (const sock of this.sockets) sock.destroy();
    if (s)
      await new Promise<void>((resolve) =>
        s.close(() => {
          resolve();
        }),
      );
  }
}
