/**
 * A loopback TCP proxy a test can cut and restore: a network partition between one client and its etcd, while
 * other clients keep writing.
 */
import net from 'node:net';

export class TcpProxy {
  private readonly sockets = new Set<net.Socket>();
  private cutOff = false;

  private constructor(
    private readonly server: net.Server,
    private readonly target: { host: string; port: number },
  ) {
    server.on('connection', (client) => {
      if (this.cutOff) {
        client.destroy();
        return;
      }
      const upstream = net.connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  /** Proxies `targetUrl` (`http://127.0.0.1:port`) from a free loopback port. */
  static async start(targetUrl: string): Promise<TcpProxy> {
    const u = new URL(targetUrl);
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    return new TcpProxy(server, { host: u.hostname, port: Number(u.port) });
  }

  get url(): string {
    const addr = this.server.address() as net.AddressInfo;
    return `http://127.0.0.1:${addr.port}`;
  }

  /** Drops every connection and refuses new ones until restore(). */
  cut(): void {
    this.cutOff = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  restore(): void {
    this.cutOff = false;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) =>
      this.server.close(() => {
        resolve();
      }),
    );
  }
}
