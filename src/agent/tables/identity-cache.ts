/**
 * Numeric identity -> labels: the reserved identities every agent knows, this cluster's CiliumIdentities, and the
 * identities of every remote. Ranges are disjoint per cluster, so a conflict means a misbehaving remote: the local
 * (and reserved) definition wins and the first remote keeps an ID until it releases it.
 */
import {
  clusterOfLabels,
  formatLabel,
  LabelSource,
  RESERVED_IDENTITY_NAMES,
  sortLabels,
  type Label,
} from '../../wire/index.js';
import { ClaimTable } from './claims.js';
import type { ClusterDirectory } from './cluster-directory.js';

const RESERVED_RANK = 0;
const LOCAL_RANK = 1;
const REMOTE_RANK = 2;
const RESERVED_OWNER = 'reserved';
const LOCAL_OWNER = 'local';

export type IdentitySource = 'reserved' | 'local' | 'remote';

export interface IdentityView {
  id: number;
  /** `source:key=value`, sorted. */
  labels: string[];
  /** The cluster that defined it; "" for reserved identities, which every cluster shares. */
  cluster: string;
  clusterID: number;
  source: IdentitySource;
}

interface Stored {
  labels: readonly Label[];
  cluster: string;
  source: IdentitySource;
}

export class IdentityCache {
  private readonly table = new ClaimTable<number, Stored>();

  constructor(private readonly clusters: ClusterDirectory) {
    for (const [id, name] of RESERVED_IDENTITY_NAMES) {
      // Cilium's identity 0 ("unknown") is never listed.
      if (id === 0) continue;
      const labels = [{ source: LabelSource.Reserved, key: name, value: '' }];
      this.table.set(id, RESERVED_OWNER, RESERVED_RANK, { labels, cluster: '', source: 'reserved' });
    }
  }

  upsertLocal(id: number, labels: readonly Label[]): void {
    this.table.set(id, LOCAL_OWNER, LOCAL_RANK, {
      labels: sortLabels(labels),
      cluster: this.clusters.localName,
      source: 'local',
    });
  }

  deleteLocal(id: number): void {
    this.table.delete(id, LOCAL_OWNER);
  }

  upsertRemote(cluster: string, id: number, labels: readonly Label[]): void {
    this.table.set(id, `remote:${cluster}`, REMOTE_RANK, { labels: sortLabels(labels), cluster, source: 'remote' });
  }

  deleteRemote(cluster: string, id: number): void {
    this.table.delete(id, `remote:${cluster}`);
  }

  get(id: number): IdentityView | undefined {
    const c = this.table.get(id);
    return c ? this.view(id, c.value) : undefined;
  }

  /** Sorted by ID. */
  list(): IdentityView[] {
    const out: IdentityView[] = [];
    for (const [id, c] of this.table.entries()) out.push(this.view(id, c.value));
    return out.sort((a, b) => a.id - b.id);
  }

  get size(): number {
    return this.table.size;
  }

  private view(id: number, s: Stored): IdentityView {
    const cluster = s.cluster || (clusterOfLabels(s.labels) ?? '');
    return {
      id,
      labels: s.labels.map(formatLabel),
      cluster: s.source === 'reserved' ? '' : cluster,
      clusterID: s.source === 'reserved' ? 0 : this.clusters.idOf(cluster, id),
      source: s.source,
    };
  }
}
