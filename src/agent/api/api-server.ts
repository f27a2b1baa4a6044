/**
 * The agent's local API: read-only JSON views of its tables over a unix socket (as cilium-agent serves
 * /var/run/cilium/cilium.sock), which the `cmesh status|service|bpf|identity|endpoint|node` commands read.
 */
import { existsSync } from 'node:fs';
import { mkdir, unlink } from 'node:fs/promises';
import type http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { createSafeHttpServer, HttpRequestError } from '../../observe/http-safe-server.js';
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
const ENDPOINT_POLICY_SEGMENT = 'endpoints';
export type ApiRoute = (typeof API_ROUTES)[number];

export class ApiSocketError extends Error {
  override name = 'ApiSocketError';
}

/** The trace request from query parameters (names as TraceRequest's fields). */
export function traceRequestFromQuery(q: URLSearchParams): TraceRequest {
  const req: TraceRequest = { dstPod: q.get('dstPod') ?? '', dport: q.get('dport') ?? '' };
  if (!req.dstPod || !req.dport) throw new HttpRequestError(400, 'dstPod and dport are required');
  const srcPod = q.get('srcPod');
  const srcIdentity = q.get('srcIdentity');
  const srcIp = q.get('srcIp');
  if (srcPod) req.srcPod = srcPod;
  if (srcIdentity) {
    if (!/^[0-9]+$/.test(srcIdentity)) throw new HttpRequestError(400, `srcIdentity "${srcIdentity}" is not a number`);
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
  private paramView(segments: readonly string[], query: URLSearchParams): (() => unknown) | undefined {
    const a = this.agent;
    const [v1, policy, sub, ...rest] = segments;
    if (v1 !== 'v1' || policy !== 'policy') return undefined;
    if (sub === 'trace' && rest.length === 0) return () => a.tracePolicy(traceRequestFromQuery(query));
    if (sub === ENDPOINT_POLICY_SEGMENT) {
      if (rest.length !== 2 || !rest[0] || !rest[1]) return undefined;
      return () => a.endpointPolicy(`${rest[0]}/${rest[1]}`);
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
    const server = createSafeHttpServer(
      (req, res) => {
        const url = req.pathname;
        const view =
          (views as Record<string, (() => unknown) | undefined>)[url] ?? this.paramView(req.segments, req.query);
        if (!view) {
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: `no such path ${url}`, paths: [...API_ROUTES, ...API_PARAM_ROUTES] }) + '\n');
          return;
        }
        let body: string;
        try {
          body = JSON.stringify(view());
        } catch (err) {
          if (err instanceof TraceError) throw new HttpRequestError(400, err.message);
          if (err instanceof UnknownEndpointError) throw new HttpRequestError(404, err.message);
          throw err; // a 500, logged by the server
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(body + '\n');
      },
      { name: 'agent-api', methods: ['GET'] },
    );
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
