/** The pure parts of `cmesh policy trace` and `cmesh connectivity test`: combining traces, reports, sample objects. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PolicyEngine, ipcachePodLocator, tracePolicy } from '../../src/agent/policy/index.js';
import type { IpcacheEntry } from '../../src/agent/tables/ipcache.js';
import { allowClientPolicy, describeTally, formatReport, sampleObjects, tally } from '../../src/mesh/connectivity.js';
import { combineTraces, formatTrace } from '../../src/cli/policy-command.js';
import { validateObject } from '../../src/k8s/schemas.js';

const ID = { client: 65537, other: 65538, echo: 131073 };

function labels(cluster: string, app: string): string[] {
  return [`k8s:app=${app}`, 'k8s:io.kubernetes.pod.namespace=test', `k8s:io.cilium.k8s.policy.cluster=${cluster}`];
}

function entry(ip: string, identity: number, cluster: string, pod: string): IpcacheEntry {
  return {
    prefix: `${ip}/32`,
    identity,
    hostIP: '',
    encryptKey: 0,
    cluster,
    clusterID: cluster === 'c1' ? 1 : 2,
    namespace: 'test',
    pod,
    source: cluster === 'c1' ? 'local' : 'remote',
  };
}

describe('policy trace across clusters', () => {
  const c1 = new PolicyEngine({ clusterName: 'c1' });
  const c2 = new PolicyEngine({ clusterName: 'c2' });
  for (const e of [c1, c2]) {
    e.upsertIdentity(ID.client, labels('c1', 'client'));
    e.upsertIdentity(ID.other, labels('c1', 'other'));
    e.upsertIdentity(ID.echo, labels('c2', 'echo'));
  }
  c1.upsertEndpoint({ id: 'test/client', namespace: 'test', identity: ID.client, labels: labels('c1', 'client') });
  c1.upsertEndpoint({ id: 'test/other', namespace: 'test', identity: ID.other, labels: labels('c1', 'other') });
  c2.upsertEndpoint({ id: 'test/echo', namespace: 'test', identity: ID.echo, labels: labels('c2', 'echo') });
  c2.upsertPolicy({
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumNetworkPolicy',
    metadata: { name: 'echo-in', namespace: 'test' },
    spec: {
      endpointSelector: { matchLabels: { app: 'echo' } },
      ingress: [{ fromEndpoints: [{ matchLabels: { app: 'client', 'io.cilium.k8s.policy.cluster': 'c1' } }] }],
    },
  });
  const ipc1 = [
    entry('10.1.0.10', ID.client, 'c1', 'client'),
    entry('10.1.0.11', ID.other, 'c1', 'other'),
    entry('10.2.0.20', ID.echo, 'c2', 'echo'),
  ];
  const ipc2 = ipc1.map((e) => ({ ...e, source: e.cluster === 'c2' ? ('local' as const) : ('remote' as const) }));
  const loc1 = ipcachePodLocator({ list: () => ipc1 });
  const loc2 = ipcachePodLocator({ list: () => ipc2 });

  function across(src: string) {
    const local = tracePolicy(c1, loc1, { srcPod: `test/${src}`, dstPod: 'c2/test/echo', dport: '8080/TCP' });
    const remote = tracePolicy(c2, loc2, {
      srcIdentity: local.src.identity,
      srcIp: local.src.ip!,
      dstPod: 'test/echo',
      dport: '8080/TCP',
    });
    return { local, combined: combineTraces(local, 'c1', { cluster: 'c2', trace: remote }) };
  }

  it('takes the ingress step from the destination cluster and decides on both', () => {
    const { local, combined } = across('client');
    assert.equal(local.complete, false);
    assert.equal(combined.complete, true);
    assert.equal(combined.allowed, true);
    assert.deepEqual(combined.evaluatedBy, ['c1', 'c2']);
    assert.match(
      formatTrace(combined),
      /INGRESS \[cluster c2\]\n {2}ingress of .*ALLOWED by CiliumNetworkPolicy test\/echo-in/,
    );
    assert.match(formatTrace(combined), /Final verdict: ALLOWED$/);

    const denied = across('other').combined;
    assert.equal(denied.allowed, false);
    assert.match(formatTrace(denied), /DENIED by default: CiliumNetworkPolicy test\/echo-in selects the endpoint/);
    assert.match(formatTrace(denied), /Final verdict: DENIED$/);
  });

  it('says when the ingress step could not be evaluated', () => {
    const { local } = across('other');
    const alone = combineTraces(local, 'c1');
    alone.notes.push('cannot ask cluster c2');
    const text = formatTrace(alone);
    assert.equal(alone.allowed, true);
    assert.match(text, /INGRESS \[not evaluated\]/);
    assert.match(text, /Note: cannot ask cluster c2/);
    assert.match(text, /Final verdict: ALLOWED \(incomplete/);
  });
});

describe('connectivity test pieces', () => {
  it('builds valid sample objects and policy', () => {
    for (const o of [...sampleObjects('source', 'c1'), ...sampleObjects('destination', 'c2'), allowClientPolicy('c1')])
      assert.doesNotThrow(() => validateObject(o), `${o.kind} ${o.metadata.name}`);
    assert.deepEqual(
      sampleObjects('source', 'c1').map((o) => `${o.kind}/${o.metadata.name}`),
      ['Namespace/cmesh-connectivity', 'Pod/echo-c1', 'Service/echo', 'Pod/client', 'Pod/client-denied'],
    );
  });

  it('tallies answers per cluster and reports checks', () => {
    const t = tally([
      { ok: true, cluster: 'c1' },
      { ok: true, cluster: 'c2' },
      { ok: true, cluster: 'c2' },
      { ok: false, error: 'ECONNRESET' },
    ]);
    assert.deepEqual(t, { total: 4, failed: 1, byCluster: { c1: 1, c2: 2 }, errors: { ECONNRESET: 1 } });
    assert.equal(describeTally(t), '4 requests: c1=1, c2=2; failed 1 (ECONNRESET=1)');
    const text = formatReport({
      source: 'c1',
      destination: 'c2',
      passed: false,
      checks: [
        { name: 'pod-to-global-service', status: 'pass', detail: 'x' },
        { name: 'policy-deny', status: 'fail', detail: 'y' },
        { name: 'failover', status: 'skip', detail: 'z' },
      ],
    });
    assert.match(text, /^Connectivity test: c1 -> c2/);
    assert.match(text, /\[ok\] {3}pod-to-global-service: x\n\[FAIL\] policy-deny: y\n\[skip\] failover: z/);
    assert.match(text, /1 passed, 1 failed, 1 skipped: FAILED$/);
  });
});
