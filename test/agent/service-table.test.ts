import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ServiceTable } from '../../src/agent/tables/service-table.js';
import type { MergedService } from '../../src/agent/tables/service-merger.js';
import { clusterService, service, slice, type SvcOpts } from './fixtures.js';

const LOCAL = 'c1';
const FRONTEND = '10.96.0.10:80/TCP';

function newTable(onChange?: (ref: string, svc: MergedService | undefined) => void): ServiceTable {
  return new ServiceTable({ clusterName: LOCAL, clusterId: 1, ...(onChange ? { onChange } : {}) });
}

/** The backends of one frontend as `cluster/ip:port state +|-` (+ = selected), sorted. */
function backends(t: ServiceTable, frontend = FRONTEND, name = 'echo'): string[] | undefined {
  const fe = t.get('test', name)?.frontends.find((f) => f.frontend === frontend);
  if (!fe) return undefined;
  return fe.backends.map((b) => `${b.cluster}/${b.address}:${b.port} ${b.state} ${b.selected ? '+' : '-'}`).sort();
}

type Step = (t: ServiceTable) => void;

const localSvc =
  (o: SvcOpts = { global: true }): Step =>
  (t) => {
    t.upsertLocalService(service('echo', o));
  };
const localBackends =
  (...ips: string[]): Step =>
  (t) => {
    t.upsertEndpointSlice(slice('echo-a', 'echo', ips));
  };
const noLocalBackends: Step = (t) => {
  t.deleteEndpointSlice('test', 'echo-a');
};
const remote =
  (cluster: string, id: number, ips: string[], shared = true): Step =>
  (t) => {
    t.upsertRemoteService(cluster, clusterService(cluster, id, 'echo', ips, { shared }));
  };
const remoteGone =
  (cluster: string): Step =>
  (t) => {
    t.deleteRemoteService(cluster, 'test', 'echo');
  };
const reachable =
  (cluster: string, r: boolean): Step =>
  (t) => {
    t.setReachable(cluster, r);
  };

interface Case {
  name: string;
  /** Each step, then the expected backends of the frontend after it. */
  steps: [Step, string[] | undefined][];
}

const L1 = 'c1/10.1.0.5:8080 active';
const L2 = 'c1/10.1.0.6:8080 active';
const R2 = 'c2/10.2.0.5:9090 active';
const R2u = 'c2/10.2.0.5:9090 unreachable -';
const R3 = 'c3/10.3.0.5:9090 active';

