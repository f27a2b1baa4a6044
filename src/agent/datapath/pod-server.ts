/**
 * A sample pod: a small TCP server bound to the loopback address of the pod's IP (host-address.ts). In `http` mode
 * it answers any request with `HTTP/1.0 200` and `cluster=<c> pod=<ns/name> from=<client pod ip>`, so a test sees
 * where a request landed and from which pod; in `echo` mode it sends back what it receives (for throughput
 * measurements).
 */
import net from 'node:net';
import { logger } from '../../observe/logger.js';
import { NoHostAddressError, requireHostAddress } from './host-address.js';

const log = logger('pod-server');
const HEADER_END = '\r\n\r\n';
/** A request larger than this without a header end gets answered anyway. */
const MAX_REQUEST_BYTES = 16 * 1024;

export interface PodServerOptions {
  /** The pod IP (data); the server binds its loopback address. */
  ip: string;
  port: number;
  cluster: string;
  /** `namespace/name`. */
  pod: string;
  mode?: 'http' | 'echo';
  /**
   * The pod IP a client's socket address stands for (the agent asks its ipcache); default: the socket address.
   * Only the `from=` of the answer uses it.
   */
  peerAddress?: (socketAddress: string) => string;
}

export class PodServerError extends Error {
  override name = 'PodServerError';
}

export class PodServer {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  /** Connections accepted so far. */
  accepted = 0;
  /** The loopback address the server binds for the pod IP. */
  readonly socketAddress: string;

  constructor(readonly opts: PodServerOptions) {
    try {
      this.socketAddress = requireHostAddress(opts.ip, `pod ${opts.pod}: pod IP`);
    } catch (err) {
      if (!(err instanceof NoHostAddressError)) throw err;
      throw new PodServerError(err.message, { cause: err });
    }
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
        const peer = sock.remoteAddress ?? '';
        const body = this.body(this.opts.peerAddress?.(peer) ?? peer);
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
      server.listen({ host: this.socketAddress, port: this.opts.port }, () => {
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
