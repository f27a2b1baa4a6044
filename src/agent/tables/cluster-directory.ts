import { clusterIdOfIdentity, MINIMAL_NUMERIC_IDENTITY, type MaxConnectedClusters } from '../../wire/index.js';

/**
 * Cluster name -> cluster ID, for the tables' views. The local cluster is known from the start; a remote's ID is
 * learned from what it sends (nodes and services carry it) or from its cluster config, and as a last resort read
 * from the cluster bits of an identity.
 */
export class ClusterDirectory {
  private readonly ids = new Map<string, number>();

  constructor(
    readonly localName: string,
    readonly localId: number,
    readonly maxConnectedClusters: MaxConnectedClusters,
  ) {
    this.ids.set(localName, localId);
  }

  learn(name: string, id: number): void {
    if (name !== this.localName && id > 0) this.ids.set(name, id);
  }

  forget(name: string): void {
    if (name !== this.localName) this.ids.delete(name);
  }

  /** The ID of `name`; 0 when unknown and `identity` carries no cluster bits. */
  idOf(name: string, identity?: number): number {
    const known = this.ids.get(name);
    if (known !== undefined) return known;
    if (identity !== undefined && identity >= MINIMAL_NUMERIC_IDENTITY) {
      return clusterIdOfIdentity(identity, this.maxConnectedClusters);
    }
    return 0;
  }
}
