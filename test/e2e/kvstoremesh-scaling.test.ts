import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { CmeshHome, eventually } from './helpers.js';

/**
 * KVStoreMesh's point: the watch connections on a cluster's clustermesh etcd do not grow with the number of agents
 * in the clusters that read it. Cluster a (no nodes) is read by b (3 nodes, KVStoreMesh on: one reader) and by c
 * (3 nodes, KVStoreMesh off: every agent reads a directly). Counted with etcd's own metrics.
 */
const NODES = 3;

function metrics(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          resolve(body);
        });
      })
      .on('error', reject);
  });
}

async function watchStreams(url: string): Promise<number> {
  const m = /^etcd_debugging_mvcc_watch_stream_total (\d+)/m.exec(await metrics(url));
  if (!m?.[1]) throw new Error(`etcd_debugging_mvcc_watch_stream_total missing from ${url}`);
  return Number(m[1]);
}

describe('KVStoreMesh keeps the watch connections on a remote etcd independent of the number of agents', () => {
  let home: CmeshHome;
  let metricsUrl: string;
  const deltas: Record<string, number> = {};

  before(async () => {
    home = await CmeshHome.create({ clusterIds: [1, 2, 3] });
    await home.ok(['cluster', 'create', 'a', '--id', '1', '--nodes', '0']);
    await home.ok(['cluster', 'create', 'b', '--id', '2', '--nodes', String(NODES)]);
    await home.ok(['cluster', 'create', 'c', '--id', '3', '--nodes', String(NODES)]);
    await home.ok(['clustermesh', 'enable', '--context', 'a', '--enable-kvstoremesh', 'false']);
    await home.ok(['clustermesh', 'enable', '--context', 'b', '--enable-kvstoremesh', 'true']);
    await home.ok(['clustermesh', 'enable', '--context', 'c', '--enable-kvstoremesh', 'false']);
    const info = JSON.parse(await home.ok(['cluster', 'inspect', 'a', '-o', 'json'])) as {
      clustermeshEtcd: { metrics: string };
    };
    metricsUrl = info.clustermeshEtcd.metrics;
  });
  after(async () => {
    await home.destroy();
  });

  async function connectAndMeasure(remote: string): Promise<number> {
    const before = await watchStreams(metricsUrl);
    await home.ok(['clustermesh', 'connect', '--context', 'a', '--destination-context', remote]);
    await home.ok(['clustermesh', 'status', '--context', remote, '--wait', '--wait-duration', '2m'], {
      timeoutMs: 150_000,
    });
    // Streams settle once every reader has started its canary-gated watchers.
    let last = -1;
    let now = await watchStreams(metricsUrl);
    for (let i = 0; i < 20 && now !== last; i++) {
      await new Promise((r) => setTimeout(r, 500));
      last = now;
      now = await watchStreams(metricsUrl);
    }
    return now - before;
  }

  it('b (KVStoreMesh, 3 agents) opens as many watch streams on a as one reader; c (3 direct agents) about 3x more', async () => {
    deltas.b = await connectAndMeasure('b');
    deltas.c = await connectAndMeasure('c');
    console.log(
      `watch streams opened on a: by b (KVStoreMesh, ${NODES} agents) ${deltas.b}, by c (${NODES} direct agents) ${deltas.c}`,
    );
    assert.ok(deltas.b > 0, `b opened ${deltas.b} streams on a`);
    assert.ok(deltas.c >= 2 * deltas.b, `direct agents of c opened ${deltas.c} streams, KVStoreMesh of b ${deltas.b}`);
    assert.ok(
      deltas.c % NODES === 0 || deltas.c >= NODES * (deltas.b - 1),
      `c: ${deltas.c} streams for ${NODES} agents`,
    );
  });

  it("a change in a reaches every agent of b (through b's cache) and of c (directly)", async () => {
    const cep = [
      'apiVersion: cilium.io/v2',
      'kind: CiliumEndpoint',
      'metadata: {name: probe, namespace: default}',
      'status:',
      `  identity: {id: ${(1 << 16) + 300}}`,
      '  networking: {addressing: [{ipv4: 10.1.200.7}], node: 172.16.8.1}',
      '  state: ready',
    ].join('\n');
    await home.ok(['apply', '--context', 'a', '-f', '-'], { input: cep });
    for (const c of ['b', 'c']) {
      for (let n = 1; n <= NODES; n++) {
        await eventually(
          async () =>
            JSON.parse(
              await home.ok(['bpf', 'ipcache', 'list', '--context', c, '--node', `${c}-node-${n}`, '-o', 'json']),
            ) as { prefix: string; cluster: string }[],
          (list) => list.some((e) => e.prefix === '10.1.200.7/32' && e.cluster === 'a'),
          `${c}-node-${n} to learn 10.1.200.7 from a`,
        );
      }
    }
  });
});
