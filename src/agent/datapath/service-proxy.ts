/**
 * The userspace datapath: for every TCP service frontend on a loopback address (a local cluster whose service
 * CIDR is in 127.0.0.0/8) the agent listens on ClusterIP:port. On accept it does what Cilium's socket LB and
 * policy do for a connect(): the client's pod IP from its socket address (host-address.ts), the source identity
 * from the ipcache by that pod IP, a backend from the service table's selected backends, the source endpoint's
 * egress policy and the destination endpoint's ingress policy against the backend (post-translation, as Cilium
 * enforces), then it splices the two sockets or resets the client. Frontends elsewhere stay in the decision table
 * (decide(), counters, trace) without sockets. Decisions work on pod IPs (data, as the ipcache and the tunnel
 * header carry them); only sockets use the loopback addresses host-address.ts maps them to.
 * A backend on another node (of this cluster or a remote one) is reached through that node's tunnel (tunnel.ts),
 * whose agent judges the ingress policy, as Cilium enforces ingress on the destination node.
 */
import net from 'node:net';
import { logger } from '../../observe/logger.js';
import { ReservedIdentity, ipFamily, objectRef } from '../../wire/index.js';
import type { IpcacheEntry } from '../tables/ipcache.js';
import type { PolicyEngine } from '../policy/engine.js';
import type { Direction, L4Protocol, Verdict } from '../policy/types.js';
import { formatL3n4, type MergedBackend, type MergedFrontend, type MergedService } from '../tables/service-merger.js';
import { BackendSelector, type LbAlgorithm } from './backend-selector.js';
import { hostAddress, podAddressOf } from './host-address.js';
import { isLoopbackV4 } from './loopback.js';
import { MAGLEV_TABLE_SIZE } from './maglev.js';
import { dropCounter, forwardCounter } from './metrics.js';
import { encodeTunnelHeader, parseTunnelReply, readLine, TUNNEL_PORT } from './tunnel.js';

const log = logger('datapath');
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

export type ProxyVerdict = 'forwarded' | 'policy-denied' | 'no-backend' | 'connect-failed';

export interface FlowQuery {
  srcIp: string;
  srcPort: number;
  frontendAddress: string;
  frontendPort: number;
  protocol: L4Protocol;
}

export interface Decision {
  verdict: Exclude<ProxyVerdict, 'connect-failed'>;
  frontend?: string;
  backend?: MergedBackend;
  srcIdentity: number;
  dstIdentity?: number;
  /** The policy step that refused, for policy-denied. */
  deniedAt?: Direction;
  /** The tunnel address of the backend's node: its agent judges ingress (then `ingress` is unset here). */
  tunnel?: string;
  egress?: Verdict;
  ingress?: Verdict;
}

export interface ListenerStatus {
  frontend: string;
  service: string;
  state: 'listening' | 'starting' | 'failed' | 'not-loopback' | 'not-tcp';
  error?: string;
}

/** Where flows to an address go: to a node's tunnel, or straight to the address. */
export interface TunnelRouter {
  /** The tunnel address of the node hosting `ip`; undefined: connect directly (this node's endpoint, or no tunnel). */
  route(ip: string): string | undefined;
  /** Default TUNNEL_PORT. */
  port?: number;
}

export interface ServiceProxyOptions {
  clusterName: string;
  ipcache: { lookup(ip: string): IpcacheEntry | undefined };
  /** This cluster's policy engine; none = no policy enforcement. */
  policy?: PolicyEngine;
  /**
   * Engines of other clusters whose ingress this process can judge (tests and one-process demos). Without one, a
   * remote destination's ingress is left to that cluster, as policies are not shared between clusters.
   */
  remotePolicy?: (cluster: string) => PolicyEngine | undefined;
  /** Carries flows to backends of other nodes; none = every backend is connected to directly. */
  tunnel?: TunnelRouter;
  algorithm?: LbAlgorithm;
  maglevTableSize?: number;
  /** Open listeners (false: decisions only, as for non-loopback clusters). */
  listen?: boolean;
  connectTimeoutMs?: number;
}

