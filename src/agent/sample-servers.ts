/**
 * Makes sample pods real: for every Pod of this node annotated `cmesh.io/sample-server: "<port>"` whose IP has a
 * loopback address (datapath/host-address.ts: 10.a.b.c -> 127.a.b.c, or a loopback pod IP itself), the agent runs
 * a PodServer (http mode, answering `cluster=<c> pod=<ns/name>`) on that address and the port, the way a container
 * would listen on its pod IP. `cmesh connectivity test` and the demos apply such pods.
 */
import type { ClusterSource, Informer } from '../k8s/source.js';
import type { Pod } from '../k8s/types.js';
import { WorkQueue } from '../k8s/work-queue.js';
import { logger } from '../observe/logger.js';
import { objectRef } from '../wire/index.js';
import { hostAddress } from './datapath/host-address.js';
import { PodServer } from './datapath/pod-server.js';
import { SAMPLE_SERVER_ANNOTATION } from './defaults.js';

const log = logger('sample-servers');

export { SAMPLE_SERVER_ANNOTATION };

export interface SampleServersOptions {
  source: ClusterSource;
  clusterName: string;
  nodeName: string;
  /** The pod IP a client's socket address stands for (the `from=` of the answers). */
  peerAddress?: (socketAddress: string) => string;
}

export interface SampleServerView {
  pod: string;
  /** podIP:port, as the pod's endpoints publish it. */
  address: string;
  /** The loopback address:port the server binds for it. */
  socket: string;
  state: 'serving' | 'failed';
  error?: string;
}

interface Running {
  key: string;
  socket: string;
  server: PodServer;
  state: SampleServerView['state'];
  error?: string;
}

/** The port a pod asks for, or undefined when it is not a sample server of `node` with a pod IP it can bind. */
export function sampleServerTarget(pod: Pod, node: string): { ip: string; port: number } | undefined {
  const raw = pod.metadata.annotations?.[SAMPLE_SERVER_ANNOTATION];
  const ip = pod.status?.podIP;
  if (raw === undefined || pod.spec?.nodeName !== node || !ip || hostAddress(ip) === undefined) return undefined;
  if (!/^[0-9]{1,5}$/.test(raw.trim())) return undefined;
  const port = Number(raw);
  return port >= 1 && port <= 65535 ? { ip, port } : undefined;
}

export class SampleServers {
  private informer: Informer<Pod> | undefined;
  private readonly running = new Map<string, Running>();
  /** Pod -> the address it should serve now (undefined: none); the queue's worker applies it. */
  private readonly desired = new Map<string, { ip: string; port: number } | undefined>();
  /** One worker, so that start/stop of different pods do not race on the same address. */
  private readonly queue = new WorkQueue((pod) => this.apply(pod), { workers: 1 });

  constructor(private readonly opts: SampleServersOptions) {
    this.queue.start();
  }

  start(): void {
    if (this.informer) return;
    const inf = this.opts.source.informer('Pod');
    const sync = (pod: Pod): void => {
      this.enqueue(pod, sampleServerTarget(pod, this.opts.nodeName));
    };
    inf.on({
      onAdd: sync,
      onUpdate: sync,
      onDelete: (pod) => {
        this.enqueue(pod, undefined);
      },
    });
    this.informer = inf;
    inf.start();
  }

  private enqueue(pod: Pod, target: { ip: string; port: number } | undefined): void {
    const name = objectRef(pod.metadata.namespace, pod.metadata.name);
    this.desired.set(name, target);
    this.queue.add(name);
  }

  private async apply(name: string): Promise<void> {
    const target = this.desired.get(name);
    if (!target) this.desired.delete(name);
    const key = target ? `${target.ip}:${target.port}` : '';
    const cur = this.running.get(name);
    if (cur?.key === key) return;
    if (cur) {
      this.running.delete(name);
      await cur.server.close();
    }
    if (!target) return;
    const server = new PodServer({
      ip: target.ip,
      port: target.port,
      cluster: this.opts.clusterName,
      pod: name,
      ...(this.opts.peerAddress ? { peerAddress: this.opts.peerAddress } : {}),
    });
    const r: Running = { key, socket: `${server.socketAddress}:${target.port}`, server, state: 'serving' };
    this.running.set(name, r);
    try {
      await server.start();
      log.info({ pod: name, address: key, socket: r.socket }, 'sample server started');
    } catch (err) {
      r.state = 'failed';
      r.error = (err as Error).message;
      log.warn({ pod: name, address: key, socket: r.socket, err }, 'cannot start a sample server');
    }
  }

  /** Resolves once every change seen so far is applied. */
  async settled(): Promise<void> {
    await this.queue.idle();
  }

  list(): SampleServerView[] {
    return [...this.running]
      .map(([pod, r]) => ({
        pod,
        address: r.key,
        socket: r.socket,
        state: r.state,
        ...(r.error ? { error: r.error } : {}),
      }))
      .sort((a, b) => (a.pod < b.pod ? -1 : 1));
  }

  async stop(): Promise<void> {
    await this.informer?.stop();
    await this.queue.idle();
    await this.queue.stop();
    const all = [...this.running.values()];
    this.running.clear();
    await Promise.all(all.map((r) => r.server.close()));
  }
}
