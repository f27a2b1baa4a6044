import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Etcd3, type ICallable, type IOptions } from 'etcd3';
import { parse as parseYaml } from 'yaml';
import { EtcdConfigError, UnsupportedClientError } from './errors.js';

/** gRPC keepalive ping interval; etcd refuses pings more frequent than its --grpc-keepalive-min-time (5 s). */
export const KEEPALIVE_TIME_MS = 15_000;
export const KEEPALIVE_TIMEOUT_MS = 5_000;
/** Large enough for a 5000-key list page of big values (Cilium uses etcd's default client limit of 2 GiB). */
export const MAX_RECEIVE_MESSAGE_BYTES = 128 * 1024 * 1024;
/** etcd rejects requests above --max-request-bytes (1.5 MiB by default) itself; this only bounds the client. */
export const MAX_SEND_MESSAGE_BYTES = 16 * 1024 * 1024;
/** Deadline of unary calls (range, txn, lease grant...). Streams (watch, keepalive) have none. */
export const REQUEST_TIMEOUT_MS = 30_000;
export const DIAL_TIMEOUT_MS = 15_000;
/**
 * HTTP/2 receive window. grpc-js defaults to 64 KiB, which throttles a multi-megabyte list page to a trickle of
 * window updates (and stalls the next pipelined page while the current one is processed).
 */
export const FLOW_CONTROL_WINDOW_BYTES = 8 * 1024 * 1024;
/** gRPC's own reconnect backoff caps at 120 s by default: far too slow to notice a restarted etcd. */
const GRPC_INITIAL_RECONNECT_BACKOFF_MS = 200;
const GRPC_MAX_RECONNECT_BACKOFF_MS = 2_000;

export interface EtcdTlsConfig {
  /** CA bundle that signed the server certificate: a file path, or the PEM content as a Buffer. */
  ca?: string | Buffer;
  /** Client certificate: a file path or PEM Buffer (with `key`). */
  cert?: string | Buffer;
  /** Client private key: a file path or PEM Buffer (with `cert`). */
  key?: string | Buffer;
}

export interface EtcdClientOptions {
  /** `https://host:port` or `http://host:port`; all of one scheme. */
  endpoints: readonly string[];
  tls?: EtcdTlsConfig;
  username?: string;
  password?: string;
  /** Used by checkEtcdConnection(): how long to wait for a first answer. */
  dialTimeoutMs?: number;
  /** Deadline of every unary call. */
  requestTimeoutMs?: number;
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs?: number;
  /**
   * Ping even when no call is active. Off by default: etcd's keepalive enforcement policy does not permit pings
   * without streams and answers them with GOAWAY (too_many_pings) after a few, which would churn idle connections.
   * Long-lived users (list-watchers, leases) always have a stream open, so their connections are probed anyway.
   */
  keepalivePermitWithoutCalls?: boolean;
  maxReceiveMessageBytes?: number;
  maxSendMessageBytes?: number;
}

type Policy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;

/**
 * A policy that runs the call once. etcd3's defaults (3 immediate retries, and a circuit breaker that fails every
 * call for 5 s after 3 errors) fight our own jittered retries and delay recovery after an etcd restart.
 */
function passthroughPolicy(): Policy {
  const noopDisposable = { dispose: (): void => undefined };
  const policy = {
    // Always a promise, as cockatiel's: etcd3 chains .catch() on it even for calls that throw synchronously.
    execute: async <T>(fn: (ctx: { signal: AbortSignal }) => T | Promise<T>): Promise<T> =>
      fn({ signal: new AbortController().signal }),
    onSuccess: () => noopDisposable,
    onFailure: () => noopDisposable,
  };
  return policy as unknown as Policy;
}

function material(v: string | Buffer | undefined): Buffer | undefined {
  if (v === undefined) return undefined;
  return typeof v === 'string' ? readFileSync(v) : v;
}

