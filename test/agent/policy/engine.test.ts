import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { L4Protocol, VerdictKind } from '../../../src/agent/policy/index.js';
import { ccnp, cnp, ID, newEngine, webIngress } from './fixtures.js';

interface Case {
  name: string;
  policies: ReturnType<typeof cnp | typeof ccnp>[];
  /** Peer identity; for ingress the endpoint is default/web, for egress default/client. */
  peer: number;
  peerIp?: string;
  direction?: 'ingress' | 'egress';
  port?: number;
  protocol?: L4Protocol;
  defaultLocalCluster?: boolean;
  expect: VerdictKind;
  /** `section[index]` of the deciding rule. */
  by?: string;
}

const fromApp = (app: string, extra: Record<string, unknown> = {}): unknown => ({
  fromEndpoints: [{ matchLabels: { app } }],
  ...extra,
});

const cases: Case[] = [
  // ---- selectors ----
  { name: 'no policy selects the endpoint', policies: [], peer: ID.client, expect: 'no-policy' },
  {
    name: 'matchLabels selects the peer',
    policies: [cnp('p', webIngress([fromApp('client')]))],
    peer: ID.client,
    expect: 'allow',
    by: 'ingress[0]',
  },
  {
    name: 'unselected peer is default-denied',
    policies: [cnp('p', webIngress([fromApp('client')]))],
    peer: ID.db,
    expect: 'default-deny',
  },
  {
    name: 'matchExpressions In',
    policies: [
      cnp(
        'p',
        webIngress([
          { fromEndpoints: [{ matchExpressions: [{ key: 'app', operator: 'In', values: ['client', 'x'] }] }] },
        ]),
      ),
    ],
    peer: ID.client,
    expect: 'allow',
  },
  {
    name: 'matchExpressions NotIn excludes',
    policies: [
      cnp(
        'p',
        webIngress([
          { fromEndpoints: [{ matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['client'] }] }] },
        ]),
      ),
    ],
    peer: ID.client,
    expect: 'default-deny',
  },
  {
    name: 'matchExpressions NotIn admits others',
    policies: [
      cnp(
        'p',
        webIngress([
          { fromEndpoints: [{ matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['client'] }] }] },
        ]),
      ),
    ],
    peer: ID.db,
    expect: 'allow',
  },
  {
    name: 'matchExpressions Exists',
    policies: [
      cnp('p', webIngress([{ fromEndpoints: [{ matchExpressions: [{ key: 'tier', operator: 'Exists' }] }] }])),
    ],
    peer: ID.db,
    expect: 'allow',
  },
  {
    name: 'matchExpressions DoesNotExist',
    policies: [
      cnp('p', webIngress([{ fromEndpoints: [{ matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }] }])),
    ],
    peer: ID.db,
    expect: 'default-deny',
  },
  {
    name: 'a key without source matches any source',
    policies: [cnp('p', webIngress([fromApp('client')]))],
    peer: ID.containerClient,
    expect: 'allow',
  },
  {
    name: 'a k8s: key matches only the k8s source',
    policies: [cnp('p', webIngress([{ fromEndpoints: [{ matchLabels: { 'k8s:app': 'client' } }] }]))],
    peer: ID.containerClient,
    expect: 'default-deny',
  },
  {
    name: 'CNP peer selectors get the policy namespace',
    policies: [cnp('p', webIngress([fromApp('client')]))],
    peer: ID.otherNsClient,
    expect: 'default-deny',
  },
  {
    name: 'an explicit namespace in the peer selector wins',
    policies: [
      cnp(
        'p',
        webIngress([
          fromApp('client', {}),
          { fromEndpoints: [{ matchLabels: { app: 'client', 'k8s:io.kubernetes.pod.namespace': 'other' } }] },
        ]),
      ),
    ],
    peer: ID.otherNsClient,
    expect: 'allow',
    by: 'ingress[1]',
  },
  {
    name: 'CCNP peer selectors span namespaces',
    policies: [ccnp('p', webIngress([fromApp('client')]))],
    peer: ID.otherNsClient,
    expect: 'allow',
  },
  {
    name: 'CNP in another namespace does not select the endpoint',
    policies: [cnp('p', webIngress([fromApp('client')]), 'other')],
    peer: ID.db,
    expect: 'no-policy',
  },
  {
    name: 'fromEndpoints [{}] is every pod of the namespace',
    policies: [cnp('p', webIngress([{ fromEndpoints: [{}] }]))],
    peer: ID.otherNsClient,
    expect: 'default-deny',
  },
  // ---- cluster label ----
  {
    name: 'default-local-cluster: remote peer not selected',
    policies: [cnp('p', webIngress([fromApp('client')]))],
    peer: ID.remoteClient,
    expect: 'default-deny',
  },
  {
    name: 'default-local-cluster off: remote peer selected',
    policies: [cnp('p', webIngress([fromApp('client')]))],
    peer: ID.remoteClient,
    defaultLocalCluster: false,
    expect: 'allow',
  },
  {
    name: 'an explicit cluster label selects the remote',
    policies: [
      cnp(
        'p',
        webIngress([{ fromEndpoints: [{ matchLabels: { app: 'client', 'io.cilium.k8s.policy.cluster': 'c2' } }] }]),
      ),
    ],
    peer: ID.remoteClient,
    expect: 'allow',
  },
  {
    name: 'an explicit cluster label excludes the local cluster',
    policies: [
      cnp(
        'p',
        webIngress([{ fromEndpoints: [{ matchLabels: { app: 'client', 'k8s:io.cilium.k8s.policy.cluster': 'c2' } }] }]),
      ),
    ],
    peer: ID.client,
    expect: 'default-deny',
  },
  {
    name: 'cluster label by expression: any cluster',
    policies: [
      cnp(
        'p',
        webIngress([
          {
            fromEndpoints: [
              {
                matchLabels: { app: 'client' },
                matchExpressions: [{ key: 'io.cilium.k8s.policy.cluster', operator: 'Exists' }],
              },
            ],
          },
        ]),
      ),
    ],
    peer: ID.remoteClient,
    expect: 'allow',
  },
  // ---- entities ----
  {
    name: 'entity world: world',
    policies: [cnp('p', webIngress([{ fromEntities: ['world'] }]))],
    peer: 2,
    expect: 'allow',
  },
  {
    name: 'entity world: not a pod',
    policies: [cnp('p', webIngress([{ fromEntities: ['world'] }]))],
    peer: ID.client,
    expect: 'default-deny',
  },
  {
    name: 'entity cluster: local pod',
    policies: [cnp('p', webIngress([{ fromEntities: ['cluster'] }]))],
    peer: ID.db,
    expect: 'allow',
  },
  {
    name: 'entity cluster: host',
    policies: [cnp('p', webIngress([{ fromEntities: ['cluster'] }]))],
    peer: 1,
    expect: 'allow',
  },
  {
    name: 'entity cluster: remote-node',
    policies: [cnp('p', webIngress([{ fromEntities: ['cluster'] }]))],
    peer: 6,
    expect: 'allow',
  },
  {
    name: 'entity cluster: not a remote cluster pod',
    policies: [cnp('p', webIngress([{ fromEntities: ['cluster'] }]))],
    peer: ID.remoteClient,
    expect: 'default-deny',
  },
  {
    name: 'entity cluster: not world',
    policies: [cnp('p', webIngress([{ fromEntities: ['cluster'] }]))],
    peer: 2,
    expect: 'default-deny',
  },
  { name: 'entity host', policies: [cnp('p', webIngress([{ fromEntities: ['host'] }]))], peer: 1, expect: 'allow' },
  {
    name: 'entity host: not remote-node',
    policies: [cnp('p', webIngress([{ fromEntities: ['host'] }]))],
    peer: 6,
    expect: 'default-deny',
  },
  {
    name: 'entity remote-node',
    policies: [cnp('p', webIngress([{ fromEntities: ['remote-node'] }]))],
    peer: 6,
    expect: 'allow',
  },
  {
    name: 'entity all: remote pod',
    policies: [cnp('p', webIngress([{ fromEntities: ['all'] }]))],
    peer: ID.remoteClient,
    expect: 'allow',
  },
  {
    name: 'entity all: world',
    policies: [cnp('p', webIngress([{ fromEntities: ['all'] }]))],
    peer: 2,
    peerIp: '8.8.8.8',
    expect: 'allow',
  },
  // ---- CIDR ----
  {
    name: 'fromCIDR: world IP inside',
    policies: [cnp('p', webIngress([{ fromCIDR: ['10.0.0.0/8'] }]))],
    peer: 2,
    peerIp: '10.1.2.3',
    expect: 'allow',
  },
  {
    name: 'fromCIDR: world IP outside',
    policies: [cnp('p', webIngress([{ fromCIDR: ['10.0.0.0/8'] }]))],
    peer: 2,
    peerIp: '192.168.1.1',
    expect: 'default-deny',
  },
  {
    name: 'fromCIDR: a pod inside the CIDR is not world',
    policies: [cnp('p', webIngress([{ fromCIDR: ['10.0.0.0/8'] }]))],
    peer: ID.client,
    peerIp: '10.1.2.3',
    expect: 'default-deny',
  },
  {
    name: 'fromCIDRSet except',
    policies: [cnp('p', webIngress([{ fromCIDRSet: [{ cidr: '10.0.0.0/8', except: ['10.96.0.0/12'] }] }]))],
    peer: 2,
    peerIp: '10.96.1.1',
    expect: 'default-deny',
  },
  {
    name: 'fromCIDRSet outside the except',
    policies: [cnp('p', webIngress([{ fromCIDRSet: [{ cidr: '10.0.0.0/8', except: ['10.96.0.0/12'] }] }]))],
    peer: 2,
    peerIp: '10.2.0.1',
    expect: 'allow',
  },
  {
    name: 'CIDR 0.0.0.0/0 selects world',
    policies: [cnp('p', webIngress([{ fromCIDR: ['0.0.0.0/0'] }]))],
    peer: 2,
    peerIp: '1.1.1.1',
    expect: 'allow',
  },
  {
    name: 'entity world selects CIDR identities',
    policies: [
      cnp('p', webIngress([{ fromEntities: ['world'] }])),
      cnp('q', webIngress([{ fromCIDR: ['10.0.0.0/8'] }])),
    ],
    peer: 2,
    peerIp: '10.0.0.9',
    expect: 'allow',
  },
  // ---- ports ----
  {
    name: 'toPorts: port matches',
    policies: [cnp('p', webIngress([fromApp('client', { toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }] }] })]))],
    peer: ID.client,
    port: 80,
    expect: 'allow',
  },
  {
    name: 'toPorts: other port',
    policies: [cnp('p', webIngress([fromApp('client', { toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }] }] })]))],
    peer: ID.client,
    port: 81,
    expect: 'default-deny',
  },
  {
    name: 'toPorts: other protocol',
    policies: [cnp('p', webIngress([fromApp('client', { toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }] }] })]))],
    peer: ID.client,
    port: 80,
    protocol: 'UDP',
    expect: 'default-deny',
  },
  {
    name: 'toPorts: ANY protocol',
    policies: [cnp('p', webIngress([fromApp('client', { toPorts: [{ ports: [{ port: '53' }] }] })]))],
    peer: ID.client,
    port: 53,
    protocol: 'UDP',
    expect: 'allow',
  },
  {
    name: 'toPorts: endPort range inside',
    policies: [
      cnp(
        'p',
        webIngress([fromApp('client', { toPorts: [{ ports: [{ port: '8000', endPort: 8080, protocol: 'TCP' }] }] })]),
      ),
    ],
    peer: ID.client,
    port: 8080,
    expect: 'allow',
  },
  {
    name: 'toPorts: endPort range outside',
    policies: [
      cnp(
        'p',
        webIngress([fromApp('client', { toPorts: [{ ports: [{ port: '8000', endPort: 8080, protocol: 'TCP' }] }] })]),
      ),
    ],
    peer: ID.client,
    port: 8081,
    expect: 'default-deny',
  },
  {
    name: 'toPorts: port 0 is every port',
    policies: [cnp('p', webIngress([fromApp('client', { toPorts: [{ ports: [{ port: '0', protocol: 'TCP' }] }] })]))],
    peer: ID.client,
    port: 12345,
    expect: 'allow',
  },
  {
    name: 'L4-only rule applies to every peer',
    policies: [cnp('p', webIngress([{ toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }] }] }]))],
    peer: ID.remoteClient,
    expect: 'allow',
  },
  // ---- deny ----
  {
    name: 'deny wins over allow',
    policies: [
      cnp(
        'p',
        webIngress([{ fromEntities: ['all'] }], {
          ingressDeny: [fromApp('client', { toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }] }] })],
        }),
      ),
    ],
    peer: ID.client,
    expect: 'deny',
    by: 'ingressDeny[0]',
  },
  {
    name: 'deny wins across policies',
    policies: [
      cnp('a', webIngress([fromApp('client')])),
      ccnp('z', { endpointSelector: {}, ingressDeny: [{ fromEntities: ['cluster'] }] }),
    ],
    peer: ID.client,
    expect: 'deny',
  },
  {
    name: 'deny on another port leaves the allow',
    policies: [
      cnp(
        'p',
        webIngress([{ fromEntities: ['all'] }], {
          ingressDeny: [fromApp('client', { toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }] }] })],
        }),
      ),
    ],
    peer: ID.client,
    port: 81,
    expect: 'allow',
  },
  {
    name: 'a deny-only policy turns default deny on',
    policies: [cnp('p', { endpointSelector: { matchLabels: { app: 'web' } }, ingressDeny: [fromApp('db')] })],
    peer: ID.client,
    expect: 'default-deny',
  },
  {
    name: 'ingress [{}] denies everything',
    policies: [cnp('p', webIngress([{}]))],
    peer: ID.client,
    expect: 'default-deny',
  },
  {
    name: 'enableDefaultDeny.ingress false keeps other traffic',
    policies: [cnp('p', webIngress([fromApp('db')], { enableDefaultDeny: { ingress: false } }))],
    peer: ID.client,
    expect: 'no-policy',
  },
  {
    name: 'an egress-only policy does not enforce ingress',
    policies: [cnp('p', { endpointSelector: { matchLabels: { app: 'web' } }, egress: [{ toEntities: ['world'] }] })],
    peer: ID.client,
    expect: 'no-policy',
  },
  // ---- egress (endpoint default/client) ----
  {
    name: 'egress toEndpoints',
    direction: 'egress',
    policies: [
      cnp('p', {
        endpointSelector: { matchLabels: { app: 'client' } },
        egress: [{ toEndpoints: [{ matchLabels: { app: 'web' } }] }],
      }),
    ],
    peer: ID.web,
    expect: 'allow',
    by: 'egress[0]',
  },
  {
    name: 'egress to an unselected peer',
    direction: 'egress',
    policies: [
      cnp('p', {
        endpointSelector: { matchLabels: { app: 'client' } },
        egress: [{ toEndpoints: [{ matchLabels: { app: 'web' } }] }],
      }),
    ],
    peer: ID.db,
    expect: 'default-deny',
  },
  {
    name: 'egress toCIDR',
    direction: 'egress',
    policies: [
      cnp('p', { endpointSelector: { matchLabels: { app: 'client' } }, egress: [{ toCIDR: ['203.0.113.0/24'] }] }),
    ],
    peer: 2,
    peerIp: '203.0.113.7',
    expect: 'allow',
  },
  {
    name: 'egressDeny toEntities world',
    direction: 'egress',
    policies: [
      cnp('p', {
        endpointSelector: { matchLabels: { app: 'client' } },
        egress: [{ toEntities: ['all'] }],
        egressDeny: [{ toEntities: ['world'] }],
      }),
    ],
    peer: 2,
    peerIp: '8.8.8.8',
    expect: 'deny',
  },
  {
    name: 'egress to remote web needs the cluster label',
    direction: 'egress',
    policies: [
      cnp('p', {
        endpointSelector: { matchLabels: { app: 'client' } },
        egress: [{ toEndpoints: [{ matchLabels: { app: 'web' } }] }],
      }),
    ],
    peer: ID.remoteWeb,
    expect: 'default-deny',
  },
  {
    name: 'egress to remote web with the cluster label',
    direction: 'egress',
    policies: [
      cnp('p', {
        endpointSelector: { matchLabels: { app: 'client' } },
        egress: [{ toEndpoints: [{ matchLabels: { app: 'web', 'io.cilium.k8s.policy.cluster': 'c2' } }] }],
      }),
    ],
    peer: ID.remoteWeb,
    expect: 'allow',
  },
];

