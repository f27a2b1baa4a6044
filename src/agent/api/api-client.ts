/** A client of the agent's local API (the unix socket served by api-server.ts). */
import http from 'node:http';
import type {
  AgentStatus,
  DatapathView,
  EndpointPolicyView,
  PolicyOverview,
  TraceRequest,
  TraceResult,
  EndpointView,
  HealthView,
  IdentityView,
  IpcacheEntry,
  LbEntry,
  NodeView,
  ServiceListEntry,
} from './api-types.js';

export const API_REQUEST_TIMEOUT_MS = 10_000;

export class AgentApiError extends Error {
  override name = 'AgentApiError';
  /** The HTTP status, when the agent answered. */
  status?: number;
}

export class AgentClient {
  constructor(
    readonly socketPath: string,
    private readonly timeoutMs = API_REQUEST_TIMEOUT_MS,
  ) {}

  healthz(): Promise<HealthView> {
    return this.get('/v1/healthz');
  }

  status(): Promise<AgentStatus> {
    return this.get('/v1/status');
  }

  services(): Promise<ServiceListEntry[]> {
    return this.get('/v1/services');
  }

  lb(): Promise<LbEntry[]> {
    return this.get('/v1/lb');
  }

  ipcache(): Promise<IpcacheEntry[]> {
    return this.get('/v1/ipcache');
  }

  identities(): Promise<IdentityView[]> {
    return this.get('/v1/identities');
  }

  endpoints(): Promise<EndpointView[]> {
    return this.get('/v1/endpoints');
  }

  nodes(): Promise<NodeView[]> {
    return this.get('/v1/nodes');
  }

  policy(): Promise<PolicyOverview> {
    return this.get('/v1/policy');
  }

  endpointPolicy(namespace: string, name: string): Promise<EndpointPolicyView> {
    return this.get(`/v1/policy/endpoints/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`);
  }

  /** The trace of a flow as this agent sees it; a bad request is an AgentApiError with status 400. */
  policyTrace(req: TraceRequest): Promise<TraceResult> {
    const q = new URLSearchParams({ dstPod: req.dstPod, dport: req.dport });
    if (req.srcPod !== undefined) q.set('srcPod', req.srcPod);
    if (req.srcIdentity !== undefined) q.set('srcIdentity', String(req.srcIdentity));
    if (req.srcIp !== undefined) q.set('srcIp', req.srcIp);
    return this.get(`/v1/policy/trace?${q.toString()}`);
  }

  datapath(): Promise<DatapathView> {
    return this.get('/v1/datapath');
  }

  /** GETs `path` and parses the JSON body; the type is the caller's promise about the route. */
  get<T>(path: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const req = http.request({ socketPath: this.socketPath, path, method: 'GET' }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => {
          reject(new AgentApiError(`reading ${path} from ${this.socketPath}: ${err.message}`, { cause: err }));
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) {
            let detail = text.trim();
            try {
              const body = JSON.parse(text) as { error?: unknown };
              if (typeof body.error === 'string') detail = body.error;
            } catch {
              // not JSON: keep the raw text
            }
            const e = new AgentApiError(`${path}: HTTP ${res.statusCode ?? 0}: ${detail}`);
            e.status = res.statusCode ?? 0;
            reject(e);
            return;
          }
          try {
            resolve(JSON.parse(text) as T);
          } catch (err) {
            reject(new AgentApiError(`${path}: invalid JSON from the agent`, { cause: err }));
          }
        });
      });
      req.setTimeout(this.timeoutMs, () => {
        req.destroy(new Error(`no answer within ${this.timeoutMs} ms`));
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        const hint =
          err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
            ? ' (is the agent running? it serves this socket once started)'
            : '';
        reject(
          new AgentApiError(`cannot reach the agent at ${this.socketPath}: ${err.message}${hint}`, { cause: err }),
        );
      });
      req.end();
    });
  }
}
