import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CmeshHome, CMESH_ENTRY, eventually, isAlive, leftovers } from './helpers.js';

interface Inspect {
  clustermeshEtcd: { endpoints: string[] } | null;
  stateEtcd: { endpoints: string[] };
  folders: { cluster: string };
  processes: { role: string; running: boolean }[];
}

function sh(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout: 180_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? 1 : 0, stdout, stderr });
    });
  });
}

describe('a new user with one local cluster (real etcd, real daemons)', () => {
  let home: CmeshHome;
  before(async () => {
    home = await CmeshHome.create({ clusterIds: [7] });
  });
  after(async () => {
    await home.destroy();
  });

  it('runs examples/single-cluster.sh and sees every expected key with etcdctl', async () => {
    const r = await sh('bash', [path.resolve('examples/single-cluster.sh'), 'east', '7'], {
      ...home.env,
      CMESH: `${process.execPath} ${CMESH_ENTRY}`,
    });
    assert.equal(r.code, 0, `script failed:\n${r.stderr}\n${r.stdout}`);
    const keys = r.stdout.split('\n');
    const has = (re: RegExp): string[] => keys.filter((k) => re.test(k));
    assert.equal(has(/^cilium\/state\/ip\/v1\/default\/10\.7\.\d+\.\d+$/).length, 3, r.stdout);
    assert.equal(has(/^cilium\/state\/nodes\/v1\/east\/east-node-[12]$/).length, 2, r.stdout);
    assert.deepEqual(has(/^cilium\/state\/services\/v1\//), ['cilium/state/services/v1/east/shop/web']);
    // Three pods with the same security labels (pod-template-hash is not one) share one identity in cluster 7's range.
    const ids = has(/^cilium\/state\/identities\/v1\/id\//).map((k) => Number(k.split('/').pop()));
    assert.equal(ids.length, 1, r.stdout);
    assert.ok(ids[0]! >= 7 << 16 && ids[0]! < 8 << 16, `identity ${ids[0]} outside cluster 7's range`);
    for (const res of ['nodes', 'services', 'identities', 'ip'])
      assert.ok(keys.includes(`cilium/synced/east/cilium/state/${res}/v1`), res);
    assert.ok(keys.includes('cilium/cluster-config/east'));
    assert.ok(keys.includes('cilium/.heartbeat'));
  });

  it('publishes the global service with the three pod backends, and follows a pod deletion', async () => {
    const info = JSON.parse(await home.ok(['cluster', 'inspect', 'east', '-o', 'json'])) as Inspect;
    assert.ok(
      info.processes.every((p) => p.running),
      JSON.stringify(info.processes),
    );
    const svc = async (): Promise<{ backends: Record<string, unknown> }> => {
      const out = JSON.parse(
        await home.ok(['kvstore', 'get', '--context', 'east', 'cilium/state/services/v1/east/shop/web', '-o', 'json']),
      ) as {
        value: string;
      }[];
      return JSON.parse(out[0]!.value) as { backends: Record<string, unknown> };
    };
    await eventually(svc, (s) => Object.keys(s.backends).length === 3, 'three backends');
    const before = Object.keys((await svc()).backends);
    await home.ok(['delete', 'pod', 'web-2', '-n', 'shop', '--context', 'east']);
    const afterDelete = await eventually(
      svc,
      (s) => Object.keys(s.backends).length === 2,
      'two backends after the delete',
    );
    assert.ok(Object.keys(afterDelete.backends).every((ip) => before.includes(ip)));
    const ipKeys = JSON.parse(
      await home.ok(['kvstore', 'get', '--context', 'east', '--recursive', 'cilium/state/ip/v1/', '-o', 'json']),
    ) as unknown[];
    assert.equal(ipKeys.length, 2);
  });

  it('refuses bad clusters with a clear message and changes nothing', async () => {
    const cases: [string[], RegExp][] = [
      [['cluster', 'create', 'east', '--id', '9'], /already exists/],
      [['cluster', 'create', 'west', '--id', '7'], /cluster ID 7 is already used by local cluster "east"/],
      [
        ['cluster', 'create', 'west', '--id', '9', '--pod-cidr', '127.7.64.0/18'],
        /the pod CIDR 127\.7\.64\.0\/18 of new cluster "west" and the pod CIDR 10\.7\.0\.0\/17 \(served on 127\.7\.0\.0\/17\) of local cluster "east" map onto the same loopback addresses/,
      ],
      [['cluster', 'create', 'West_1', '--id', '9'], /cluster name/i],
      [['cluster', 'create', 'west', '--id', '0'], /cluster ID/i],
      [['cluster', 'create', 'west', '--id', '256'], /cluster ID/i],
      [['cluster', 'create', 'west', '--id', '512', '--max-connected-clusters', '511'], /cluster ID/i],
      [
        ['cluster', 'create', 'west', '--id', '9', '--pod-cidr', '10.9.0.1/16'],
        /host bits are set; did you mean 10\.9\.0\.0\/16/,
      ],
    ];
    for (const [args, re] of cases) {
      const r = await home.run(args);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, re, args.join(' '));
    }
    const list = JSON.parse(await home.ok(['cluster', 'list', '-o', 'json'])) as { name: string }[];
    assert.deepEqual(
      list.map((c) => c.name),
      ['east'],
    );
  });

  it('refuses a manifest with one bad document, naming it, and applies nothing', async () => {
    const manifest = [
      'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: cart',
      'apiVersion: v1\nkind: Service\nmetadata:\n  name: cart\n  namespace: cart\nspec:\n  ports:\n    - port: 70000',
    ].join('\n---\n');
    const r = await home.run(['apply', '--context', 'east', '-f', '-'], { input: manifest });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /document 2/);
    assert.match(r.stderr, /port/);
    const ns = await home.run(['get', 'ns', 'cart', '--context', 'east']);
    assert.notEqual(ns.code, 0, 'the namespace of the same file must not have been created');
  });

  it('deletes the cluster leaving no process behind', async () => {
    const pids = await home.pids();
    assert.ok(
      pids.length >= 6,
      `expected state etcd, operator, 2 agents, clustermesh etcd, apiserver; got ${pids.length}`,
    );
    await home.ok(['cluster', 'delete', 'east']);
    for (const pid of pids) assert.equal(isAlive(pid), false, `pid ${pid} survived the delete`);
    assert.deepEqual(leftovers(home.dir), []);
  });
});