describe('policy verdicts', () => {
  for (const c of cases) {
    it(c.name, () => {
      const engine = newEngine(c.defaultLocalCluster ?? true);
      for (const p of c.policies) {
        const r = engine.upsertPolicy(p);
        assert.equal(r.applied, true, r.error?.message);
      }
      const direction = c.direction ?? 'ingress';
      const v = engine.verdict({
        direction,
        endpoint: direction === 'ingress' ? 'default/web' : 'default/client',
        peerIdentity: c.peer,
        ...(c.peerIp ? { peerIp: c.peerIp } : {}),
        port: c.port ?? 80,
        protocol: c.protocol ?? 'TCP',
      });
      assert.equal(v.reason.kind, c.expect);
      assert.equal(v.allowed, c.expect === 'allow' || c.expect === 'no-policy');
      if (c.by) assert.equal(`${v.reason.origin?.section}[${v.reason.origin?.index}]`, c.by);
      if (c.expect === 'allow' || c.expect === 'deny') assert.ok(v.reason.origin?.policy.startsWith('Ciliu'));
    });
  }
});

describe('invalid policies', () => {
  const invalid: [string, Record<string, unknown>, RegExp][] = [
    [
      'named port',
      webIngress([fromApp('client', { toPorts: [{ ports: [{ port: 'http' }] }] })]),
      /ingress\[0\]\.toPorts\[0\]\.ports\[0\]\.port: named port/,
    ],
    [
      'port out of range',
      webIngress([fromApp('client', { toPorts: [{ ports: [{ port: '70000' }] }] })]),
      /out of range/,
    ],
    [
      'endPort below port',
      webIngress([fromApp('client', { toPorts: [{ ports: [{ port: '90', endPort: 80 }] }] })]),
      /endPort/,
    ],
    [
      'bad protocol',
      webIngress([fromApp('client', { toPorts: [{ ports: [{ port: '80', protocol: 'ICMP' }] }] })]),
      /protocol: must be one of/,
    ],
    ['unknown entity', webIngress([{ fromEntities: ['internet'] }]), /unknown entity "internet"/],
    ['bad CIDR', webIngress([{ fromCIDR: ['10.0.0.0/33'] }]), /fromCIDR\[0\]/],
    [
      'except outside the CIDR',
      webIngress([{ fromCIDRSet: [{ cidr: '10.0.0.0/8', except: ['11.0.0.0/16'] }] }]),
      /not inside/,
    ],
    ['unknown field (typo)', webIngress([{ fromEndpoint: [{}] }]), /fromEndpoint: unknown field/],
    ['unsupported field', webIngress([{ fromRequires: [{}] }]), /not supported/],
    [
      'bad operator',
      webIngress([{ fromEndpoints: [{ matchExpressions: [{ key: 'a', operator: 'Is' }] }] }]),
      /operator/,
    ],
    ['egress field in ingress', webIngress([{ toEndpoints: [{}] }]), /unknown field/],
    ['nodeSelector in a CNP', { nodeSelector: {}, ingress: [] }, /nodeSelector: only allowed/],
    ['no subject', { ingress: [{}] }, /exactly one of endpointSelector or nodeSelector/],
    [
      'L7 in a deny rule',
      { endpointSelector: {}, ingressDeny: [{ toPorts: [{ ports: [{ port: '80' }], rules: { http: [] } }] }] },
      /L7 rules are not allowed/,
    ],
  ];
  for (const [name, spec, re] of invalid) {
    it(`rejects ${name} and keeps the previous version`, () => {
      const engine = newEngine();
      assert.equal(engine.upsertPolicy(cnp('p', webIngress([fromApp('client')]))).applied, true);
      const r = engine.upsertPolicy(cnp('p', spec));
      assert.equal(r.applied, false);
      assert.match(r.error?.message ?? '', re);
      assert.match(r.error?.message ?? '', /^CiliumNetworkPolicy default\/p: /);
      assert.deepEqual(
        engine.policyErrors().map((e) => e.name),
        ['CiliumNetworkPolicy default/p'],
      );
      const v = engine.verdict({
        direction: 'ingress',
        endpoint: 'default/web',
        peerIdentity: ID.client,
        port: 80,
        protocol: 'TCP',
      });
      assert.equal(v.reason.kind, 'allow');
    });
  }

  it('L7 rules warn and allow the port at L4', () => {
    const engine = newEngine();
    const r = engine.upsertPolicy(
      cnp(
        'p',
        webIngress([
          fromApp('client', {
            toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }], rules: { http: [{ method: 'GET' }] } }],
          }),
        ]),
      ),
    );
    assert.equal(r.applied, true);
    assert.match(r.warnings.join('\n'), /L7 rules are not enforced/);
  });
});