const cases: Case[] = [
  {
    name: 'affinity none: every active backend is selected',
    steps: [
      [localSvc(), []],
      [localBackends('10.1.0.5'), [`${L1} +`]],
      [remote('c2', 2, ['10.2.0.5']), [`${L1} +`, `${R2} +`]],
      [remote('c3', 3, ['10.3.0.5']), [`${L1} +`, `${R2} +`, `${R3} +`]],
    ],
  },
  {
    name: 'affinity local: remote backends only while no local backend is active',
    steps: [
      [localSvc({ global: true, affinity: 'local' }), []],
      [remote('c2', 2, ['10.2.0.5']), [`${R2} +`]],
      [localBackends('10.1.0.5'), [`${L1} +`, `${R2} -`]],
      [localBackends('10.1.0.5', '10.1.0.6'), [`${L1} +`, `${L2} +`, `${R2} -`]],
      [noLocalBackends, [`${R2} +`]],
      [localBackends('10.1.0.6'), [`${L2} +`, `${R2} -`]],
    ],
  },
  {
    name: 'affinity remote: local backends only while no remote backend is healthy',
    steps: [
      [localSvc({ global: true, affinity: 'remote' }), []],
      [localBackends('10.1.0.5'), [`${L1} +`]],
      [remote('c2', 2, ['10.2.0.5']), [`${L1} -`, `${R2} +`]],
      [reachable('c2', false), [`${L1} +`, R2u]],
      [reachable('c2', true), [`${L1} -`, `${R2} +`]],
      [remoteGone('c2'), [`${L1} +`]],
    ],
  },
  {
    name: 'affinity switched at run time',
    steps: [
      [localBackends('10.1.0.5'), undefined],
      [remote('c2', 2, ['10.2.0.5']), undefined],
      [localSvc({ global: true, affinity: 'local' }), [`${L1} +`, `${R2} -`]],
      [localSvc({ global: true, affinity: 'remote' }), [`${L1} -`, `${R2} +`]],
      [localSvc({ global: true, affinity: 'none' }), [`${L1} +`, `${R2} +`]],
      [localSvc({ global: true }), [`${L1} +`, `${R2} +`]],
      [localSvc({ global: true, affinity: 'local', legacy: true }), [`${L1} +`, `${R2} -`]],
      [localSvc({ global: true, affinity: 'bogus' }), [`${L1} +`, `${R2} +`]],
    ],
  },
  {
    name: 'remote service deleted and re-added',
    steps: [
      [localSvc(), []],
      [localBackends('10.1.0.5'), [`${L1} +`]],
      [remote('c2', 2, ['10.2.0.5']), [`${L1} +`, `${R2} +`]],
      [remoteGone('c2'), [`${L1} +`]],
      [remote('c2', 2, ['10.2.0.5']), [`${L1} +`, `${R2} +`]],
      [remote('c2', 2, []), [`${L1} +`]],
    ],
  },
  {
    name: 'a remote with shared=false contributes nothing',
    steps: [
      [localSvc(), []],
      [localBackends('10.1.0.5'), [`${L1} +`]],
      [remote('c2', 2, ['10.2.0.5'], false), [`${L1} +`]],
      [remote('c2', 2, ['10.2.0.5'], true), [`${L1} +`, `${R2} +`]],
      [remote('c2', 2, ['10.2.0.5'], false), [`${L1} +`]],
    ],
  },
  {
    name: 'unreachable remote: backends kept but not selected, local ones take over',
    steps: [
      [localSvc(), []],
      [remote('c2', 2, ['10.2.0.5']), [`${R2} +`]],
      [remote('c3', 3, ['10.3.0.5']), [`${R2} +`, `${R3} +`]],
      [reachable('c2', false), [R2u, `${R3} +`]],
      [reachable('c3', false), [R2u, 'c3/10.3.0.5:9090 unreachable -']],
      [localBackends('10.1.0.5'), [`${L1} +`, R2u, 'c3/10.3.0.5:9090 unreachable -']],
      [reachable('c2', true), [`${L1} +`, `${R2} +`, 'c3/10.3.0.5:9090 unreachable -']],
    ],
  },
  {
    name: 'unreachable remote with affinity local keeps local selection',
    steps: [
      [localSvc({ global: true, affinity: 'local' }), []],
      [remote('c2', 2, ['10.2.0.5']), [`${R2} +`]],
      [reachable('c2', false), [R2u]],
      [localBackends('10.1.0.5'), [`${L1} +`, R2u]],
    ],
  },
  {
    name: 'a non-global local service ignores remotes',
    steps: [
      [localSvc({}), []],
      [localBackends('10.1.0.5'), [`${L1} +`]],
      [remote('c2', 2, ['10.2.0.5']), [`${L1} +`]],
      [localSvc({ global: true }), [`${L1} +`, `${R2} +`]],
      [localSvc({}), [`${L1} +`]],
    ],
  },
  {
    name: 'remote first, then the local service; deleting the local service removes it',
    steps: [
      [remote('c2', 2, ['10.2.0.5']), undefined],
      [localSvc(), [`${R2} +`]],
      [
        (t) => {
          t.deleteLocalService('test', 'echo');
        },
        undefined,
      ],
      [localSvc(), [`${R2} +`]],
    ],
  },
];

