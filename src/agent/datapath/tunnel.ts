/**
 * The loopback "tunnel" between nodes, standing in for Cilium's VXLAN/Geneve overlay: a flow whose backend lives
 * on another node (of this cluster or of a remote one) is carried to that node's agent, which enforces the
 * destination endpoint's ingress policy itself, as Cilium enforces ingress on the destination node with the
 * source identity the tunnel header carries. The sender writes one JSON header line, the receiver answers one
 * JSON reply line once it has judged the flow and reached the backend, then both sides splice bytes. The header
 * carries pod IPs (data, as Cilium's inner packet does); the receiver reaches them on their loopback addresses
 * (host-address.ts).
 */
import net from 'node:net';
import { logger } from '../../observe/logger.js';
import { ipFamily } from '../../wire/index.js';
import type { PolicyEngine } from '../policy/engine.js';
import type { L4Protocol, Verdict } from '../policy/types.js';
import { hostAddress } from './host-address.js';
import { isLoopbackV4 } from './loopback.js';
import { dropCounter, forwardCounter } from './metrics.js';

const log = logger('tunnel');

/** The port every node agent's tunnel listens on, on its node's loopback tunnel address. */
export const TUNNEL_PORT = 18472;
export const TUNNEL_PROTOCOL_VERSION = 1;
/** A header or reply line longer than this is a protocol error. */
export const MAX_TUNNEL_LINE_BYTES = 1024;
const HEADER_TIMEOUT_MS = 5_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

/** What the sender tells the destination node about a flow (Cilium: the tunnel header's source identity). */
export interface TunnelHeader {
  v: typeof TUNNEL_PROTOCOL_VERSION;
  srcIdentity: number;
  /** The client's pod IP. */
  srcIp: string;
  /** The backend's pod IP. */
  dstIp: string;
  dstPort: number;
  proto: L4Protocol;
}

export type TunnelVerdict = 'forwarded' | 'policy-denied' | 'no-endpoint' | 'connect-failed' | 'bad-header';

export interface TunnelReply {
  ok: boolean;
  verdict: TunnelVerdict;
  /** The ingress verdict, when the destination judged one. */
  ingress?: Verdict;
  error?: string;
}

export class TunnelProtocolError extends Error {
  override name = 'TunnelProtocolError';
}

export function encodeTunnelHeader(h: Omit<TunnelHeader, 'v'>): string {
  return JSON.stringify({ v: TUNNEL_PROTOCOL_VERSION, ...h }) + '\n';
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Validates a header line: the peer is another agent, but what crosses a socket is checked. */
export function parseTunnelHeader(line: string): TunnelHeader {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch (err) {
    throw new TunnelProtocolError('tunnel header is not JSON', { cause: err });
  }
  if (!isRecord(raw)) throw new TunnelProtocolError('tunnel header is not an object');
  const { v, srcIdentity, srcIp, dstIp, dstPort, proto } = raw;
  if (v !== TUNNEL_PROTOCOL_VERSION) throw new TunnelProtocolError(`unsupported tunnel version ${String(v)}`);
  if (typeof srcIdentity !== 'number' || !Number.isInteger(srcIdentity) || srcIdentity < 0)
    throw new TunnelProtocolError('srcIdentity must be a non-negative integer');
  if (typeof srcIp !== 'string' || ipFamily(srcIp) === undefined) throw new TunnelProtocolError('srcIp must be an IP');
  if (typeof dstIp !== 'string' || ipFamily(dstIp) === undefined) throw new TunnelProtocolError('dstIp must be an IP');
  if (typeof dstPort !== 'number' || !Number.isInteger(dstPort) || dstPort < 1 || dstPort > 65535)
    throw new TunnelProtocolError('dstPort must be a port');
  if (proto !== 'TCP') throw new TunnelProtocolError('only TCP is carried');
  return { v, srcIdentity, srcIp, dstIp, dstPort, proto };
}

/**
 * Reads one `\n`-terminated line and leaves the socket paused with whatever followed the line put back, so that
 * a later pipe() delivers the stream from the first byte after it.
 */
export function readLine(sock: net.Socket, maxBytes = MAX_TUNNEL_LINE_BYTES): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const cleanup = (): void => {
      sock.off('data', onData);
      sock.off('end', onEnd);
      sock.off('close', onEnd);
      sock.off('error', onError);
    };
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const nl = buf.indexOf(0x0a);
      if (nl < 0) {
        if (buf.length > maxBytes) {
          cleanup();
          reject(new TunnelProtocolError(`no line end within ${maxBytes} bytes`));
        }
        return;
      }
      cleanup();
      sock.pause();
      const rest = buf.subarray(nl + 1);
      if (rest.length > 0) sock.unshift(rest);
      resolve(buf.subarray(0, nl).toString('utf8'));
    };
    const onEnd = (): void => {
      cleanup();
      reject(new TunnelProtocolError('the peer closed before sending a full line'));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(new TunnelProtocolError(`socket error before a full line: ${err.message}`, { cause: err }));
    };
    sock.on('data', onData);
    sock.once('end', onEnd);
    sock.once('close', onEnd);
    sock.once('error', onError);
    sock.resume();
  });
}

export function parseTunnelReply(line: string): TunnelReply {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch (err) {
    throw new TunnelProtocolError('tunnel reply is not JSON', { cause: err });
  }
  if (!isRecord(raw) || typeof raw.ok !== 'boolean' || typeof raw.verdict !== 'string')
    throw new TunnelProtocolError('tunnel reply lacks ok/verdict');
  return raw as unknown as TunnelReply;
}