interface FrontendState {
  key: string;
  service: string;
  fe: MergedFrontend;
  selector: BackendSelector;
  server?: net.Server;
  status: ListenerStatus;
}

const DROP_REASON: Record<Exclude<ProxyVerdict, 'forwarded'>, string> = {
  'policy-denied': 'Policy denied',
  'no-backend': 'Service backend not found',
  'connect-failed': 'Service backend unreachable',
};

function feKey(address: string, port: number, protocol: string): string {
  return formatL3n4(address, port, protocol);
}

export class ServiceProxy {
  private readonly frontends = new Map<string, FrontendState>();
  private readonly byService = new Map<string, Set<string>>();
  private readonly sockets = new Set<net.Socket>();
  private readonly pending = new Set<Promise<void>>();
  private readonly count: Record<ProxyVerdict, number> = {
    forwarded: 0,
    'policy-denied': 0,
    'no-backend': 0,
    'connect-failed': 0,
  };
  private closed = false;

  constructor(private readonly opts: ServiceProxyOptions) {}

  // ---- service table changes ----

  /** Follows one service of the table (the ServiceTable's onChange). */
  onServiceChange(ref: string, svc: MergedService | undefined): void {
    const keep = new Set<string>();
    for (const fe of svc?.frontends ?? []) {
      const key = feKey(fe.address, fe.port, fe.protocol);
      keep.add(key);
      let st = this.frontends.get(key);
      if (!st) {
        st = {
          key,
          service: ref,
          fe,
          selector: new BackendSelector(
            this.opts.algorithm ?? 'maglev',
            this.opts.maglevTableSize ?? MAGLEV_TABLE_SIZE,
          ),
          status: { frontend: key, service: ref, state: 'starting' },
        };
        this.frontends.set(key, st);
        this.openListener(st);
      }
      st.fe = fe;
      st.service = ref;
      st.selector.update(fe.backends);
    }
    for (const key of this.byService.get(ref) ?? []) if (!keep.has(key)) this.removeFrontend(key);
    if (keep.size > 0) this.byService.set(ref, keep);
    else this.byService.delete(ref);
  }

  /** Brings the proxy to exactly these services. */
  sync(services: readonly MergedService[]): void {
    const refs = new Set(services.map((s) => objectRef(s.namespace, s.name)));
    for (const ref of [...this.byService.keys()]) if (!refs.has(ref)) this.onServiceChange(ref, undefined);
    for (const s of services) this.onServiceChange(objectRef(s.namespace, s.name), s);
  }

  private removeFrontend(key: string): void {
    const st = this.frontends.get(key);
    if (!st) return;
    this.frontends.delete(key);
    // Established connections keep going, as in Cilium where removing a service leaves existing flows alone.
    st.server?.close();
  }

