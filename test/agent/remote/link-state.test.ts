/**
 * The remote cluster link as one state machine: a real remote etcd drives one link through every state (connect,
 * sync, lose etcd by killing it, come back, remove), and the state sequence and its metric are checked.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { RemoteCluster } from '../../../src/agent/remote/remote-cluster.js';
import {
  IllegalLinkTransitionError,
  LINK_TRANSITIONS,
  LinkStateMachine,
  type RemoteClusterMeshView,
  type RemoteLinkState,
} from '../../../src/kvstore/remote/index.js';
import { registry } from '../../../src/observe/metrics.js';
import { ConfigDir, FAST, FakeRemote, RecordingSink, waitFor } from './helpers.js';

const TRANSITIONS_METRIC = 'cilium_clustermesh_remote_cluster_state_transitions_total';

/** A mesh of one remote: nothing else claims cluster IDs. */
const MESH: RemoteClusterMeshView = {
  localClusterName: 'c1',
  localClusterId: 1,
  localMaxConnectedClusters: 255,
  otherRemoteIds: () => new Map(),
  claimClusterId: () => undefined,
  releaseClusterId: () => undefined,
};

/** Collapses the retries while etcd is away (unreachable -> connecting -> unreachable ...) into one round. */
function collapseRetries(seq: readonly string[]): string[] {
  const retry = (t: string | undefined): boolean => t === 'unreachable->connecting' || t === 'connecting->unreachable';
  const out: string[] = [];
  for (const t of seq) {
    out.push(t);
    const n = out.length;
    if (n >= 4 && retry(out[n - 1]) && retry(out[n - 2]) && out[n - 1] === out[n - 3] && out[n - 2] === out[n - 4]) {
      out.splice(-2);
    }
  }
  return out;
}

describe('remote cluster link state machine', () => {
  const remotes: FakeRemote[] = [];
  const dirs: ConfigDir[] = [];
  const links: RemoteCluster[] = [];
  after(async () => {
    for (const l of links) await l.stop();
    for (const r of remotes) await r.stop();
    for (const d of dirs) await d.cleanup();
  });

  it('connect, sync, lose etcd, come back, remove: every transition in order, each counted', async () => {
    const remote = await FakeRemote.start('c2', 2);
    remotes.push(remote);
    await remote.populate();
    await remote.putAllCanaries();
    await remote.putConfig();
    await remote.heartbeat();
    const dir = await ConfigDir.create();
    dirs.push(dir);
    await dir.write('c2', remote.etcd.endpoint);

    const link = new RemoteCluster({
      name: 'c2',
      configFile: dir.file('c2'),
      mesh: MESH,
      sink: new RecordingSink(),
      tuning: FAST,
    });
    links.push(link);
    const seen: string[] = [];
    link.subscribe((from, to) => {
      seen.push(`${from}->${to}`);
    });
    assert.equal(link.linkState, 'connecting', 'a new link is connecting');

    link.start();
    await link.whenReady();
    assert.deepEqual(seen, ['connecting->syncing', 'syncing->ready']);

    await remote.etcd.kill();
    await waitFor(
      'the loss noticed',
      () => seen.includes('ready->unreachable'),
      () => seen,
    );
    await waitFor(
      'a reconnection attempt failed',
      () => seen.includes('connecting->unreachable'),
      () => seen,
    );

    await remote.etcd.start();
    await waitFor(
      'ready again',
      () => link.linkState === 'ready',
      () => seen,
    );
    await link.remove();
    assert.equal(link.linkState, 'removed', 'removed at the end');

    assert.deepEqual(collapseRetries(seen), [
      'connecting->syncing',
      'syncing->ready',
      'ready->unreachable',
      'unreachable->connecting',
      'connecting->unreachable',
      'unreachable->connecting',
      'connecting->syncing',
      'syncing->ready',
      'ready->draining',
      'draining->removed',
    ]);
    for (const t of seen) {
      const [from, to] = t.split('->') as [RemoteLinkState, RemoteLinkState];
      assert.ok(LINK_TRANSITIONS[from].includes(to), `${t} is an allowed transition`);
    }

    // The counter holds one sample per (from, to), equal to the number of times the link made that transition.
    const metric = registry.getSingleMetric(TRANSITIONS_METRIC);
    assert.ok(metric, `${TRANSITIONS_METRIC} is registered`);
    const samples = (await metric.get()).values.filter((v) => v.labels.target_cluster === 'c2');
    const counted = new Map(samples.map((v) => [`${String(v.labels.from)}->${String(v.labels.to)}`, v.value]));
    const expected = new Map<string, number>();
    for (const t of seen) expected.set(t, (expected.get(t) ?? 0) + 1);
    assert.deepEqual(counted, expected);
  });

  it('rejects a transition the table does not allow, and ignores staying in a state', () => {
    const m = new LinkStateMachine();
    assert.throws(() => m.transition('ready', 'skipping sync'), IllegalLinkTransitionError);
    assert.equal(m.state, 'connecting');
    assert.equal(m.transition('connecting', 'again'), false, 'staying is not a transition');
    assert.equal(m.transition('draining', 'stop'), true);
    assert.equal(m.transition('removed', 'stopped'), true);
    assert.throws(() => m.transition('connecting', 'restart after removal'), IllegalLinkTransitionError);
  });
});
