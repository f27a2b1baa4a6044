import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { CmeshHome, eventually, httpGetFrom, isAlive, leftovers } from './helpers.js';

interface DemoResult {
  clusters: { name: string; id: number; podCidr: string; clusterIp: string; affinity: string }[];
  backends: {
    cluster: string;
    frontend: string;
    backends: { address: string; cluster: string; state: string; selected: boolean }[];
  }[];
  seconds: number;
}

interface IpcacheEntry {
  prefix: string;
  cluster: string;
  source: string;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port, timeout: 500 });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      resolve(false);
    });
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

describe('cmesh demo: three connected clusters, end to end', () => {
  let home: CmeshHome;
  let result: DemoResult;
  before(async () => {
    home = await CmeshHome.create({ clusterIds: [1, 2, 3] });
  });
  after(async () => {
    await home.destroy();
  });

  it('brings up the mesh and every cluster merges the global service backends of all three', async () => {
    const out = await home.ok(['demo', '-o', 'json'], { timeoutMs: 300_000 });
    result = JSON.parse(out) as DemoResult;
    assert.deepEqual(
      result.clusters.map((c) => c.name),
      ['cluster1', 'cluster2', 'cluster3'],
    );
    for (const view of result.backends) {
      const clusters = new Set(view.backends.map((b) => b.cluster));
      assert.deepEqual(
        [...clusters].sort(),
        ['cluster1', 'cluster2', 'cluster3'],
        `${view.cluster} merges every cluster`,
      );
      assert.equal(view.backends.length, 6, `${view.cluster}: 2 pods x 3 clusters`);
      const selected = view.backends.filter((b) => b.selected).map((b) => b.cluster);
      if (view.cluster === 'cluster1') {
        assert.ok(
          selected.length === 2 && selected.every((c) => c === 'cluster1'),
          'affinity local selects only local backends',
        );
      } else {
        assert.equal(selected.length, 6, `${view.cluster}: no affinity, every backend selected`);
      }
    }
  });

  it("every cluster's agents see the other clusters' endpoints in their ipcache", async () => {
    for (const c of result.clusters) {
      const list = JSON.parse(
        await home.ok(['bpf', 'ipcache', 'list', '--context', c.name, '-o', 'json']),
      ) as IpcacheEntry[];
      const remoteClusters = new Set(list.filter((e) => e.source === 'remote').map((e) => e.cluster));
      const others = result.clusters.filter((o) => o.name !== c.name).map((o) => o.name);
      for (const o of others)
        assert.ok(remoteClusters.has(o), `${c.name} has endpoints of ${o}: ${[...remoteClusters].join(',')}`);
    }
  });

  it('serves real requests: from a cluster2 pod, the global service answers from several clusters', async () => {
    const c2 = result.clusters.find((c) => c.name === 'cluster2')!;
    const pods = JSON.parse(await home.ok(['get', 'pods', '-n', 'demo', '--context', 'cluster2', '-o', 'json'])) as {
      items: { status?: { podIP?: string } }[];
    };
    const client = pods.items[0]?.status?.podIP;
    assert.ok(client, 'cluster2 has a pod IP to send from');
    const seen = new Set<string>();
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      const body = await eventually(
        () => httpGetFrom(client, c2.clusterIp, 80).catch((e: unknown) => String(e)),
        (b) => b.includes('cluster='),
        'an answer from the echo service',
        15_000,
      );
      const m = /cluster=(\S+)/.exec(body);
      if (m?.[1]) seen.add(m[1]);
    }
    assert.ok(seen.size >= 2, `requests landed in ${[...seen].join(',')}`);
  });

  it('cmesh connectivity test passes every check, failover included', async () => {
    const r = await home.run(
      [
        'connectivity',
        'test',
        '--multi-cluster',
        '--context',
        'cluster2',
        '--destination-context',
        'cluster3',
        '--include-failover',
        '-o',
        'json',
      ],
      { timeoutMs: 300_000 },
    );
    assert.equal(r.code, 0, `connectivity test failed:\n${r.stdout}\n${r.stderr}`);
    const report = JSON.parse(r.stdout) as { checks: { name: string; status: string }[] };
    const names = report.checks.map((c) => c.name);
    for (const n of [
      'pod-to-global-service',
      'affinity-local',
      'affinity-remote',
      'policy-allow',
      'policy-deny',
      'failover',
    ]) {
      assert.ok(names.includes(n), `check ${n} ran: ${names.join(',')}`);
    }
    assert.ok(
      report.checks.every((c) => c.status === 'pass'),
      JSON.stringify(report.checks),
    );
  });

  it('demo down removes every cluster, process and port', async () => {
    const inspect = await Promise.all(
      result.clusters.map(
        async (c) =>
          JSON.parse(await home.ok(['cluster', 'inspect', c.name, '-o', 'json'])) as {
            processes: { pid: number | null }[];
            record: string;
          },
      ),
    );
    const pids = inspect.flatMap((i) => i.processes.map((p) => p.pid).filter((p): p is number => p !== null));
    const ports: number[] = [];
    for (const c of result.clusters) {
      const rec = JSON.parse(await home.ok(['cluster', 'inspect', c.name, '-o', 'json'])) as {
        stateEtcd: { endpoints: string[] };
      };
      ports.push(Number(new URL(rec.stateEtcd.endpoints[0]!).port));
    }
    await home.ok(['demo', 'down'], { timeoutMs: 120_000 });
    for (const pid of pids) assert.equal(isAlive(pid), false, `pid ${pid} survived demo down`);
    assert.deepEqual(leftovers(home.dir), []);
    for (const p of ports) assert.equal(await portOpen(p), false, `port ${p} still open`);
    const list = JSON.parse(await home.ok(['cluster', 'list', '-o', 'json'])) as unknown[];
    assert.deepEqual(list, []);
  });
});