describe('ServiceTable merge', () => {
  for (const c of cases) {
    it(c.name, () => {
      const t = newTable();
      c.steps.forEach(([step, want], i) => {
        step(t);
        assert.deepEqual(backends(t), want, `after step ${i + 1}`);
      });
    });
  }

  it('maps backend ports by the service port name and tags clusters', () => {
    const t = newTable();
    t.upsertLocalService(
      service('echo', {
        global: true,
        ports: [
          { name: 'http', port: 80 },
          { name: 'metrics', port: 9100 },
        ],
      }),
    );
    t.upsertEndpointSlice(
      slice(
        'echo-a',
        'echo',
        ['10.1.0.5'],
        [
          { name: 'http', port: 8080 },
          { name: 'metrics', port: 9101 },
        ],
      ),
    );
    t.upsertRemoteService(
      'c2',
      clusterService('c2', 2, 'echo', ['10.2.0.5'], { ports: { http: { Protocol: 'TCP', Port: 9090 } } }),
    );
    assert.deepEqual(backends(t, '10.96.0.10:80/TCP'), [`${L1} +`, `${R2} +`]);
    // The remote has no "metrics" port: it is not a backend of that frontend.
    assert.deepEqual(backends(t, '10.96.0.10:9100/TCP'), ['c1/10.1.0.5:9101 active +']);
    const b = t.get('test', 'echo')?.frontends[0]?.backends.find((x) => x.cluster === 'c2');
    assert.equal(b?.clusterID, 2);
    assert.equal(t.get('test', 'echo')?.frontends[0]?.backends[0]?.clusterID, 1);
  });

  it('follows an EndpointSlice that moves to another service', () => {
    const t = newTable();
    t.upsertLocalService(service('echo', { global: true }));
    t.upsertLocalService(service('other', { clusterIP: '10.96.0.11' }));
    t.upsertEndpointSlice(slice('s1', 'echo', ['10.1.0.5']));
    assert.deepEqual(backends(t), [`${L1} +`]);
    t.upsertEndpointSlice(slice('s1', 'other', ['10.1.0.5']));
    assert.deepEqual(backends(t), []);
    assert.deepEqual(backends(t, '10.96.0.11:80/TCP', 'other'), [`${L1} +`]);
  });

  it('recomputes only the service a change names', () => {
    const changed: string[] = [];
    const t = newTable((ref) => changed.push(ref));
    t.upsertLocalService(service('echo', { global: true }));
    t.upsertLocalService(service('web', { global: true, clusterIP: '10.96.0.12' }));
    t.upsertRemoteService('c2', clusterService('c2', 2, 'web', ['10.2.0.9']));
    changed.length = 0;
    t.upsertRemoteService('c2', clusterService('c2', 2, 'echo', ['10.2.0.5']));
    t.upsertEndpointSlice(slice('echo-a', 'echo', ['10.1.0.5']));
    assert.deepEqual(changed, ['test/echo', 'test/echo']);
    changed.length = 0;
    t.setReachable('c3', false);
    assert.deepEqual(changed, []);
    t.setReachable('c2', false);
    assert.deepEqual(changed.sort(), ['test/echo', 'test/web']);
  });

  it('counts global services the way Cilium does: those some remote shares', () => {
    const t = newTable();
    t.upsertRemoteService('c2', clusterService('c2', 2, 'echo', ['10.2.0.5']));
    t.upsertRemoteService('c3', clusterService('c3', 3, 'echo', ['10.3.0.5']));
    t.upsertRemoteService('c3', clusterService('c3', 3, 'web', ['10.3.0.6'], { shared: false }));
    assert.equal(t.globalServiceCount(), 1);
    assert.equal(t.sharedServiceCount('c3'), 1);
    t.deleteRemoteService('c2', 'test', 'echo');
    t.deleteRemoteService('c3', 'test', 'echo');
    assert.equal(t.globalServiceCount(), 0);
  });
});
