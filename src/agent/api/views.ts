/** Builds the API's list views from the tables. */
import { objectRef } from '../../wire/index.js';
import type { LbEntry, ServiceListEntry } from './api-types.js';
import type { MergedService } from '../tables/service-merger.js';

export function serviceListView(services: readonly MergedService[]): ServiceListEntry[] {
  const out: ServiceListEntry[] = [];
  for (const s of services) {
    for (const fe of s.frontends) {
      out.push({
        frontend: fe.frontend,
        type: fe.type,
        service: objectRef(s.namespace, s.name),
        backends: fe.backends.map((b) => ({
          address: b.address,
          port: b.port,
          protocol: b.protocol,
          cluster: b.cluster,
          clusterID: b.clusterID,
          state: b.state,
          selected: b.selected,
        })),
      });
    }
  }
  return out;
}

/** Reverse-NAT IDs: one per frontend, stable for the agent's lifetime (as the datapath's are). */
export class RevNatIds {
  private readonly ids = new Map<string, number>();
  private next = 1;

  idOf(frontend: string): number {
    let id = this.ids.get(frontend);
    if (id === undefined) this.ids.set(frontend, (id = this.next++));
    return id;
  }
}

export function lbView(services: readonly MergedService[], revNat: RevNatIds): LbEntry[] {
  const out: LbEntry[] = [];
  for (const s of services) {
    for (const fe of s.frontends) {
      const selected = fe.backends.filter((b) => b.selected);
      out.push({
        frontend: fe.frontend,
        type: fe.type,
        service: objectRef(s.namespace, s.name),
        revNatId: revNat.idOf(fe.frontend),
        backends: selected.map((b, i) => ({
          slot: i + 1,
          address: b.address,
          port: b.port,
          protocol: b.protocol,
          cluster: b.cluster,
        })),
      });
    }
  }
  return out;
}