/** The etcd3 options createEtcdClient uses (exposed for callers that need to tweak them). */
export function etcdClientOptions(opts: EtcdClientOptions): IOptions {
  if (opts.endpoints.length === 0) throw new Error('etcd client: at least one endpoint is required');
  const requestTimeoutMs = opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const options: IOptions = {
    hosts: [...opts.endpoints],
    grpcOptions: {
      'grpc.keepalive_time_ms': opts.keepaliveTimeMs ?? KEEPALIVE_TIME_MS,
      'grpc.keepalive_timeout_ms': opts.keepaliveTimeoutMs ?? KEEPALIVE_TIMEOUT_MS,
      'grpc.keepalive_permit_without_calls': opts.keepalivePermitWithoutCalls ? 1 : 0,
      'grpc.max_receive_message_length': opts.maxReceiveMessageBytes ?? MAX_RECEIVE_MESSAGE_BYTES,
      'grpc.max_send_message_length': opts.maxSendMessageBytes ?? MAX_SEND_MESSAGE_BYTES,
      'grpc.initial_reconnect_backoff_ms': GRPC_INITIAL_RECONNECT_BACKOFF_MS,
      'grpc.max_reconnect_backoff_ms': GRPC_MAX_RECONNECT_BACKOFF_MS,
      'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW_BYTES,
    },
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + requestTimeoutMs }),
    faultHandling: { host: () => passthroughPolicy(), global: passthroughPolicy() },
  };
  if (opts.tls) {
    const ca = material(opts.tls.ca);
    const cert = material(opts.tls.cert);
    const key = material(opts.tls.key);
    if ((cert === undefined) !== (key === undefined)) {
      throw new Error('etcd client: a client certificate needs both cert and key');
    }
    if (ca || cert) {
      options.credentials = {
        // Without a CA grpc-js verifies against the system roots (createSsl(null)).
        rootCertificate: ca ?? (null as unknown as Buffer),
        ...(cert ? { certChain: cert } : {}),
        ...(key ? { privateKey: key } : {}),
      };
    }
  }
  if (opts.username !== undefined || opts.password !== undefined) {
    if (!opts.username || opts.password === undefined) {
      throw new Error('etcd client: username and password go together');
    }
    options.auth = { username: opts.username, password: opts.password };
  }
  return options;
}

/**
 * An etcd3 client configured for long-lived use: keepalives, large messages, unary deadlines, fast reconnects and
 * no hidden retries (the kvstore layer retries with jittered backoff). With username/password, etcd3 fetches a new
 * token when a unary call fails with "invalid auth token"; streams go through invalidateAuthToken().
 */
export function createEtcdClient(opts: EtcdClientOptions): Etcd3 {
  return new Etcd3(etcdClientOptions(opts));
}

/**
 * Drops the cached auth token so that the next call or stream authenticates again. etcd3 does this by itself for
 * unary calls, but a watch created with an expired token is only canceled with "permission denied", which etcd3
 * does not inspect.
 */
export function invalidateAuthToken(client: Etcd3): void {
  connectionPool(client).authenticator?.invalidateMetadata?.();
}

/** etcd3's connection pool, with the authenticator that caches the auth token. */
export interface EtcdConnectionPool extends ICallable<unknown> {
  authenticator?: { invalidateMetadata?: () => void };
}

/**
 * The client's connection pool, for calls etcd3 has no method for (kv-calls.ts) and for its token cache. etcd3
 * keeps it in a protected field; every one of its own calls goes through it.
 */
export function connectionPool(client: Etcd3): EtcdConnectionPool {
  const pool = (client as unknown as { pool?: EtcdConnectionPool }).pool;
  if (!pool || typeof pool.withConnection !== 'function') {
    throw new UnsupportedClientError('etcd client has no connection pool (not an etcd3 1.x client?)');
  }
  return pool;
}

/** Resolves once etcd answers a status call; rejects after the dial timeout. */
export async function checkEtcdConnection(client: Etcd3, timeoutMs = DIAL_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      await client.maintenance.status({ deadline });
      return;
    } catch (err) {
      lastErr = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`etcd did not answer within ${timeoutMs} ms`, { cause: lastErr });
}

