import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nodeLayout } from '../../src/k8s/cluster-layout.js';
import { IdPool } from '../../src/operator/id-pool.js';
import { IpAllocator } from '../../src/wire/ip-allocator.js';
import { PodIpam } from '../../src/operator/pod-ipam.js';
import { WorkQueue } from '../../src/k8s/work-queue.js';
import { CLUSTER, pod } from './helpers.js';

describe('operator building blocks', () => {
  it('IpAllocator skips reserved and claimed addresses and refuses foreign ones', () => {
    const a = new IpAllocator('10.1.0.0/29');
    assert.equal(a.capacity, 4);
    assert.equal(a.claim('10.1.0.4'), true);
    assert.equal(a.claim('10.1.0.1'), false, 'reserved');
    assert.equal(a.claim('10.2.0.4'), false, 'other CIDR');
    assert.deepEqual([a.allocate(), a.allocate(), a.allocate()], ['10.1.0.3', '10.1.0.5', '10.1.0.6']);
    assert.throws(() => a.allocate(), /no free address/);
    a.release('10.1.0.5');
    assert.equal(a.allocate(), '10.1.0.5');
  });

  it('IdPool hands out the lowest free ID', () => {
    const p = new IdPool(10, 20);
    p.claim(10);
    p.claim(12);
    assert.deepEqual([p.allocate(), p.allocate(), p.allocate()], [11, 13, 14]);
    p.release(11);
    assert.equal(p.allocate(), 11);
    assert.equal(p.claim(21), false);
  });

  it('node layout follows the cluster ID and node index', () => {
    const n = nodeLayout({ ...CLUSTER, id: 511, maxConnectedClusters: 511 }, 64);
    assert.equal(n.name, 'east-node-64');
    assert.equal(n.podCidr.cidr, '10.7.63.0/24');
    assert.equal(n.internalIp, '172.31.248.64');
    assert.equal(n.routerIp, '10.7.63.1');
    assert.equal(n.healthIp, '10.7.63.2');
  });

  it('PodIpam rebuilds from stored pods and never hands out an address twice', () => {
    const ipam = new PodIpam(CLUSTER);
    ipam.observe('ns/a', pod('ns', 'a', {}, { spec: { nodeName: 'east-node-1' }, status: { podIP: '10.7.0.3' } }));
    const b = ipam.place('ns/b', pod('ns', 'b', {}));
    assert.notEqual(b.node.name, 'east-node-1', 'least-loaded node');
    const c = ipam.place('ns/c', pod('ns', 'c', {}, { spec: { nodeName: 'east-node-1' } }));
    assert.equal(c.ip, '10.7.0.4');
    assert.deepEqual(ipam.place('ns/c', pod('ns', 'c', {}, { spec: { nodeName: 'east-node-1' } })), c, 'stable');
    ipam.forget('ns/a');
    const d = ipam.place('ns/d', pod('ns', 'd', {}, { spec: { nodeName: 'east-node-1' } }));
    assert.equal(d.ip, '10.7.0.5', 'a released address is not reused right away');
    assert.throws(() => ipam.place('ns/e', pod('ns', 'e', {}, { spec: { nodeName: 'elsewhere' } })), /not a node/);
  });

  it('WorkQueue dedupes keys, never runs one key twice at once, and retries failures', async () => {
    const runs: string[] = [];
    let running = 0;
    let maxRunning = 0;
    let failOnce = true;
    const q = new WorkQueue(
      async (key) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        runs.push(key);
        await new Promise((r) => setTimeout(r, 10));
        running--;
        if (key === 'flaky' && failOnce) {
          failOnce = false;
          throw new Error('transient');
        }
      },
      { workers: 4, retryInitialMs: 5 },
    );
    q.add('a');
    q.add('a');
    q.add('flaky');
    q.start();
    q.add('a'); // while running: runs once more afterwards
    await q.idle();
    assert.deepEqual(runs.filter((k) => k === 'a').length, 2);
    assert.deepEqual(runs.filter((k) => k === 'flaky').length, 2);
    assert.ok(maxRunning <= 2, 'maxRunning <= 2');
    await q.stop();
  });
});