export interface TunnelListenerOptions {
  /** The node's loopback tunnel address. */
  address: string;
  port?: number;
  /** This cluster's policy engine: it knows every endpoint of the cluster and every identity of the mesh. */
  policy: PolicyEngine;
  connectTimeoutMs?: number;
}

const DROP_REASON: Record<Exclude<TunnelVerdict, 'forwarded'>, string> = {
  'policy-denied': 'Policy denied',
  'no-endpoint': 'No matching local endpoint',
  'connect-failed': 'Service backend unreachable',
  'bad-header': 'Invalid tunnel header',
};

export interface TunnelStatus {
  address: string;
  port: number;
  state: 'listening' | 'failed' | 'closed';
  error?: string;
}

/** The receiving end of the tunnel on one node. */
export class TunnelListener {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private readonly count: Record<TunnelVerdict, number> = {
    forwarded: 0,
    'policy-denied': 0,
    'no-endpoint': 0,
    'connect-failed': 0,
    'bad-header': 0,
  };
  private st: TunnelStatus;

  constructor(private readonly opts: TunnelListenerOptions) {
    if (!isLoopbackV4(opts.address))
      throw new TunnelProtocolError(`tunnel address ${opts.address} is not in 127.0.0.0/8`);
    this.st = { address: opts.address, port: opts.port ?? TUNNEL_PORT, state: 'closed' };
  }

  get address(): string {
    return this.opts.address;
  }

  async listen(): Promise<void> {
    if (this.server) return;
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (sock) => {
      this.track(sock);
      sock.on('error', () => sock.destroy());
      void this.handle(sock).catch((err: unknown) => {
        log.debug({ err }, 'tunnel flow failed');
        sock.destroy();
      });
    });
    this.server = server;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: this.opts.address, port: this.st.port }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      this.server = undefined;
      this.st = { ...this.st, state: 'failed', error: (err as Error).message };
      throw new TunnelProtocolError(
        `cannot listen on ${this.opts.address}:${this.st.port}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    server.on('error', (err) => {
      log.warn({ err }, 'tunnel listener error');
    });
    this.st = { address: this.opts.address, port: this.st.port, state: 'listening' };
    log.info({ address: this.opts.address, port: this.st.port }, 'tunnel listening');
  }

  status(): TunnelStatus {
    return { ...this.st };
  }

  counters(): Record<TunnelVerdict, number> {
    return { ...this.count };
  }

  private track(sock: net.Socket): void {
    this.sockets.add(sock);
    sock.once('close', () => this.sockets.delete(sock));
  }

  private record(v: TunnelVerdict): void {
    this.count[v]++;
    if (v === 'forwarded') forwardCounter().inc({ direction: 'INGRESS' });
    else dropCounter().inc({ reason: DROP_REASON[v], direction: 'INGRESS' });
  }

  private refuse(sock: net.Socket, reply: TunnelReply): void {
    this.record(reply.verdict);
    sock.end(JSON.stringify(reply) + '\n');
    // Drain what the sender still writes so that its close reaches us and the socket goes away.
    sock.resume();
  }

  private async handle(sock: net.Socket): Promise<void> {
    const timer = setTimeout(
      () => sock.destroy(new TunnelProtocolError('no tunnel header in time')),
      HEADER_TIMEOUT_MS,
    );
    let h: TunnelHeader;
    try {
      h = parseTunnelHeader(await readLine(sock));
    } catch (err) {
      this.refuse(sock, { ok: false, verdict: 'bad-header', error: (err as Error).message });
      return;
    } finally {
      clearTimeout(timer);
    }
    const { policy } = this.opts;
    const ep = policy.endpointByIp(h.dstIp);
    const dstSocket = hostAddress(h.dstIp);
    // Only this cluster's endpoints are reachable through the tunnel: it is not a relay to arbitrary addresses.
    if (!ep || dstSocket === undefined) {
      this.refuse(sock, { ok: false, verdict: 'no-endpoint', error: `no local endpoint has ${h.dstIp}` });
      return;
    }
    const ingress = policy.verdict({
      direction: 'ingress',
      endpoint: ep.id,
      peerIdentity: h.srcIdentity,
      peerIp: h.srcIp,
      port: h.dstPort,
      protocol: h.proto,
    });
    if (!ingress.allowed) {
      log.debug({ src: h.srcIp, srcIdentity: h.srcIdentity, dst: ep.id }, 'ingress denied');
      this.refuse(sock, { ok: false, verdict: 'policy-denied', ingress });
      return;
    }
    const srcSocket = hostAddress(h.srcIp);
    const upstream = net.connect({
      host: dstSocket,
      port: h.dstPort,
      allowHalfOpen: true,
      // The backend sees the original client, as with Cilium's tunnel (no SNAT).
      ...(srcSocket !== undefined ? { localAddress: srcSocket } : {}),
    });
    this.track(upstream);
    upstream.setTimeout(this.opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, () =>
      upstream.destroy(new Error('connect timeout')),
    );
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      upstream.setTimeout(0);
      this.record('forwarded');
      sock.write(JSON.stringify({ ok: true, verdict: 'forwarded', ingress } satisfies TunnelReply) + '\n');
      sock.pipe(upstream);
      upstream.pipe(sock);
    });
    upstream.on('error', (err) => {
      if (connected) {
        sock.destroy();
        return;
      }
      this.refuse(sock, { ok: false, verdict: 'connect-failed', error: err.message });
    });
    sock.on('close', () => upstream.destroy());
    upstream.on('close', () => {
      if (!sock.destroyed && !sock.writableEnded) sock.end();
    });
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    for (const sock of this.sockets) sock.destroy();
    this.st = { ...this.st, state: 'closed' };
    if (s)
      await new Promise<void>((resolve) =>
        s.close(() => {
          resolve();
        }),
      );
  }
}
