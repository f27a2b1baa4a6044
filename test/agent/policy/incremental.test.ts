import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ClusterDirectory } from '../../../src/agent/tables/cluster-directory.js';
import { Ipcache } from '../../../src/agent/tables/ipcache.js';
import { ipcachePodLocator, tracePolicy, type PolicyEngine } from '../../../src/agent/policy/index.js';
import { cnp, ID, LOCAL, newEngine, podLabels, REMOTE, webIngress } from './fixtures.js';

function ingress(engine: PolicyEngine, peer: number): string {
  return engine.verdict({
    direction: 'ingress',
    endpoint: 'default/web',
    peerIdentity: peer,
    port: 80,
    protocol: 'TCP',
  }).reason.kind;
}

function dumpAll(engine: PolicyEngine): unknown {
  return engine.endpointIds().map((id) => engine.endpointPolicy(id));
}

const remoteClientsPolicy = cnp(
  'remote',
  webIngress([{ fromEndpoints: [{ matchLabels: { app: 'client', 'io.cilium.k8s.policy.cluster': REMOTE } }] }]),
);

describe('incremental policy maps', () => {
  it('a remote identity arriving updates the maps without rebuilding endpoints', () => {
    const engine = newEngine();
    engine.upsertPolicy(remoteClientsPolicy);
    const before = engine.stats();
    for (let i = 0; i < 500; i++) {
      engine.upsertIdentity(131200 + i, podLabels(REMOTE, 'default', { app: i % 2 ? 'client' : 'other' }));
    }
    const after = engine.stats();
    assert.equal(after.endpointRebuilds, before.endpointRebuilds);
    assert.equal(after.incrementalUpdates - before.incrementalUpdates, 250);
    assert.equal(ingress(engine, 131201), 'allow');
    assert.equal(ingress(engine, 131200), 'default-deny');
    engine.deleteIdentity(131201);
    assert.equal(ingress(engine, 131201), 'default-deny');
    assert.equal(engine.stats().endpointRebuilds, before.endpointRebuilds);
  });

  it('an identity whose labels change moves in and out of selectors', () => {
    const engine = newEngine();
    engine.upsertPolicy(remoteClientsPolicy);
    engine.upsertIdentity(131300, podLabels(REMOTE, 'default', { app: 'other' }));
    assert.equal(ingress(engine, 131300), 'default-deny');
    engine.upsertIdentity(131300, podLabels(REMOTE, 'default', { app: 'client' }));
    assert.equal(ingress(engine, 131300), 'allow');
    engine.upsertIdentity(131300, podLabels(REMOTE, 'default', { app: 'other' }));
    assert.equal(ingress(engine, 131300), 'default-deny');
  });

  it('incremental maps equal a full recompute after a mixed sequence of changes', () => {
    const engine = newEngine(false);
    let seed = 42;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const apps = ['client', 'web', 'db', 'other'];
    const policies = [
      remoteClientsPolicy,
      cnp(
        'a',
        webIngress([{ fromEndpoints: [{ matchLabels: { app: 'db' } }], toPorts: [{ ports: [{ port: '5432' }] }] }]),
      ),
      cnp('b', {
        endpointSelector: {},
        egress: [
          { toEndpoints: [{ matchExpressions: [{ key: 'app', operator: 'In', values: ['web', 'db'] }] }] },
          { toCIDR: ['10.0.0.0/8'] },
        ],
      }),
      cnp(
        'c',
        webIngress([{ fromEntities: ['cluster'] }], {
          ingressDeny: [{ fromEndpoints: [{ matchLabels: { app: 'other' } }] }],
        }),
      ),
    ];
    for (let step = 0; step < 400; step++) {
      const op = rand(10);
      if (op < 5)
        engine.upsertIdentity(
          140000 + rand(60),
          podLabels(rand(2) ? LOCAL : REMOTE, rand(3) ? 'default' : 'other', { app: apps[rand(4)]! }),
        );
      else if (op < 6) engine.deleteIdentity(140000 + rand(60));
      else if (op < 8) engine.upsertPolicy(policies[rand(policies.length)]!);
      else if (op < 9) engine.deletePolicy('CiliumNetworkPolicy', 'default', ['remote', 'a', 'b', 'c'][rand(4)]!);
      else {
        const n = rand(5);
        engine.upsertEndpoint({
          id: `default/pod-${n}`,
          namespace: 'default',
          identity: 65600 + n,
          labels: podLabels(LOCAL, 'default', { app: apps[rand(4)]! }),
        });
      }
    }
    const incremental = dumpAll(engine);
    engine.recomputeAll();
    assert.deepEqual(incremental, dumpAll(engine));
  });

  it('deleting a policy restores no-policy and releases its CIDR identities', () => {
    const engine = newEngine();
    const base = engine.stats();
    engine.upsertPolicy(cnp('p', webIngress([{ fromCIDRSet: [{ cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] }] }])));
    assert.equal(engine.stats().identities, base.identities + 2);
    assert.equal(engine.resolvePeer(2, '10.1.2.3') > 0xffffff, true);
    assert.equal(engine.deletePolicy('CiliumNetworkPolicy', 'default', 'p'), true);
    assert.equal(engine.stats().identities, base.identities);
    assert.equal(engine.stats().selectors, 0);
    assert.equal(engine.resolvePeer(2, '10.1.2.3'), 2);
    assert.equal(ingress(engine, ID.client), 'no-policy');
  });

  it('an endpoint whose labels change is reselected', () => {
    const engine = newEngine();
    engine.upsertPolicy(cnp('p', webIngress([{ fromEndpoints: [{ matchLabels: { app: 'db' } }] }])));
    assert.equal(ingress(engine, ID.client), 'default-deny');
    engine.upsertEndpoint({
      id: 'default/web',
      namespace: 'default',
      identity: ID.db,
      labels: podLabels(LOCAL, 'default', { app: 'db' }),
    });
    assert.equal(ingress(engine, ID.client), 'no-policy');
    assert.deepEqual(
      engine.policies().map((p) => p.endpoints),
      [0],
    );
  });
});

