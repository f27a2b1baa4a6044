/**
 * Pod scheduling and pod IPs: which node each pod runs on and which address of that node's /24 it holds. The
 * in-memory state is rebuilt from the pods themselves (nodeName, status.podIP) after every restart, and remembers
 * assignments not yet visible in the informer so that a retried write never hands out a second address.
 */
import type { Pod } from '../k8s/types.js';
import { clusterNodes, type NodeLayout, type OperatorCluster } from '../k8s/cluster-layout.js';
import { IpAllocator } from '../wire/ip-allocator.js';

export class SchedulingError extends Error {
  override name = 'SchedulingError';
}

export interface PodPlacement {
  node: NodeLayout;
  ip: string;
}

interface Assignment {
  node?: string;
  /** An address this pod holds in one of our allocators. */
  ip?: string;
}

export class PodIpam {
  readonly nodes: readonly NodeLayout[];
  private readonly byName = new Map<string, NodeLayout>();
  private readonly allocators = new Map<string, IpAllocator>();
  private readonly assignments = new Map<string, Assignment>();
  /** ip -> pod key, for every address held in one of our allocators. */
  private readonly owners = new Map<string, string>();
  private readonly load = new Map<string, number>();

  constructor(cluster: OperatorCluster) {
    this.nodes = clusterNodes(cluster);
    for (const n of this.nodes) {
      this.byName.set(n.name, n);
      this.allocators.set(n.name, new IpAllocator(n.podCidr.cidr));
      this.load.set(n.name, 0);
    }
  }

  node(name: string): NodeLayout | undefined {
    return this.byName.get(name);
  }

  /** Pods placed on `node` (scheduled, or being scheduled). */
  podsOn(node: string): number {
    return this.load.get(node) ?? 0;
  }

  ipOwner(ip: string): string | undefined {
    return this.owners.get(ip);
  }

  /**
   * Takes note of a pod as stored: its node and its address become facts. An address another pod already holds
   * is not taken over (the other pod keeps it; this one is reported by observe's return value).
   */
  observe(key: string, pod: Pod): { duplicateIpOf?: string } {
    const a = this.assignments.get(key) ?? {};
    const nodeName = pod.spec?.nodeName;
    if (nodeName && nodeName !== a.node) this.setNode(key, a, nodeName);
    const ip = pod.spec?.hostNetwork ? undefined : pod.status?.podIP;
    if (ip && ip !== a.ip) {
      const owner = this.owners.get(ip);
      if (owner !== undefined && owner !== key) {
        this.assignments.set(key, a);
        return { duplicateIpOf: owner };
      }
      this.releaseIp(key, a);
      if (this.allocatorFor(ip)?.claim(ip)) {
        a.ip = ip;
        this.owners.set(ip, key);
      }
    }
    this.assignments.set(key, a);
    return {};
  }

  /** The pod is gone: its address and its place on the node are free again. */
  forget(key: string): void {
    const a = this.assignments.get(key);
    if (!a) return;
    this.releaseIp(key, a);
    if (a.node !== undefined) this.load.set(a.node, (this.load.get(a.node) ?? 1) - 1);
    this.assignments.delete(key);
  }

  /**
   * Where the pod runs and its address: the stored ones when set, else what was assigned before, else the
   * least-loaded node with room and the next free address of its /24. Throws SchedulingError when impossible.
   */
  place(key: string, pod: Pod): PodPlacement {
    const a = this.assignments.get(key) ?? {};
    this.assignments.set(key, a);
    const hostNetwork = pod.spec?.hostNetwork === true;
    const podIp = pod.status?.podIP;
    let nodeName = pod.spec?.nodeName ?? a.node;
    if (nodeName === undefined && podIp && !hostNetwork)
      nodeName = this.nodes.find((n) => this.allocators.get(n.name)!.contains(podIp))?.name;
    nodeName ??= this.leastLoaded(hostNetwork);
    const node = this.byName.get(nodeName);
    if (!node) throw new SchedulingError(`node "${nodeName}" is not a node of this cluster`);
    if (a.node !== node.name) this.setNode(key, a, node.name);
    if (hostNetwork) return { node, ip: node.internalIp };
    if (podIp) return { node, ip: podIp };
    const alloc = this.allocators.get(node.name)!;
    if (a.ip && alloc.contains(a.ip)) return { node, ip: a.ip };
    this.releaseIp(key, a);
    if (alloc.free <= 0) throw new SchedulingError(`node ${node.name} has no free pod address left in ${alloc.cidr}`);
    const ip = alloc.allocate();
    a.ip = ip;
    this.owners.set(ip, key);
    return { node, ip };
  }

  private leastLoaded(hostNetwork: boolean): string {
    let best: NodeLayout | undefined;
    for (const n of this.nodes) {
      if (!hostNetwork && this.allocators.get(n.name)!.free <= 0) continue;
      if (!best || this.podsOn(n.name) < this.podsOn(best.name)) best = n;
    }
    if (!best) {
      throw new SchedulingError(
        this.nodes.length === 0 ? 'the cluster has no nodes' : 'every node is out of pod addresses',
      );
    }
    return best.name;
  }

  private setNode(key: string, a: Assignment, node: string): void {
    if (a.node !== undefined) this.load.set(a.node, (this.load.get(a.node) ?? 1) - 1);
    a.node = node;
    this.load.set(node, (this.load.get(node) ?? 0) + 1);
    // An address of another node's /24 is no use on this node.
    if (a.ip && !this.allocators.get(node)?.contains(a.ip)) this.releaseIp(key, a);
  }

  private releaseIp(key: string, a: Assignment): void {
    if (a.ip === undefined) return;
    if (this.owners.get(a.ip) === key) {
      this.owners.delete(a.ip);
      this.allocatorFor(a.ip)?.release(a.ip);
    }
    delete a.ip;
  }

  private allocatorFor(ip: string): IpAllocator | undefined {
    for (const alloc of this.allocators.values()) if (alloc.contains(ip)) return alloc;
    return undefined;
  }
}
