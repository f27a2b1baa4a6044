/** Every node the agent knows: this cluster's CiliumNodes and the nodes of every remote, keyed by (cluster, name). */
import { wireToCidr, type Node } from '../../wire/index.js';

export interface NodeView {
  name: string;
  cluster: string;
  clusterID: number;
  /** `Type=IP` pairs, as Cilium's node list prints them. */
  addresses: { type: string; ip: string }[];
  ipv4AllocCIDR: string;
  ipv6AllocCIDR: string;
  ipv4HealthIP: string;
  ipv6HealthIP: string;
  source: 'local' | 'remote';
}

function cidrText(c: Node['IPv4AllocCIDR']): string {
  return c ? wireToCidr(c) : '';
}

export class NodeTable {
  private readonly nodes = new Map<string, Node>();

  constructor(private readonly localCluster: string) {}

  upsert(node: Node): void {
    this.nodes.set(`${node.Cluster}/${node.Name}`, node);
  }

  delete(cluster: string, name: string): void {
    this.nodes.delete(`${cluster}/${name}`);
  }

  get(cluster: string, name: string): Node | undefined {
    return this.nodes.get(`${cluster}/${name}`);
  }

  /** Nodes of one cluster, or all; sorted by cluster then name. */
  list(cluster?: string): Node[] {
    const out = [...this.nodes.values()].filter((n) => cluster === undefined || n.Cluster === cluster);
    return out.sort((a, b) => a.Cluster.localeCompare(b.Cluster) || a.Name.localeCompare(b.Name));
  }

  views(): NodeView[] {
    return this.list().map((n) => ({
      name: n.Name,
      cluster: n.Cluster,
      clusterID: n.ClusterID,
      addresses: (n.IPAddresses ?? []).map((a) => ({ type: a.Type, ip: a.IP })),
      ipv4AllocCIDR: cidrText(n.IPv4AllocCIDR),
      ipv6AllocCIDR: cidrText(n.IPv6AllocCIDR),
      ipv4HealthIP: n.IPv4HealthIP,
      ipv6HealthIP: n.IPv6HealthIP,
      source: n.Cluster === this.localCluster ? 'local' : 'remote',
    }));
  }

  get size(): number {
    return this.nodes.size;
  }
}
