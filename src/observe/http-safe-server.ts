/**
 * The one place where the project's HTTP servers (the agent API, the health endpoints) meet untrusted bytes: no
 * request, however malformed, ends the process. Every refusal is an answer with a body:
 * - bytes Node's parser rejects (bad request line, bad header, binary garbage, truncated request): 400; headers too
 *   large: 431; a request too slow: 408; an unknown method token: 405;
 * - too many header fields: 431;
 * - an HTTP/1.1 request without Host: 400 (Node's own answer has no body);
 * - a request target that is not origin-form (`/path`), or whose percent-encoding does not decode: 400;
 * - a method the server does not serve (CONNECT included): 405 with `Allow`;
 * - an error thrown by a handler: the status of an `HttpRequestError`, else 500.
 * A response to HEAD carries no body (HTTP forbids one); bytes that never start a request (a connection closed with
 * nothing or only blank lines sent) get no answer, there being no request to answer.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { logger } from './logger.js';

const log = logger('http');

/** A refusal with a status (4xx) and a message for the caller; thrown by handlers. */
export class HttpRequestError extends Error {
  override name = 'HttpRequestError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A request that passed the checks: its method is allowed, its target parsed and its path decoded. */
export interface SafeRequest {
  method: string;
  /** The raw (still percent-encoded) path, e.g. `/v1/policy/endpoints/a%2Fb/c`. */
  pathname: string;
  /** Each path segment, percent-decoded. */
  segments: readonly string[];
  query: URLSearchParams;
}

export interface SafeServerOptions {
  /** The methods served (default GET); any other gets 405. */
  methods?: readonly string[];
  /** Error bodies as JSON `{"error": "..."}` (default) or plain text. */
  body?: 'json' | 'text';
  /** For the log lines. */
  name: string;
}

export type SafeHandler = (
  req: SafeRequest,
  res: http.ServerResponse,
  raw: http.IncomingMessage,
) => void | Promise<void>;

/** How long a client may take to send its headers / its whole request. */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;
/** Node keeps the first maxHeadersCount headers and drops the rest silently; a request reaching it is refused. */
const MAX_HEADERS = 100;

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  417: 'Expectation Failed',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
};

function errorBody(kind: 'json' | 'text', message: string): { type: string; body: string } {
  return kind === 'json'
    ? { type: 'application/json', body: JSON.stringify({ error: message }) + '\n' }
    : { type: 'text/plain; charset=utf-8', body: message + '\n' };
}

/** Parses an origin-form request target; throws HttpRequestError(400) for anything else. */
export function parseRequestTarget(target: string | undefined): Omit<SafeRequest, 'method'> {
  const t = target ?? '';
  if (!t.startsWith('/') || t.startsWith('//')) {
    throw new HttpRequestError(400, 'the request target must be a path (origin-form, e.g. /healthz)');
  }
  let url: URL;
  try {
    url = new URL(t, 'http://localhost');
  } catch {
    throw new HttpRequestError(400, 'the request target is not a valid URL path');
  }
  let segments: string[];
  try {
    segments = url.pathname.split('/').slice(1).map(decodeURIComponent);
  } catch {
    throw new HttpRequestError(400, 'the request path has an invalid percent-encoding');
  }
  return { pathname: url.pathname, segments, query: url.searchParams };
}

/** Writes a whole error response on a raw socket (no parsed request to answer through), then closes it. */
function rawAnswer(socket: Duplex, status: number, kind: 'json' | 'text', message: string, allow?: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const { type, body } = errorBody(kind, message);
  const head =
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\n` +
    `content-type: ${type}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
    (allow ? `allow: ${allow}\r\n` : '') +
    'connection: close\r\n\r\n';
  socket.end(head + body);
}

function answer(
  res: http.ServerResponse,
  status: number,
  kind: 'json' | 'text',
  message: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    // Half a response is out: the only honest end is to cut the connection.
    res.destroy();
    return;
  }
  const { type, body } = errorBody(kind, message);
  res.writeHead(status, { ...headers, 'content-type': type, 'content-length': Buffer.byteLength(body) }).end(body);
}

/** Status for a parser error: Node's codes (llhttp's HPE_*, the request timeout). */
function clientErrorStatus(err: NodeJS.ErrnoException & { rawPacket?: Buffer }): number {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return 431;
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 408;
    case 'HPE_INVALID_METHOD': {
      // A method-like token (letters) is an unknown method; anything else is not HTTP.
      const first = (err.rawPacket?.toString('latin1') ?? '').split(' ', 1)[0] ?? '';
      return /^[A-Za-z][A-Za-z-]*$/.test(first) ? 405 : 400;
    }
    default:
      return 400;
  }
}

/** An http.Server that refuses what it cannot serve with 4xx, turns handler errors into 500, and never throws. */
export function createSafeHttpServer(handler: SafeHandler, opts: SafeServerOptions): http.Server {
  const methods = opts.methods ?? ['GET'];
  const allow = methods.join(', ');
  const kind = opts.body ?? 'json';
  const server = http.createServer(
    // Host is checked below, not by Node: its own refusal has no body.
    { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, requireHostHeader: false },
    (req, res) => {
      const fail = (err: unknown): void => {
        if (err instanceof HttpRequestError) {
          answer(res, err.status, kind, err.message);
          return;
        }
        log.error({ err, server: opts.name, method: req.method }, 'HTTP handler failed');
        answer(res, 500, kind, `internal error: ${(err as Error | undefined)?.message ?? String(err)}`);
      };
      try {
        const method = req.method ?? '';
        if (!methods.includes(method)) {
          answer(res, 405, kind, `${method} not allowed: this server serves ${allow}`, { allow });
          return;
        }
        if (req.rawHeaders.length / 2 >= MAX_HEADERS) {
          throw new HttpRequestError(431, `too many header fields (at most ${MAX_HEADERS - 1})`);
        }
        if (req.httpVersion === '1.1' && req.headers.host === undefined) {
          throw new HttpRequestError(400, 'an HTTP/1.1 request needs a Host header');
        }
        const parsed = parseRequestTarget(req.url);
        const done = handler({ method, ...parsed }, res, req);
        if (done instanceof Promise) done.catch(fail);
      } catch (err) {
        fail(err);
      }
    },
  );
  server.maxHeadersCount = MAX_HEADERS;
  server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE') {
      socket.destroy();
      return;
    }
    const status = clientErrorStatus(err);
    rawAnswer(
      socket,
      status,
      kind,
      status === 405
        ? `method not allowed: this server serves ${allow}`
        : `malformed request (${err.code ?? 'parse error'})`,
      status === 405 ? allow : undefined,
    );
  });
  // CONNECT (no listener would close the connection without an answer).
  server.on('connect', (_req: http.IncomingMessage, socket: Duplex) => {
    socket.on('error', () => undefined);
    rawAnswer(socket, 405, kind, `CONNECT not allowed: this server serves ${allow}`, allow);
  });
  server.on('checkExpectation', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    answer(res, 417, kind, 'unsupported Expect header');
  });
  return server;
}
