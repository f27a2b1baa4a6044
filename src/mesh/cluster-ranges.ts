/**
 * Which pod and service CIDRs a new local cluster may take beside the local clusters that exist. Two kinds of clash
 * are refused. The CIDRs themselves: pod and service addresses must be unique across a mesh, since the wire data
 * carries them. And the loopback addresses the userspace datapath serves them on (pods of 10.a.b.0/n on
 * 127.a.b.0/n, see agent/datapath/host-address.ts; service frontends on their loopback ClusterIPs): these are
 * global to the machine, so two clusters serving the same loopback address would take each other's sockets, and a
 * client's socket address would no longer name one pod.
 */
import { hostRange } from '../agent/datapath/host-address.js';
import { isLoopbackCidr } from '../agent/datapath/loopback.js';
import { parseIpRange, rangesOverlap, type IpRange } from '../wire/ip.js';

export class ClusterRangeError extends Error {
  override name = 'ClusterRangeError';
}

/** The facts of a cluster that its ranges depend on. */
export interface ClusterRanges {
  name: string;
  podCidr: string;
  serviceCidr: string;
  /** 0: a control-plane-only cluster, whose datapath serves nothing. */
  nodes: number;
}

type What = 'pod CIDR' | 'service CIDR';

interface Range {
  what: What;
  flag: '--pod-cidr' | '--service-cidr';
  /** The CIDR as the cluster has it. */
  cidr: string;
  /** The CIDR's addresses (as data), or the loopback addresses the datapath serves them on. */
  range: IpRange;
}

/** The pod and service CIDRs as data. */
function dataRanges(c: ClusterRanges): Range[] {
  return [
    { what: 'pod CIDR', flag: '--pod-cidr', cidr: c.podCidr, range: parseIpRange(c.podCidr) },
    { what: 'service CIDR', flag: '--service-cidr', cidr: c.serviceCidr, range: parseIpRange(c.serviceCidr) },
  ];
}

/**
 * The loopback ranges the datapath would serve the cluster's pods and frontends on: the pods' by the one mapping
 * of host-address.ts, the frontends' when the service CIDR is loopback. Counted whatever the number of nodes, so
 * that a control-plane-only cluster keeps its loopback image free as well.
 */
function socketRanges(c: ClusterRanges): { pods?: Range; frontends?: Range } {
  const out: { pods?: Range; frontends?: Range } = {};
  const pods = hostRange(c.podCidr);
  if (pods) out.pods = { what: 'pod CIDR', flag: '--pod-cidr', cidr: c.podCidr, range: pods };
  if (isLoopbackCidr(c.serviceCidr))
    out.frontends = {
      what: 'service CIDR',
      flag: '--service-cidr',
      cidr: c.serviceCidr,
      range: parseIpRange(c.serviceCidr),
    };
  return out;
}

function listed(r: { pods?: Range; frontends?: Range }): Range[] {
  return [r.pods, r.frontends].filter((x) => x !== undefined);
}

function describe(r: Range, owner: string): string {
  const served = r.range.cidr === r.cidr ? '' : ` (served on ${r.range.cidr})`;
  return `the ${r.what} ${r.cidr}${served} of ${owner}`;
}

/**
 * Throws a ClusterRangeError when `mine` (the new cluster) cannot take its ranges: a pod CIDR its agents could not
 * serve, its own pods and frontends on the same loopback addresses, or ranges (as data or as loopback addresses)
 * that overlap those of a cluster in `others`. The message names both clusters and the flag to change.
 */
export function checkNewClusterRanges(mine: ClusterRanges, others: readonly ClusterRanges[]): void {
  if (mine.nodes > 0 && hostRange(mine.podCidr) === undefined)
    throw new ClusterRangeError(
      `--pod-cidr ${mine.podCidr} has no loopback addresses to serve pods on (the datapath serves pod IPs of ` +
        '10.0.0.0/8 on 127.0.0.0/8, and loopback pod IPs as they are): pass a pod CIDR in 10.0.0.0/8, ' +
        'or --nodes 0 for a control-plane-only cluster',
    );
  const owner = `new cluster "${mine.name}"`;
  const { pods, frontends } = socketRanges(mine);
  if (pods && frontends && rangesOverlap(pods.range, frontends.range))
    throw new ClusterRangeError(
      `${describe(pods, owner)} overlaps its service CIDR ${frontends.cidr} on loopback: ` +
        'pass a --pod-cidr or --service-cidr that keeps them apart',
    );
  for (const other of others) {
    const theirOwner = `local cluster "${other.name}"`;
    for (const m of dataRanges(mine))
      for (const t of dataRanges(other))
        if (rangesOverlap(m.range, t.range))
          throw new ClusterRangeError(
            `the ${m.what} ${m.cidr} of ${owner} overlaps the ${t.what} ${t.cidr} of ${theirOwner}: ` +
              `pod and service CIDRs must not overlap across a mesh; pass a free range with ${m.flag}`,
          );
    for (const m of listed(socketRanges(mine)))
      for (const t of listed(socketRanges(other)))
        if (rangesOverlap(m.range, t.range))
          throw new ClusterRangeError(
            `${describe(m, owner)} and ${describe(t, theirOwner)} map onto the same loopback addresses, ` +
              `where the datapath serves them on this machine; pass a free range with ${m.flag}`,
          );
  }
}
