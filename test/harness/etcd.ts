/**
 * Test harness: real etcd servers on free loopback ports with temporary data directories.
 * Every server started here is killed when the test process exits, however it exits; the test runner
 * script also sweeps for orphans (member names start with `cmesh-test-`).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Etcd3, type IOptions } from 'etcd3';
import { createEtcdClient } from '../../src/kvstore/client.js';
import { EtcdProcess, freePort } from '../../src/mesh/etcd-process.js';
import {
  createCertificateAuthority,
  issueCertificate,
  type CertificateAuthority,
} from '../../src/mesh/certificates.js';

const START_ATTEMPTS = 3;
const live = new Set<TestEtcd>();

function killAllSync(): void {
  for (const s of live) {
    try {
      if (s.proc.pid) process.kill(s.proc.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
process.once('exit', killAllSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    killAllSync();
    process.exit(130);
  });
}

export interface TestTls {
  ca: CertificateAuthority;
  caFile: string;
  /** A client certificate with CN `root`. */
  clientCertFile: string;
  clientKeyFile: string;
  /** Issues another client certificate signed by the server's CA, written to files. */
  issueClient(
    commonName: string,
    opts?: { notAfter?: Date; notBefore?: Date },
  ): Promise<{ certFile: string; keyFile: string }>;
}

export interface TestEtcdOptions {
  tls?: boolean;
  extraArgs?: readonly string[];
}

export class TestEtcd {
  private clients: Etcd3[] = [];

  private constructor(
    readonly proc: EtcdProcess,
    readonly dir: string,
    readonly tls: TestTls | undefined,
  ) {}

  static async start(opts: TestEtcdOptions = {}): Promise<TestEtcd> {
    const dir = await mkdtemp(path.join(tmpdir(), 'cmesh-test-etcd-'));
    const tls = opts.tls ? await makeTls(dir) : undefined;
    let lastErr: unknown;
    for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
      const proc = new EtcdProcess({
        name: `cmesh-test-${process.pid}-${path.basename(dir)}`,
        dataDir: path.join(dir, 'data'),
        clientPort: await freePort(),
        peerPort: await freePort(),
        metricsPort: await freePort(),
        logFile: path.join(dir, 'etcd.log'),
        ...(tls
          ? {
              tls: {
                trustedCaFile: tls.caFile,
                certFile: path.join(dir, 'server.crt'),
                keyFile: path.join(dir, 'server.key'),
                clientCertAuth: true,
              },
            }
          : {}),
        ...(opts.extraArgs ? { extraArgs: opts.extraArgs } : {}),
      });
      const server = new TestEtcd(proc, dir, tls);
      live.add(server);
      try {
        await proc.start();
        return server;
      } catch (err) {
        // Most likely a port taken between freePort() and etcd's bind: try other ports.
        lastErr = err;
        live.delete(server);
        await proc.kill();
        await rm(path.join(dir, 'data'), { recursive: true, force: true });
      }
    }
    await rm(dir, { recursive: true, force: true });
    throw lastErr;
  }

  get endpoint(): string {
    return this.proc.clientUrl;
  }

  get metricsUrl(): string {
    return this.proc.metricsUrl;
  }

  /** etcd3 options for a client of this server (root client cert when TLS is on). */
  async clientOptions(extra: Partial<IOptions> = {}): Promise<IOptions> {
    const { readFile } = await import('node:fs/promises');
    const base: IOptions = { hosts: [this.endpoint], ...extra };
    if (this.tls) {
      base.credentials = {
        rootCertificate: await readFile(this.tls.caFile),
        certChain: await readFile(this.tls.clientCertFile),
        privateKey: await readFile(this.tls.clientKeyFile),
      };
    }
    return base;
  }

  /**
   * A client built like cmesh builds its own (no hidden retries or circuit breaker, keepalive, large messages),
   * closed automatically by stop(). With `extra`, a raw etcd3 client with those options instead.
   */
  async client(extra?: Partial<IOptions>): Promise<Etcd3> {
    const c = extra
      ? new Etcd3(await this.clientOptions(extra))
      : createEtcdClient({
          endpoints: [this.endpoint],
          ...(this.tls
            ? { tls: { ca: this.tls.caFile, cert: this.tls.clientCertFile, key: this.tls.clientKeyFile } }
            : {}),
        });
    this.clients.push(c);
    return c;
  }

  /** kill -9: a crash. Data survives. */
  async kill(): Promise<void> {
    await this.proc.kill();
  }

  /** Starts the server again on the same ports and data directory. */
  async start(): Promise<void> {
    await this.proc.start();
  }

  async restart(): Promise<void> {
    await this.proc.restart();
  }

  /** Compacts the history up to `revision` (the current revision when unset); returns the revision compacted. */
  async compact(revision?: number): Promise<number> {
    const c = await this.client();
    let rev = revision;
    if (rev === undefined) {
      const res = await c.kv.range({ key: Buffer.from('\0'), limit: 1 });
      rev = Number(res.header.revision);
    }
    await c.kv.compact({ revision: String(rev), physical: true });
    return rev;
  }

  async stop(): Promise<void> {
    for (const c of this.clients) c.close();
    this.clients = [];
    await this.proc.kill();
    live.delete(this);
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function makeTls(dir: string): Promise<TestTls> {
  const ca = await createCertificateAuthority('cmesh-test-ca');
  const server = await issueCertificate(ca, {
    commonName: 'etcd-server',
    hosts: ['127.0.0.1', 'localhost', '::1'],
    server: true,
    client: true,
  });
  const root = await issueCertificate(ca, { commonName: 'root' });
  const files: Record<string, string> = {
    'ca.crt': ca.certPem,
    'server.crt': server.certPem,
    'server.key': server.keyPem,
    'root.crt': root.certPem,
    'root.key': root.keyPem,
  };
  for (const [name, content] of Object.entries(files)) await writeFile(path.join(dir, name), content, { mode: 0o600 });
  let n = 0;
  return {
    ca,
    caFile: path.join(dir, 'ca.crt'),
    clientCertFile: path.join(dir, 'root.crt'),
    clientKeyFile: path.join(dir, 'root.key'),
    async issueClient(commonName, opts = {}) {
      const pem = await issueCertificate(ca, { commonName, ...opts });
      n++;
      const certFile = path.join(dir, `client-${n}.crt`);
      const keyFile = path.join(dir, `client-${n}.key`);
      await writeFile(certFile, pem.certPem, { mode: 0o600 });
      await writeFile(keyFile, pem.keyPem, { mode: 0o600 });
      return { certFile, keyFile };
    },
  };
}