const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const DURATION_UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Reads an etcd client config file in the format Cilium uses (`/var/lib/cilium/etcd-config.yml`, and each file
 * of the clustermesh config directory):
 *
 *     endpoints: [https://clustermesh-apiserver.example:2379]
 *     trusted-ca-file: /var/lib/cilium/clustermesh/ca.crt
 *     cert-file: /var/lib/cilium/clustermesh/tls.crt
 *     key-file: /var/lib/cilium/clustermesh/tls.key
 *     username: ...        # optional, with password
 *     password: ...
 *     dial-timeout: 15s    # optional
 *
 * Relative paths are relative to the file's directory. Unknown fields are ignored, as etcd's own loader does.
 */
export async function loadEtcdConfigFile(file: string): Promise<EtcdClientOptions> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new EtcdConfigError(file, undefined, `cannot read the etcd config file; check the path`, { cause: err });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new EtcdConfigError(file, undefined, `not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new EtcdConfigError(
      file,
      undefined,
      'expected a YAML mapping with at least `endpoints: [https://host:port]`',
    );
  }
  const cfg = doc as Record<string, unknown>;
  const dir = path.dirname(file);

  const endpoints = cfg.endpoints;
  if (!Array.isArray(endpoints) || endpoints.length === 0) {
    throw new EtcdConfigError(file, 'endpoints', 'must be a non-empty list, e.g. `endpoints: [https://host:2379]`');
  }
  for (const ep of endpoints) {
    if (typeof ep !== 'string' || !/^https?:\/\/[^/\s]+\/?$/.test(ep)) {
      throw new EtcdConfigError(file, 'endpoints', `invalid endpoint ${JSON.stringify(ep)}; use http(s)://host:port`);
    }
  }
  const stringField = (name: string): string | undefined => {
    const v = cfg[name];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') throw new EtcdConfigError(file, name, 'must be a string');
    return v;
  };
  const fileField = async (name: string): Promise<Buffer | undefined> => {
    const p = stringField(name);
    if (p === undefined) return undefined;
    const abs = path.resolve(dir, p);
    try {
      return await readFile(abs);
    } catch (err) {
      throw new EtcdConfigError(file, name, `cannot read ${abs}; fix the path (relative paths start at ${dir})`, {
        cause: err,
      });
    }
  };

  const opts: EtcdClientOptions = { endpoints: endpoints.map((e: string) => e.replace(/\/$/, '')) };
  const ca = await fileField('trusted-ca-file');
  const cert = await fileField('cert-file');
  const key = await fileField('key-file');
  if ((cert === undefined) !== (key === undefined)) {
    throw new EtcdConfigError(
      file,
      cert ? 'key-file' : 'cert-file',
      'cert-file and key-file must be set together (a client certificate needs its key)',
    );
  }
  const secure = endpoints.some((e: string) => e.startsWith('https://'));
  if (!secure && (ca || cert)) {
    throw new EtcdConfigError(file, 'endpoints', 'TLS files are set but the endpoints use http://; use https://');
  }
  if (ca || cert) opts.tls = { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };

  const username = stringField('username');
  const password = stringField('password');
  if ((username === undefined) !== (password === undefined)) {
    throw new EtcdConfigError(file, username ? 'password' : 'username', 'username and password must be set together');
  }
  if (username !== undefined && password !== undefined) {
    opts.username = username;
    opts.password = password;
  }
  const dial = cfg['dial-timeout'];
  if (dial !== undefined && dial !== null) {
    const m = typeof dial === 'string' ? DURATION_RE.exec(dial) : null;
    if (!m) throw new EtcdConfigError(file, 'dial-timeout', 'must be a duration such as 15s or 500ms');
    opts.dialTimeoutMs = Number(m[1]) * (DURATION_UNIT_MS[m[2] ?? 's'] ?? 1000);
  }
  return opts;
}
