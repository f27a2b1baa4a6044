/**
 * The one way cmesh sends requests to a Kubernetes API server: @kubernetes/client-node's HTTP layer (its
 * RequestContext, its kubeconfig authentication and its fetch library) and its Watch, with bodies kept as plain
 * JSON. client-node's typed layer (KubernetesObjectApi and the generated APIs) is not used on purpose: its
 * serializer turns timestamps into Date objects and silently drops every field its models do not know, so an
 * unknown field would never reach the server's strict field validation, and objects would not round-trip.
 */
import {
  HttpMethod,
  IsomorphicFetchHttpLibrary,
  RequestContext,
  Watch,
  type KubeConfig,
} from '@kubernetes/client-node';
import {
  ApiUnreachableError,
  ExpiredError,
  ForbiddenError,
  KubeApiError,
  parseStatus,
  ResourceNotServedError,
} from './kube-errors.js';
import { assertLoopbackContext } from './kubeconfig.js';
import { KINDS, type KindName } from './types.js';

export type QueryParams = Record<string, string | number | boolean | undefined>;

export interface KubeRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: QueryParams;
  /** Sent as JSON (every patch type, apply included, accepts JSON). */
  body?: unknown;
  /** `application/json` unless set (patches: their media type). */
  contentType?: string;
  /** The kind the path is about: a plain 404 of the path then becomes ResourceNotServedError. */
  kind?: KindName;
  signal?: AbortSignal;
}

export interface KubeResponse<T> {
  statusCode: number;
  body: T;
}

/** One watch event as the API server sends it. */
export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: unknown;
}

/**
 * The longest one request may take, answer included (a list page, a write). A server that accepted the connection
 * and went silent would otherwise hold its caller for ever; watches have their own guard (kube-informer.ts).
 */
export const REQUEST_TIMEOUT_MS = 60_000;

/** `application/apply-patch+yaml`: a server-side apply (JSON is YAML). */
export const APPLY_PATCH = 'application/apply-patch+yaml';

function isAbort(err: unknown): boolean {
  return (err as { name?: string } | null)?.name === 'AbortError';
}

export class KubeApi {
  readonly server: string;
  readonly context: string;
  private readonly http = new IsomorphicFetchHttpLibrary();
  private readonly watcher: Watch;

  constructor(readonly kubeConfig: KubeConfig) {
    // Also checked by loadKubeconfig; repeated here for a KubeConfig built any other way.
    assertLoopbackContext(kubeConfig);
    this.context = kubeConfig.getCurrentContext();
    this.server = kubeConfig.getCurrentCluster()!.server.replace(/\/+$/, '');
    this.watcher = new Watch(kubeConfig);
  }

  /**
   * Sends one request; resolves with the parsed body of a 2xx answer. Throws ApiUnreachableError (no answer),
   * ForbiddenError (403), ExpiredError (410), ResourceNotServedError (404 of the path itself) or KubeApiError.
   * An aborted request rejects with the AbortError.
   */
  async request<T>(req: KubeRequest): Promise<KubeResponse<T>> {
    const what = `${req.method} ${req.path}`;
    const ctx = new RequestContext(this.server + req.path, HttpMethod[req.method]);
    for (const [k, v] of Object.entries(req.query ?? {})) {
      if (v !== undefined) ctx.setQueryParam(k, String(v));
    }
    ctx.setHeaderParam('Accept', 'application/json');
    if (req.body !== undefined) {
      ctx.setHeaderParam('Content-Type', req.contentType ?? 'application/json');
      ctx.setBody(JSON.stringify(req.body));
    }
    const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    ctx.setSignal(req.signal ? AbortSignal.any([req.signal, timeout]) : timeout);
    let statusCode: number;
    let text: string;
    try {
      await this.kubeConfig.applySecurityAuthentication(ctx);
      const res = await this.http.send(ctx).toPromise();
      statusCode = res.httpStatusCode;
      text = await res.body.text();
    } catch (err) {
      if (req.signal?.aborted) throw err;
      const cause = isAbort(err) ? new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`) : err;
      throw new ApiUnreachableError(this.server, what, { cause });
    }
    if (statusCode >= 200 && statusCode < 300) {
      try {
        return { statusCode, body: (text === '' ? undefined : JSON.parse(text)) as T };
      } catch (err) {
        throw new KubeApiError(statusCode, { message: `answer is not JSON: ${text.slice(0, 100)}` }, what, {
          cause: err,
        });
      }
    }
    const status = parseStatus(text);
    if (statusCode === 404 && !status && req.kind) {
      throw new ResourceNotServedError(req.kind, KINDS[req.kind].apiVersion, what);
    }
    if (statusCode === 403) throw new ForbiddenError(status, what);
    if (statusCode === 410) throw new ExpiredError(statusCode, status, what);
    throw new KubeApiError(statusCode, status ?? { message: text.trim().slice(0, 200) || undefined }, what);
  }

  /**
   * Starts a watch (client-node's Watch): `onEvent` for each event in order, then `onDone` once, with the error
   * or null when the server closed the stream. Resolves with the controller that ends it (client-node then calls
   * onDone with an AbortError).
   */
  watch(
    path: string,
    query: QueryParams,
    onEvent: (event: WatchEvent) => void,
    onDone: (err: unknown) => void,
  ): Promise<AbortController> {
    return this.watcher.watch(
      path,
      query,
      (type: string, object: unknown) => {
        onEvent({ type: type as WatchEvent['type'], object });
      },
      onDone,
    );
  }
}