describe('policy trace', () => {
  function setup(): { engine: PolicyEngine; ipcache: Ipcache } {
    const engine = newEngine();
    const ipcache = new Ipcache(new ClusterDirectory(LOCAL, 1, 255));
    const pair = (ip: string, id: number, ns: string, pod: string) => ({
      IP: ip,
      HostIP: '',
      ID: id,
      Key: 0,
      Metadata: '',
      K8sNamespace: ns,
      K8sPodName: pod,
    });
    ipcache.upsertLocal('default/web', [pair('10.10.0.2', ID.web, 'default', 'web')]);
    ipcache.upsertLocal('default/client', [pair('10.10.0.1', ID.client, 'default', 'client')]);
    ipcache.upsertRemote(REMOTE, '10.11.0.1', pair('10.11.0.1', ID.remoteClient, 'default', 'client'));
    ipcache.upsertRemote(REMOTE, '10.11.0.2', pair('10.11.0.2', ID.remoteWeb, 'default', 'web'));
    return { engine, ipcache };
  }

  it('names the rule that allows and the default deny that refuses', () => {
    const { engine, ipcache } = setup();
    engine.upsertPolicy(
      cnp(
        'allow-client',
        webIngress([
          {
            fromEndpoints: [{ matchLabels: { app: 'client' } }],
            toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }] }],
          },
        ]),
      ),
    );
    const ok = tracePolicy(engine, ipcachePodLocator(ipcache), {
      srcPod: 'default/client',
      dstPod: 'c1/default/web',
      dport: '80/TCP',
    });
    assert.equal(ok.allowed, true);
    assert.equal(ok.complete, true);
    assert.match(ok.steps[0]!.explanation, /egress of c1\/default\/client .*ALLOWED: no policy selects the endpoint/);
    assert.match(ok.steps[1]!.explanation, /ALLOWED by CiliumNetworkPolicy default\/allow-client spec\.ingress\[0\]/);

    const no = tracePolicy(engine, ipcachePodLocator(ipcache), {
      srcIdentity: ID.remoteClient,
      dstPod: 'default/web',
      dport: '80',
    });
    assert.equal(no.allowed, false);
    assert.match(
      no.steps[1]!.explanation,
      /DENIED by default: CiliumNetworkPolicy default\/allow-client selects the endpoint/,
    );
  });

  it('leaves a remote destination to its own cluster', () => {
    const { engine, ipcache } = setup();
    const t = tracePolicy(engine, ipcachePodLocator(ipcache), {
      srcPod: 'default/client',
      dstPod: 'c2/default/web',
      dport: '80/TCP',
    });
    assert.equal(t.complete, false);
    assert.equal(t.steps[0]!.evaluated, true);
    assert.match(
      t.steps[1]!.explanation,
      /cluster c2's agent enforces it \(cmesh policy trace --context c2 --src-identity 65537/,
    );
  });

  it('rejects unknown pods and bad ports', () => {
    const { engine, ipcache } = setup();
    assert.throws(
      () =>
        tracePolicy(engine, ipcachePodLocator(ipcache), { srcPod: 'default/nope', dstPod: 'default/web', dport: '80' }),
      /no pod c1\/default\/nope/,
    );
    assert.throws(
      () =>
        tracePolicy(engine, ipcachePodLocator(ipcache), {
          srcPod: 'default/client',
          dstPod: 'default/web',
          dport: '80/ICMP',
        }),
      /--dport/,
    );
  });
});
