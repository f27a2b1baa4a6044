/**
 * Which backend of a frontend a flow goes to: among the backends the service table selected (affinity applied,
 * unreachable clusters already out), by Maglev over the flow hash, or at random. The Maglev table is rebuilt only
 * when the frontend's backend set changes.
 */
import { formatL3n4, type MergedBackend } from '../tables/service-merger.js';
import { flowHash, MAGLEV_TABLE_SIZE, maglevTable } from './maglev.js';

export type LbAlgorithm = 'maglev' | 'random';

export class BackendSelector {
  private names = '';
  private backends: MergedBackend[] = [];
  private table: Int32Array = new Int32Array(0);

  constructor(
    private readonly algorithm: LbAlgorithm,
    private readonly tableSize = MAGLEV_TABLE_SIZE,
  ) {}

  /** Sets the candidate backends (the frontend's selected, active ones). */
  update(all: readonly MergedBackend[]): void {
    const usable = all.filter((b) => b.selected && b.state === 'active');
    const names = usable.map((b) => formatL3n4(b.address, b.port, b.protocol));
    const key = names.join(' ');
    if (key === this.names) {
      this.backends = usable;
      return;
    }
    this.names = key;
    this.backends = usable;
    this.table = this.algorithm === 'maglev' ? maglevTable(names, this.tableSize) : new Int32Array(0);
  }

  get size(): number {
    return this.backends.length;
  }

  /** The backend for a flow (`srcIp:srcPort`), or undefined when there is none. */
  pick(flow: string): MergedBackend | undefined {
    if (this.backends.length === 0) return undefined;
    if (this.algorithm === 'random') return this.backends[Math.floor(Math.random() * this.backends.length)];
    const slot = this.table[flowHash(flow) % this.table.length]!;
    return this.backends[slot];
  }
}
