/**
 * What a user sees when something is wrong: every failing command exits non-zero with a message that names what
 * is wrong and what to run, nothing changes, and no internals (gRPC status codes, stack traces) leak. Also the
 * lifecycle cases around deletion: a connected cluster is disconnected from its peers first, and a peer whose
 * cluster is gone can still be disconnected.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TUNNEL_PORT } from '../../src/agent/datapath/tunnel.js';
import { CmeshHome, type CmeshResult } from './helpers.js';

interface ClusterRow {
  name: string;
  state: string;
  podCidr: string;
  serviceCidr: string;
}

interface Status {
  ready: boolean;
  remotes: { cluster: string }[];
  configured: string[];
}

/** No internals in what a person reads. */
function assertClean(r: CmeshResult, what: string): void {
  assert.doesNotMatch(r.stderr, /\d+ [A-Z_]+:|UNAVAILABLE|\n\s+at /, `${what}: internals leaked:\n${r.stderr}`);
}

function assertFails(r: CmeshResult, re: RegExp, what: string): void {
  assert.notEqual(r.code, 0, `${what} must fail:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, re, what);
  assertClean(r, what);
}

describe('cmesh CLI: errors, exit codes and deletion (real clusters)', () => {
  let home: CmeshHome;
  const list = async (): Promise<ClusterRow[]> =>
    JSON.parse(await home.ok(['cluster', 'list', '-o', 'json'])) as ClusterRow[];

  before(async () => {
    home = await CmeshHome.create({ clusterIds: [41, 42, 43] });
    await home.ok(['cluster', 'create', 'east', '--id', '41', '--nodes', '1']);
    await home.ok(['cluster', 'create', 'west', '--id', '42', '--nodes', '1']);
  });
  after(async () => {
    await home.destroy();
  });

  it('gives clusters created with defaults distinct CIDRs: pods in 10/8, loopback services', async () => {
    const rows = await list();
    assert.deepEqual(
      rows.map((r) => [r.name, r.podCidr, r.serviceCidr, r.state]),
      [
        ['east', '10.41.0.0/17', '127.41.128.0/17', 'running'],
        ['west', '10.42.0.0/17', '127.42.128.0/17', 'running'],
      ],
    );
  });

  it('refuses overlapping CIDRs given by hand, naming both clusters and both ranges, and creates nothing', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['cluster', 'create', 'north', '--id', '43', '--pod-cidr', '10.41.64.0/18'],
        /pod CIDR 10\.41\.64\.0\/18 of new cluster "north" overlaps the pod CIDR 10\.41\.0\.0\/17 of local cluster "east"/,
      ],
      [
        // No overlap as addresses, but the same loopback addresses as east's pods.
        ['cluster', 'create', 'north', '--id', '43', '--pod-cidr', '127.41.0.0/18'],
        /the pod CIDR 127\.41\.0\.0\/18 of new cluster "north" and the pod CIDR 10\.41\.0\.0\/17 \(served on 127\.41\.0\.0\/17\) of local cluster "east" map onto the same loopback addresses.*--pod-cidr/,
      ],
      [
        ['cluster', 'create', 'north', '--id', '43', '--service-cidr', '127.42.0.0/18'],
        /the service CIDR 127\.42\.0\.0\/18 of new cluster "north" and the pod CIDR 10\.42\.0\.0\/17 \(served on 127\.42\.0\.0\/17\) of local cluster "west" map onto the same loopback addresses.*--service-cidr/,
      ],
      [
        ['cluster', 'create', 'north', '--id', '43', '--pod-cidr', '127.41.128.0/18'],
        /overlaps the service CIDR 127\.41\.128\.0\/17 of local cluster "east"/,
      ],
      [
        ['cluster', 'create', 'north', '--id', '43', '--pod-cidr', '192.168.0.0/16'],
        /--pod-cidr 192\.168\.0\.0\/16 has no loopback addresses to serve pods on.*--nodes 0/,
      ],
      [
        ['cluster', 'create', 'north', '--id', '43', '--nodes', '65'],
        /--nodes must be an integer from 0 .* to 64, got 65/,
      ],
      [
        ['cluster', 'create', 'north', '--id', '300', '--max-connected-clusters', '511'],
        /cluster ID 300 has no default pod-cidr.*pass --pod-cidr/,
      ],
    ];
    for (const [args, re] of cases) assertFails(await home.run(args), re, args.join(' '));
    assert.deepEqual(
      (await list()).map((r) => r.name),
      ['east', 'west'],
    );
    assert.equal(existsSync(path.join(home.dir, 'clusters', 'north')), false, 'no folder for the refused cluster');
  });

  it('refuses an object too large for etcd, naming it, and applies nothing of the file', async () => {
    const manifest = [
      'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: small',
      `apiVersion: v1\nkind: Service\nmetadata:\n  name: big\n  namespace: default\n  annotations:\n    a: ${'x'.repeat(2_000_000)}\nspec:\n  ports:\n    - port: 80`,
    ].join('\n---\n');
    const r = await home.run(['apply', '--context', 'east', '-f', '-'], { input: manifest });
    assertFails(
      r,
      /document 2 .*Service default\/big .*MiB; an object may be at most 1\.5 MiB/,
      'apply of a 2 MB object',
    );
    assert.notEqual((await home.run(['get', 'ns', 'small', '--context', 'east'])).code, 0, 'nothing applied');
  });

  it('refuses default ranges that another process on this machine already serves', async () => {
    // What a cluster of another CMESH_HOME with the same ID would hold: the loopback address of the first node's
    // router IP (10.43.0.1), where its tunnel listens.
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen({ host: '127.43.0.1', port: TUNNEL_PORT }, resolve));
    try {
      assertFails(
        await home.run(['cluster', 'create', 'north', '--id', '43', '--nodes', '1']),
        /pod CIDR 10\.43\.0\.0\/17 is already in use on this machine \(127\.43\.0\.1:\d+ is taken/,
        'a taken loopback range',
      );
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
    assert.equal(existsSync(path.join(home.dir, 'clusters', 'north')), false, 'nothing created');
  });

  it('clustermesh status of a cluster without ClusterMesh says so and exits 1, never "ready"', async () => {
    const r = await home.run(['clustermesh', 'status', '--context', 'east']);
    assertFails(r, /^$/, 'status of a cluster without clustermesh');
    assert.match(r.stdout, /ClusterMesh is not enabled on cluster "east".*cmesh clustermesh enable --context east/);
    assert.doesNotMatch(r.stdout, /is ready/);
  });

  it('validates every cluster name before acting on any', async () => {
    for (const verb of ['delete', 'stop', 'start']) {
      assertFails(
        await home.run(['cluster', verb, 'east', 'nope']),
        /no local cluster named "nope".*nothing was changed/,
        `cluster ${verb} east nope`,
      );
    }
    const rows = await list();
    assert.deepEqual(
      rows.map((r) => [r.name, r.state]),
      [
        ['east', 'running'],
        ['west', 'running'],
      ],
    );
  });

  it('reports a stopped cluster as stopped, with the command that starts it, in every command', async () => {
    await home.ok(['cluster', 'stop', 'west']);
    const rows = await list();
    assert.equal(rows.find((r) => r.name === 'west')?.state, 'stopped');
    assert.match(await home.ok(['cluster', 'list']), /west .*stopped/);
    const stopped = /cluster "west" is stopped; start it with `cmesh cluster start west`/;
    for (const args of [
      ['service', 'list', '--context', 'west'],
      ['bpf', 'ipcache', 'list', '--context', 'west'],
      ['get', 'pods', '--context', 'west'],
      ['kvstore', 'get', '--state', '--recursive', '/registry', '--context', 'west'],
      ['clustermesh', 'enable', '--context', 'west'],
      ['connectivity', 'test', '--multi-cluster', '--context', 'east', '--destination-context', 'west'],
    ]) {
      assertFails(await home.run(args), stopped, args.join(' '));
    }
    const inspect = JSON.parse(await home.ok(['cluster', 'inspect', 'west', '-o', 'json'])) as {
      state: string;
      processes: { role: string; running: boolean }[];
    };
    assert.equal(inspect.state, 'stopped');
    assert.ok(inspect.processes.length >= 3, 'a stopped cluster still lists its processes, stopped');
    assert.ok(
      inspect.processes.every((p) => !p.running),
      'every process stopped',
    );
    assert.equal((await list()).length, 2, 'nothing was removed');
    await home.ok(['cluster', 'start', 'west']);
    assert.equal((await list()).find((r) => r.name === 'west')?.state, 'running');
  });

  it('deletes a connected cluster after disconnecting it from its peers, whose status is then clean', async () => {
    await home.ok(['clustermesh', 'enable', '--context', 'east']);
    await home.ok(['clustermesh', 'enable', '--context', 'west']);
    await home.ok(['clustermesh', 'connect', '--context', 'east', '--destination-context', 'west']);
    await home.ok(['clustermesh', 'status', '--context', 'east', '--wait', '--timeout', '2m']);
    await home.ok(['cluster', 'stop', 'west']);
    const diag = await home.run(['troubleshoot', 'clustermesh', '--context', 'east']);
    assert.notEqual(diag.code, 0, 'troubleshoot finds the problem');
    assert.match(
      diag.stdout,
      /hint: "west" is a local cluster and it is stopped: start it with `cmesh cluster start west`/,
    );
    const del = await home.ok(['cluster', 'delete', 'west']);
    assert.match(del, /cluster "west" deleted \(disconnected from east first\)/);
    const status = JSON.parse(await home.ok(['clustermesh', 'status', '--context', 'east', '-o', 'json'])) as Status;
    assert.deepEqual(status.configured, [], 'east no longer reads west');
    assert.deepEqual(
      status.remotes.map((r) => r.cluster),
      [],
    );
    assert.equal(status.ready, true);
  });

  it('disconnects a peer whose cluster is gone', async () => {
    await home.ok(['cluster', 'create', 'north', '--id', '43', '--nodes', '1']);
    await home.ok(['clustermesh', 'enable', '--context', 'north']);
    await home.ok(['clustermesh', 'connect', '--context', 'east', '--destination-context', 'north']);
    // The cluster disappears without a clean delete (removed by hand, or by an older cmesh).
    await home.ok(['cluster', 'stop', 'north']);
    await rm(path.join(home.dir, 'clusters', 'north'), { recursive: true, force: true });
    const ghost = JSON.parse(
      await home.run(['clustermesh', 'status', '--context', 'east', '-o', 'json']).then((r) => r.stdout),
    ) as Status;
    assert.deepEqual(ghost.configured, ['north'], 'east still reads the ghost');
    assert.equal(ghost.ready, false);
    const out = await home.ok(['clustermesh', 'disconnect', '--context', 'east', '--destination-context', 'north']);
    assert.match(out, /disconnected clusters "east" and "north"/);
    const status = JSON.parse(await home.ok(['clustermesh', 'status', '--context', 'east', '-o', 'json'])) as Status;
    assert.deepEqual(status.configured, []);
    assertFails(
      await home.run(['clustermesh', 'disconnect', '--context', 'east', '--destination-context', 'north']),
      /clusters "east" and "north" are not connected/,
      'a second disconnect',
    );
  });
});