  private openListener(st: FrontendState): void {
    const { fe } = st;
    if (fe.protocol !== 'TCP') {
      st.status.state = 'not-tcp';
      return;
    }
    if (!isLoopbackV4(fe.address)) {
      st.status.state = 'not-loopback';
      return;
    }
    if (this.opts.listen === false || this.closed) {
      st.status.state = 'not-loopback';
      return;
    }
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (sock) => {
      this.accept(st.key, sock);
    });
    st.server = server;
    const p = new Promise<void>((resolve) => {
      server.once('listening', () => {
        st.status.state = 'listening';
        resolve();
      });
      server.on('error', (err) => {
        st.status.state = 'failed';
        st.status.error = err.message;
        log.warn({ frontend: st.key, err }, 'cannot listen on frontend');
        resolve();
      });
    });
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
    server.listen({ host: fe.address, port: fe.port });
  }

  /** Resolves when every listener opened so far is listening or failed. */
  async ready(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  listeners(): ListenerStatus[] {
    return [...this.frontends.values()]
      .map((s) => ({ ...s.status }))
      .sort((a, b) => a.frontend.localeCompare(b.frontend));
  }

  counters(): Record<ProxyVerdict, number> {
    return { ...this.count };
  }

  // ---- decisions ----

  /**
   * The pod IP behind a client's socket address: its 10/8 form or itself, whichever the ipcache has an entry of
   * exactly (not merely a covering CIDR); the address itself when neither.
   */
  podAddressOf(socketAddress: string): string {
    return podAddressOf(socketAddress, (ip) => {
      const family = ipFamily(ip);
      if (family === undefined) return false;
      return this.opts.ipcache.lookup(ip)?.prefix === `${ip}/${family === 4 ? 32 : 128}`;
    });
  }

  private sourceOf(ip: string): { identity: number; entry?: IpcacheEntry } {
    const entry = this.opts.ipcache.lookup(ip);
    const resolved = this.opts.policy?.resolvePeer(entry?.identity ?? ReservedIdentity.World, ip);
    return entry ? { identity: entry.identity, entry } : { identity: resolved ?? ReservedIdentity.World };
  }

  private engineFor(entry: IpcacheEntry | undefined): { engine: PolicyEngine; endpoint: string } | undefined {
    if (!entry?.pod) return undefined;
    const engine = entry.cluster === this.opts.clusterName ? this.opts.policy : this.opts.remotePolicy?.(entry.cluster);
    const endpoint = `${entry.namespace}/${entry.pod}`;
    return engine?.endpoint(endpoint) ? { engine, endpoint } : undefined;
  }

  /** Everything the datapath decides for a new flow, without touching a socket. */
  decide(q: FlowQuery): Decision {
    const key = feKey(q.frontendAddress, q.frontendPort, q.protocol);
    const st = this.frontends.get(key);
    const src = this.sourceOf(q.srcIp);
    const backend = st?.selector.pick(`${q.srcIp}:${q.srcPort}`);
    if (!st || !backend) return { verdict: 'no-backend', frontend: key, srcIdentity: src.identity };
    const dstEntry = this.opts.ipcache.lookup(backend.address);
    const dstIdentity = dstEntry?.identity ?? ReservedIdentity.World;
    const d: Decision = { verdict: 'forwarded', frontend: key, backend, srcIdentity: src.identity, dstIdentity };
    const protocol = (backend.protocol as L4Protocol | undefined) ?? q.protocol;
    // Egress is the source's, judged here only for this cluster's endpoints.
    const srcEp = src.entry?.source === 'local' ? this.engineFor(src.entry) : undefined;
    if (srcEp) {
      d.egress = srcEp.engine.verdict({
        direction: 'egress',
        endpoint: srcEp.endpoint,
        peerIdentity: dstIdentity,
        peerIp: backend.address,
        port: backend.port,
        protocol,
      });
      if (!d.egress.allowed) return { ...d, verdict: 'policy-denied', deniedAt: 'egress' };
    }
    const via = this.opts.tunnel?.route(backend.address);
    if (via !== undefined) return { ...d, tunnel: via };
    const dstEp = this.engineFor(dstEntry);
    if (dstEp) {
      d.ingress = dstEp.engine.verdict({
        direction: 'ingress',
        endpoint: dstEp.endpoint,
        peerIdentity: src.identity,
        peerIp: q.srcIp,
        port: backend.port,
        protocol,
      });
      if (!d.ingress.allowed) return { ...d, verdict: 'policy-denied', deniedAt: 'ingress' };
    }
    return d;
  }

  private record(v: ProxyVerdict, direction: Direction = 'egress'): void {
    this.count[v]++;
    const dir = direction === 'egress' ? 'EGRESS' : 'INGRESS';
    if (v === 'forwarded') forwardCounter().inc({ direction: dir });
    else dropCounter().inc({ reason: DROP_REASON[v], direction: dir });
  }

  // ---- sockets ----

  private track(sock: net.Socket): void {
    this.sockets.add(sock);
    sock.once('close', () => this.sockets.delete(sock));
  }

  private accept(key: string, client: net.Socket): void {
    this.track(client);
    client.on('error', () => client.destroy());
    const st = this.frontends.get(key);
    const srcIp = this.podAddressOf(client.remoteAddress ?? '');
    const d = st
      ? this.decide({
          srcIp,
          srcPort: client.remotePort ?? 0,
          frontendAddress: st.fe.address,
          frontendPort: st.fe.port,
          protocol: 'TCP',
        })
      : undefined;
    const backendSocket = d?.backend ? hostAddress(d.backend.address) : undefined;
    if (d?.verdict !== 'forwarded' || !d.backend || backendSocket === undefined) {
      // A backend without a loopback address cannot be reached from this host: the flow has no usable backend.
      const v = d?.verdict === 'policy-denied' ? 'policy-denied' : 'no-backend';
      this.record(v, d?.deniedAt);
      log.debug({ frontend: key, src: srcIp, verdict: v, deniedAt: d?.deniedAt }, 'refused');
      client.resetAndDestroy();
      return;
    }
    const backend = d.backend;
    if (d.tunnel !== undefined) {
      this.forwardViaTunnel(key, client, d, backend, srcIp, d.tunnel);
      return;
    }
    // Keep the client's socket address (its pod IP's) as the source, as Cilium's socket LB keeps the pod IP.
    const srcSocket = hostAddress(srcIp);
    const upstream = net.connect({
      host: backendSocket,
      port: backend.port,
      allowHalfOpen: true,
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
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
    upstream.on('error', (err) => {
      if (!connected) {
        this.record('connect-failed');
        log.debug({ frontend: key, backend: backend.address, err }, 'backend connect failed');
        client.resetAndDestroy();
      } else {
        client.destroy();
      }
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => {
      if (!client.destroyed && !client.writableEnded) client.end();
    });
  }

  /**
   * Sends the flow to the backend node's tunnel (`tunnelIp`, a loopback address), which judges ingress and answers
   * before bytes flow. The header carries pod IPs: the receiving agent maps them to sockets itself.
   */
  private forwardViaTunnel(
    key: string,
    client: net.Socket,
    d: Decision,
    backend: MergedBackend,
    srcIp: string,
    tunnelIp: string,
  ): void {
    const tunnel = net.connect({ host: tunnelIp, port: this.opts.tunnel?.port ?? TUNNEL_PORT, allowHalfOpen: true });
    this.track(tunnel);
    tunnel.setTimeout(this.opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, () =>
      tunnel.destroy(new Error('tunnel timeout')),
    );
    let settled = false;
    const fail = (v: ProxyVerdict, direction: Direction = 'egress', err?: unknown): void => {
      if (settled) return;
      settled = true;
      this.record(v, direction);
      log.debug({ frontend: key, backend: backend.address, tunnel: tunnelIp, verdict: v, err }, 'refused via tunnel');
      client.resetAndDestroy();
      tunnel.destroy();
    };
    tunnel.on('error', (err) => {
      if (!settled) fail('connect-failed', 'egress', err);
      else client.destroy();
    });
    tunnel.once('connect', () => {
      tunnel.write(
        encodeTunnelHeader({
          srcIdentity: d.srcIdentity,
          srcIp,
          dstIp: backend.address,
          dstPort: backend.port,
          proto: 'TCP',
        }),
      );
      readLine(tunnel).then(
        (line) => {
          if (settled) return;
          let reply;
          try {
            reply = parseTunnelReply(line);
          } catch (err) {
            fail('connect-failed', 'egress', err);
            return;
          }
          if (!reply.ok) {
            fail(reply.verdict === 'policy-denied' ? 'policy-denied' : 'connect-failed', 'ingress');
            return;
          }
          settled = true;
          tunnel.setTimeout(0);
          this.record('forwarded');
          client.pipe(tunnel);
          tunnel.pipe(client);
          client.resume();
        },
        (err: unknown) => {
          fail('connect-failed', 'egress', err);
        },
      );
    });
    client.on('close', () => tunnel.destroy());
    tunnel.on('close', () => {
      if (!client.destroyed && !client.writableEnded) client.end();
    });
  }

  /** Closes every listener and connection. */
  async close(): Promise<void> {
    this.closed = true;
    const servers = [...this.frontends.values()].flatMap((s) => (s.server ? [s.server] : []));
    this.frontends.clear();
    this.byService.clear();
    for (const s of this.sockets) s.destroy();
    await Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((resolve) =>
            s.close(() => {
              resolve();
            }),
          ),
      ),
    );
  }
}
