import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { checkNewClusterRanges, ClusterRangeError, type ClusterRanges } from '../../src/mesh/cluster-ranges.js';

const east: ClusterRanges = { name: 'east', podCidr: '10.7.0.0/17', serviceCidr: '127.7.128.0/17', nodes: 2 };
/** A cluster created before pods moved to 10/8: its pods are served on their own loopback addresses. */
const old: ClusterRanges = { name: 'old', podCidr: '127.8.0.0/17', serviceCidr: '127.8.128.0/17', nodes: 1 };

function refuses(c: ClusterRanges, others: ClusterRanges[], re: RegExp): void {
  assert.throws(
    () => {
      checkNewClusterRanges(c, others);
    },
    (err: unknown) => err instanceof ClusterRangeError && re.test(err.message),
    `${c.podCidr} ${c.serviceCidr} must be refused with ${String(re)}`,
  );
}

describe('ranges of a new local cluster', () => {
  it('accepts the defaults of distinct IDs beside each other and beside an older loopback cluster', () => {
    checkNewClusterRanges({ name: 'west', podCidr: '10.9.0.0/17', serviceCidr: '127.9.128.0/17', nodes: 2 }, [
      east,
      old,
    ]);
  });

  it('refuses CIDRs that overlap as addresses, naming both clusters and the flag', () => {
    refuses(
      { name: 'west', podCidr: '10.7.64.0/18', serviceCidr: '127.9.128.0/17', nodes: 2 },
      [east],
      /the pod CIDR 10\.7\.64\.0\/18 of new cluster "west" overlaps the pod CIDR 10\.7\.0\.0\/17 of local cluster "east".*--pod-cidr/,
    );
  });

  it('refuses pod CIDRs that map onto the same loopback addresses, naming both clusters and the flag', () => {
    refuses(
      { name: 'west', podCidr: '127.7.64.0/18', serviceCidr: '127.9.128.0/17', nodes: 2 },
      [east],
      /the pod CIDR 127\.7\.64\.0\/18 of new cluster "west" and the pod CIDR 10\.7\.0\.0\/17 \(served on 127\.7\.0\.0\/17\) of local cluster "east" map onto the same loopback addresses.*pass a free range with --pod-cidr/,
    );
    refuses(
      { name: 'west', podCidr: '10.8.0.0/18', serviceCidr: '127.9.128.0/17', nodes: 2 },
      [old],
      /the pod CIDR 10\.8\.0\.0\/18 \(served on 127\.8\.0\.0\/18\) of new cluster "west" and the pod CIDR 127\.8\.0\.0\/17 of local cluster "old"/,
    );
    // Pods served on another cluster's service frontends.
    refuses(
      { name: 'west', podCidr: '10.7.128.0/18', serviceCidr: '127.9.128.0/17', nodes: 2 },
      [east],
      /\(served on 127\.7\.128\.0\/18\) of new cluster "west" and the service CIDR 127\.7\.128\.0\/17 of local cluster "east"/,
    );
    // A control-plane-only cluster keeps its loopback image free as well.
    refuses(
      { name: 'west', podCidr: '127.7.0.0/18', serviceCidr: '127.9.128.0/17', nodes: 0 },
      [{ ...east, nodes: 0 }],
      /map onto the same loopback addresses/,
    );
  });

  it("refuses a cluster whose pods would be served on its own frontends' addresses", () => {
    refuses(
      { name: 'west', podCidr: '10.9.128.0/17', serviceCidr: '127.9.128.0/17', nodes: 1 },
      [],
      /the pod CIDR 10\.9\.128\.0\/17 \(served on 127\.9\.128\.0\/17\) of new cluster "west" overlaps its service CIDR 127\.9\.128\.0\/17 on loopback/,
    );
  });

  it('refuses a pod CIDR without loopback addresses when agents would serve it; a control plane may use any', () => {
    for (const podCidr of ['192.168.0.0/16', '172.20.0.0/16', '11.0.0.0/16'])
      refuses(
        { name: 'west', podCidr, serviceCidr: '127.9.128.0/17', nodes: 1 },
        [],
        /--pod-cidr .* has no loopback addresses to serve pods on.*--nodes 0/,
      );
    checkNewClusterRanges({ name: 'west', podCidr: '192.168.0.0/16', serviceCidr: '172.20.0.0/16', nodes: 0 }, [east]);
  });
});
