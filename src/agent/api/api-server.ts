/**
 * The agent's local API: read-only JSON views of its tables over a unix socket (as cilium-agent serves
 * /var/run/cilium/cilium.sock), which the `cmesh status|service|bpf|identity|endpoint|node` commands read.
 */
import { existsSync } from 'node:fs';
import { mkdir, unlink } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { logger } from '../../observe/logger.js';
import type { AgentApiSource, HealthView } from './api-types.js';
import { TraceError, type TraceRequest } from '../policy/trace.js';
import { UnknownEndpointError } from '../policy/types.js';

const log = logger('agent-api');

/** Linux's sun_path is 108 bytes including the terminating NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;
const PROBE_TIMEOUT_MS = 1_000;

export const API_ROUTES = [
  '/v1/healthz',
  '/v1/status',
  '/v1/services',
  '/v1/lb',
  '/v1/ipcache',
  '/v1/identities',
  '/v1/endpoints',
  '/v1/nodes',
  '/v1/policy',
  '/v1/datapath',
] as const;
/** Routes with parameters: `/v1/policy/trace?srcPod=..&dstPod=..&dport=..`, `/v1/policy/endpoints/NS/NAME`. */
export const API_PARAM_ROUTES = ['/v1/policy/trace', '/v1/policy/endpoints/:namespace/:name'] as const;
const ENDPOINT_POLICY_PREFIX = '/v1/policy/endpoints/';
export type ApiRoute = (typeof API_ROUTES)[number];

export class ApiSocketError extends Error {
  override name = 'ApiSocketError';
}

/** A request the API refuses with a 4xx status. */
class ApiRequestError extends Error {
  override name = 'ApiRequestError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The trace request from query parameters (names as TraceRequest's fields). */
export function traceRequestFromQuery(q: URLSearchParams): TraceRequest {
  const req: TraceRequest = { dstPod: q.get('dstPod') ?? '', dport: q.get('dport') ?? '' };
  if (!req.dstPod || !req.dport) throw new ApiRequestError(400, 'dstPod and dport are required');
  const srcPod = q.get('srcPod');
  const srcIdentity = q.get('srcIdentity');
  const srcIp = q.get('srcIp');
  if (srcPod) req.srcPod = srcPod;
  if (srcIdentity) {
    if (!/^[0-9]+$/.test(srcIdentity)) throw new ApiRequestError(400, `srcIdentity "${srcIdentity}" is not a number`);
    req.srcIdentity = Number(srcIdentity);
  }
  if (srcIp) req.srcIp = srcIp;
  return req;
}

/** Whether something answers on the socket (a live agent) rather than a leftover file. */
function socketAnswers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const conn = net.connect(socketPath);
    const done = (answer: boolean): void => {
      conn.destroy();
      resolve(answer);
    };
    conn.setTimeout(PROBE_TIMEOUT_MS, () => {
      done(false);
    });
    conn.once('connect', () => {
      done(true);
    });
    conn.once('error', () => {
      done(false);
    });
  });
}

export class AgentApiServer {
  private server: http.Server | undefined;

  constructor(
    private readonly agent: AgentApiSource,
    readonly socketPath: string,
  ) {}

  private views(): Record<ApiRoute, () => unknown> {
    const a = this.agent;
    return {
      '/v1/healthz': (): HealthView => ({ ok: true, synced: a.hasSynced() }),
      '/v1/status': () => a.status(),
      '/v1/services': () => a.serviceList(),
      '/v1/lb': () => a.lbList(),
      '/v1/ipcache': () => a.ipcache.list(),
      '/v1/identities': () => a.identities.list(),
      '/v1/endpoints': () => a.endpoints(),
      '/v1/nodes': () => a.nodes.views(),
      '/v1/policy': () => a.policyOverview(),
      '/v1/datapath': () => a.datapath(),
    };
  }

  /** The view of a parameterized route, or undefined when `url` is not one. */
  private paramView(pathname: string, query: URLSearchParams): (() => unknown) | undefined {
    const a = this.agent;
    if (pathname === '/v1/policy/trace') return () => a.tracePolicy(traceRequestFromQuery(query));
    if (pathname.startsWith(ENDPOINT_POLICY_PREFIX)) {
      const parts = pathname.slice(ENDPOINT_POLICY_PREFIX.length).split('/').map(decodeURIComponent);
      if (parts.length !== 2 || !parts[0] || !parts[1]) return undefined;
      return () => a.endpointPolicy(`${parts[0]}/${parts[1]}`);
    }
    return undefined;
  }

  /** Listens on the socket, replacing a stale socket file; refuses if another agent answers there. */
  async listen(): Promise<void> {
    if (Buffer.byteLength(this.socketPath) > MAX_SOCKET_PATH_BYTES) {
      throw new ApiSocketError(
        `API socket path ${this.socketPath} is longer than ${MAX_SOCKET_PATH_BYTES} bytes; use a shorter --api-socket or CMESH_HOME`,
      );
    }
    await mkdir(path.dirname(this.socketPath), { recursive: true, mode: 0o700 });
    if (existsSync(this.socketPath)) {
      if (await socketAnswers(this.socketPath)) {
        throw new ApiSocketError(`another agent is serving ${this.socketPath}`);
      }
      await unlink(this.socketPath);
    }
    const views = this.views();
    const server = http.createServer((req, res) => {
      const parsed = new URL(req.url ?? '/', 'http://agent');
      const url = parsed.pathname;
      if (req.method !== 'GET') {
        res.writeHead(405, { 'content-type': 'application/json', allow: 'GET' });
        res.end(JSON.stringify({ error: `${req.method ?? ''} not allowed: the API is read-only` }) + '\n');
        return;
      }
      const view =
        (views as Record<string, (() => unknown) | undefined>)[url] ?? this.paramView(url, parsed.searchParams);
      if (!view) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: `no such path ${url}`, paths: [...API_ROUTES, ...API_PARAM_ROUTES] }) + '\n');
        return;
      }
      try {
        const body = JSON.stringify(view());
        res.writeHead(200, { 'content-type': 'application/json' }).end(body + '\n');
      } catch (err) {
        const status =
          err instanceof ApiRequestError
            ? err.status
            : err instanceof TraceError
              ? 400
              : err instanceof UnknownEndpointError
                ? 404
                : undefined;
        if (status !== undefined) {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: (err as Error).message }) + '\n');
          return;
        }
        log.error({ err, url }, 'API view failed');
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: (err as Error).message }) + '\n');
      }
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => {
        reject(new ApiSocketError(`cannot listen on ${this.socketPath}: ${err.message}`, { cause: err }));
      });
      server.listen(this.socketPath, () => {
        resolve();
      });
    });
    log.info({ socket: this.socketPath }, 'serving the agent API');
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    s.closeAllConnections();
    await new Promise<void>((resolve) => {
      s.close(() => {
        resolve();
      });
    });
    // net removes the socket file on close; this covers the case where it could not.
    await unlink(this.socketPath).catch(() => undefined);
  }
}
