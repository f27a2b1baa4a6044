/**
 * The manifests every cluster gets (src/k8s/cluster-manifests.ts) against a real kube-apiserver (one control plane
 * for the file, apiserver only, loopback): they install and re-install without a change, kubectl sees the kinds,
 * objects of the shapes cmesh writes are accepted under kubectl's strict field validation, bad values are refused
 * with a message naming the field or annotation (and nothing is created), and each component's identity may do what
 * its role grants and nothing else.
 */
import { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { ciliumNodeFor, identityObject } from '../../src/apiserver/external-workload-objects.js';
import { SERVICE_ANNOTATIONS_POLICY } from '../../src/k8s/annotation-policies.js';
import {
  clusterManifests,
  installClusterManifests,
  PART_OF_LABEL,
  PART_OF_VALUE,
  type ComponentIdentities,
} from '../../src/k8s/cluster-manifests.js';
import { CLUSTER_CRDS } from '../../src/k8s/crds/index.js';
import type { CiliumExternalWorkload, Pod } from '../../src/k8s/types.js';
import { AGENT_GROUP, CLUSTERMESH_APISERVER_USER, OPERATOR_USER, agentUser } from '../../src/mesh/kube-pki.js';
import { desiredCiliumEndpoint, desiredCiliumNode } from '../../src/operator/desired-objects.js';
import { parseIpRange } from '../../src/wire/ip.js';
import { eventually } from '../harness/eventually.js';
import { startTestControlPlane, type TestControlPlane } from '../harness/kube.js';

const IDENTITIES: ComponentIdentities = {
  clustermeshApiserverUser: CLUSTERMESH_APISERVER_USER,
  operatorUser: OPERATOR_USER,
  agentGroup: AGENT_GROUP,
};
const NS = 'shop';
const UID = '0d4a3e8c-8f0e-4a8e-9a57-2f5cbf1c1a01';
const EXPLAIN_TIMEOUT_MS = 30_000;

type Failure = Error & { stderr?: string; stdout?: string };

describe('cluster manifests on a real API server (CRDs, admission policies, RBAC)', () => {
  let cp: TestControlPlane;
  let kc: KubeConfig;
  const kubectl = (...args: string[]): Promise<string> => cp.kubectl(...args);
  // JSON, not YAML: kubectl reads YAML 1.1, where an unquoted True or yes in an annotation would be a boolean.
  const apply = (objects: readonly unknown[]): Promise<string> =>
    cp.kubectlIn(JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }), 'apply', '-f', '-');

  /** kubectl's stderr when the command fails; fails the test when it succeeds. */
  async function refused(run: Promise<string>): Promise<string> {
    const err = await run.then(
      (out) => assert.fail(`expected a refusal, got: ${out}`),
      (e: unknown) => e as Failure,
    );
    return err.stderr ?? String(err);
  }

  async function absent(...args: string[]): Promise<void> {
    assert.match(await refused(kubectl('get', ...args)), /NotFound|not found/);
  }

  /** `kubectl auth can-i` as another identity (a SelfSubjectAccessReview): yes or no. */
  async function canI(kubeconfig: string, ...args: string[]): Promise<string> {
    return kubectl(`--kubeconfig=${kubeconfig}`, 'auth', 'can-i', ...args).then(
      (out) => out.trim(),
      (e: unknown) => ((e as Failure).stdout ?? '').trim() || String(e),
    );
  }

  /** resourceVersion of every installed object, by kind/namespace/name (the CRDs are too big to list whole). */
  async function installedVersions(): Promise<Map<string, string>> {
    const kinds =
      'crd,validatingadmissionpolicy,validatingadmissionpolicybinding,clusterrole,clusterrolebinding,role,rolebinding';
    const template =
      '{range .items[*]}{.kind}/{.metadata.namespace}/{.metadata.name}={.metadata.resourceVersion}{"\\n"}{end}';
    const out = await kubectl(
      'get',
      kinds,
      '-A',
      '-l',
      `${PART_OF_LABEL}=${PART_OF_VALUE}`,
      '-o',
      `jsonpath=${template}`,
    );
    return new Map(
      out
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => l.split('=') as [string, string]),
    );
  }

  before(async () => {
    cp = await startTestControlPlane({ name: 'manifests', apiserverOnly: true });
    kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
  });

  after(async () => {
    await cp.stop();
  });

  it('installs every manifest, and installing again changes nothing', async () => {
    const first = await installClusterManifests(kc, { identities: IDENTITIES });
    const expected = clusterManifests({ identities: IDENTITIES });
    assert.equal(first.length, expected.length);
    const before = await installedVersions();
    assert.equal(before.size, expected.length, `every manifest is labelled: ${[...before.keys()].join(', ')}`);
    const second = await installClusterManifests(kc, { identities: IDENTITIES });
    const afterwards = await installedVersions();
    assert.deepEqual(afterwards, before, 'no object was written again');
    assert.deepEqual(
      second.map((s) => s.resourceVersion).sort(),
      [...before.values()].sort(),
      'the second apply reports the versions already stored',
    );
  });

  it('kubectl api-resources lists every Cilium and MCS kind with its short names', async () => {
    const out = await kubectl('api-resources', '--no-headers', '--api-group=cilium.io');
    const mcs = await kubectl('api-resources', '--no-headers', '--api-group=multicluster.x-k8s.io');
    const rows = new Map(
      `${out}\n${mcs}`
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => {
          const [name = '', shortNames = '', apiVersion = '', namespaced = '', kind = ''] = l.trim().split(/\s+/);
          return [kind, { name, shortNames, apiVersion, namespaced }];
        }),
    );
    for (const crd of CLUSTER_CRDS) {
      const { names, group, scope, versions } = crd.spec;
      assert.deepEqual(rows.get(names.kind), {
        name: names.plural,
        shortNames: (names.shortNames ?? []).join(','),
        apiVersion: `${group}/${versions[0]?.name}`,
        namespaced: String(scope === 'Namespaced'),
      });
    }
  });

  it('kubectl explain describes the policy schema', async () => {
    // kubectl explain reads the published OpenAPI, which follows Established by a moment.
    const out = await eventually(
      () => kubectl('explain', 'ciliumnetworkpolicy.spec').catch(() => ''),
      (o) => o.includes('endpointSelector'),
      'kubectl explain ciliumnetworkpolicy.spec',
      EXPLAIN_TIMEOUT_MS,
      250,
    );
    assert.match(out, /ingressDeny/);
    assert.match(await kubectl('explain', 'cnp.spec.ingress.toPorts.ports.port'), /name of a container port/);
  });

  it('accepts objects of every kind as cmesh writes them (strict field validation: no field unknown)', async () => {
    const layout = {
      index: 1,
      name: 'manifests-node-1',
      podCidr: parseIpRange('10.62.1.0/24'),
      internalIp: '10.0.0.11',
      routerIp: '10.62.1.1',
      healthIp: '10.62.1.2',
    };
    const pod: Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web-1', namespace: NS, uid: UID, labels: { app: 'web' } },
      spec: {
        serviceAccountName: 'web',
        containers: [{ name: 'web', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }],
      },
    };
    const cep = desiredCiliumEndpoint(pod, {
      endpointId: 1201,
      identity: 70001,
      securityLabels: { 'k8s:app': 'web', 'k8s:io.kubernetes.pod.namespace': NS },
      ip: '10.62.1.10',
      hostIp: '10.0.0.11',
    });
    const cew: CiliumExternalWorkload = {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumExternalWorkload',
      metadata: { name: 'vm-1', uid: UID, labels: { app: 'vm' } },
      spec: { 'ipv4-alloc-cidr': '10.192.1.0/30', 'ipv6-alloc-cidr': 'fd00:192::/64' },
    };
    const vmNode = ciliumNodeFor(cew, { app: 'vm' }, [{ Type: 'InternalIP', IP: '192.168.1.5' }]);
    const { uid: _uid, ...cewMetadata } = cew.metadata;
    await apply([
      {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: NS, annotations: { 'clustermesh.cilium.io/global': 'True' } },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: {
          name: 'web',
          namespace: NS,
          annotations: {
            'service.cilium.io/global': 'true',
            'io.cilium/shared-service': 'false',
            'service.cilium.io/affinity': 'Local',
            'service.cilium.io/type': 'ClusterIP',
          },
        },
        spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
      },
      identityObject(70001, { 'k8s:app': 'web', 'k8s:io.kubernetes.pod.namespace': NS }, NS),
      desiredCiliumNode(layout, '5b1f0c3e-6a0e-4c5e-8f4e-1a2b3c4d5e6f'),
      cep,
      { ...cew, metadata: cewMetadata },
      vmNode,
      {
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumNetworkPolicy',
        metadata: { name: 'web', namespace: NS },
        spec: {
          endpointSelector: { matchLabels: { app: 'web' } },
          ingress: [
            {
              fromEndpoints: [{ matchLabels: { 'k8s:app': 'client' } }],
              toPorts: [{ ports: [{ port: '8080', protocol: 'TCP' }, { port: 'http' }] }],
            },
            { fromCIDRSet: [{ cidr: '192.0.2.0/24', except: ['192.0.2.128/25'] }], fromEntities: ['world'] },
          ],
          egress: [
            { toEndpoints: [{ matchExpressions: [{ key: 'app', operator: 'In', values: ['db'] }] }] },
            { toCIDR: ['2001:db8::/32'], icmps: [{ fields: [{ type: 8 }, { type: 'EchoRequest', family: 'IPv4' }] }] },
          ],
          ingressDeny: [{ fromEntities: ['host'], toPorts: [{ ports: [{ port: '22', endPort: 23 }] }] }],
          enableDefaultDeny: { ingress: true, egress: false },
        },
      },
      {
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumClusterwideNetworkPolicy',
        metadata: { name: 'nodes' },
        specs: [
          {
            nodeSelector: { matchLabels: { 'kubernetes.io/hostname': layout.name } },
            ingress: [{ fromEntities: ['cluster'] }],
          },
          { endpointSelector: {}, egressDeny: [{ toEntities: ['world'] }], description: 'no egress to the world' },
        ],
      },
      { apiVersion: 'multicluster.x-k8s.io/v1alpha1', kind: 'ServiceExport', metadata: { name: 'web', namespace: NS } },
      {
        apiVersion: 'multicluster.x-k8s.io/v1alpha1',
        kind: 'ServiceImport',
        metadata: { name: 'web', namespace: NS },
        spec: { type: 'ClusterSetIP', ips: ['10.96.10.10'], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
      },
    ]);
    await kubectl(
      'patch',
      'cew',
      'vm-1',
      '--subresource=status',
      '--type=merge',
      '-p',
      '{"status":{"id":70002,"ip":"192.168.1.5"}}',
    );

    // Stored as written: nothing pruned from what cmesh reads back.
    const storedCep = JSON.parse(await kubectl('get', 'cep', 'web-1', '-n', NS, '-o', 'json')) as typeof cep;
    assert.deepEqual(storedCep.status, cep.status);
    const cn = JSON.parse(await kubectl('get', 'cn', layout.name, '-o', 'json')) as { spec?: { bootid?: string } };
    assert.equal(cn.spec?.bootid, '5b1f0c3e-6a0e-4c5e-8f4e-1a2b3c4d5e6f');
    assert.match(await kubectl('get', 'cew', 'vm-1'), /vm-1\s+70002\s+192\.168\.1\.5/);
    assert.match(await kubectl('get', 'ciliumid', '70001'), new RegExp(`70001\\s+${NS}`));
  });

  it('refuses a Service with service.cilium.io/affinity: sideways, naming the annotation and the allowed values', async () => {
    const stderr = await refused(
      apply([
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'sideways', namespace: NS, annotations: { 'service.cilium.io/affinity': 'sideways' } },
          spec: { ports: [{ port: 80 }] },
        },
      ]),
    );
    assert.match(stderr, /service\.cilium\.io\/affinity/);
    assert.match(stderr, /"sideways"/);
    assert.match(stderr, /local, remote, none/);
    await absent('svc', 'sideways', '-n', NS);
  });

  it('refuses bad values of the other annotations: legacy alias, service type, global namespace', async () => {
    const svc = (name: string, annotations: Record<string, string>): unknown => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: NS, annotations },
      spec: { ports: [{ port: 80 }] },
    });
    assert.match(
      await refused(apply([svc('legacy', { 'io.cilium/global-service': 'yes' })])),
      /io\.cilium\/global-service.*true, false/,
    );
    assert.match(
      await refused(apply([svc('typed', { 'service.cilium.io/type': 'loadbalancer' })])),
      /service\.cilium\.io\/type.*ClusterIP, NodePort, LoadBalancer/,
    );
    assert.match(
      await refused(
        apply([
          {
            apiVersion: 'v1',
            kind: 'Namespace',
            metadata: { name: 'half', annotations: { 'clustermesh.cilium.io/global': 'yes' } },
          },
        ]),
      ),
      /clustermesh\.cilium\.io\/global/,
    );
    await absent('svc', 'legacy', '-n', NS);
    await absent('svc', 'typed', '-n', NS);
    await absent('ns', 'half');
  });

  it('refuses a CiliumNetworkPolicy with port 99999, naming the field', async () => {
    const stderr = await refused(
      apply([
        {
          apiVersion: 'cilium.io/v2',
          kind: 'CiliumNetworkPolicy',
          metadata: { name: 'bad-port', namespace: NS },
          spec: { endpointSelector: {}, ingress: [{ toPorts: [{ ports: [{ port: '99999', protocol: 'TCP' }] }] }] },
        },
      ]),
    );
    assert.match(stderr, /spec\.ingress\[0\]\.toPorts\[0\]\.ports\[0\]\.port/);
    assert.match(stderr, /99999/);
    await absent('cnp', 'bad-port', '-n', NS);
  });

  it('refuses a CiliumNetworkPolicy with a misspelt field, naming it (the API server itself, not only kubectl)', async () => {
    const misspelt = {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNetworkPolicy',
      metadata: { name: 'misspelt', namespace: NS },
      spec: { endpointSelecter: { matchLabels: { app: 'web' } }, ingress: [{}] },
    };
    // One object: kubectl sends it with fieldValidation=Strict and the server's decoder refuses it.
    const server = await refused(cp.kubectlIn(JSON.stringify(misspelt), 'apply', '-f', '-'));
    assert.match(server, /strict decoding error: unknown field "spec\.endpointSelecter"/);
    // In a List, kubectl refuses it first against the schema the server publishes.
    assert.match(await refused(apply([misspelt])), /unknown field "endpointSelecter"/);
    await absent('cnp', 'misspelt', '-n', NS);
  });

  it('refuses what Cilium refuses in a policy: no rule, nodeSelector in a namespaced policy, a bad entity or CIDR', async () => {
    const cnp = (name: string, body: Record<string, unknown>): unknown => ({
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNetworkPolicy',
      metadata: { name, namespace: NS },
      ...body,
    });
    assert.match(await refused(apply([cnp('empty', {})])), /a policy needs spec or a non-empty specs/);
    assert.match(
      await refused(apply([cnp('on-nodes', { spec: { nodeSelector: {} } })])),
      /spec\.nodeSelector.*only allowed in a CiliumClusterwideNetworkPolicy/,
    );
    assert.match(await refused(apply([cnp('both', { spec: { endpointSelector: {}, nodeSelector: {} } })])), /spec/);
    assert.match(
      await refused(
        apply([cnp('entity', { spec: { endpointSelector: {}, egress: [{ toEntities: ['everywhere'] }] } })]),
      ),
      /spec\.egress\[0\]\.toEntities\[0\].*supported values/,
    );
    assert.match(
      await refused(apply([cnp('cidr', { spec: { endpointSelector: {}, egress: [{ toCIDR: ['10.0.0.0/33'] }] } })])),
      /spec\.egress\[0\]\.toCIDR\[0\]/,
    );
    for (const name of ['empty', 'on-nodes', 'both', 'entity', 'cidr']) await absent('cnp', name, '-n', NS);
  });

  it('the clustermesh-apiserver may list CiliumEndpoints but not create one', async () => {
    const kubeconfig = await cp.userKubeconfig(CLUSTERMESH_APISERVER_USER);
    assert.match(await kubectl(`--kubeconfig=${kubeconfig}`, 'get', 'cep', '-A'), /web-1/);
    const stderr = await refused(
      cp.kubectlIn(
        stringify({ apiVersion: 'cilium.io/v2', kind: 'CiliumEndpoint', metadata: { name: 'forged', namespace: NS } }),
        `--kubeconfig=${kubeconfig}`,
        'create',
        '-f',
        '-',
      ),
    );
    assert.match(stderr, /forbidden/i);
    await absent('cep', 'forged', '-n', NS);
    for (const [verb, resource, want] of [
      ['watch', 'serviceexports.multicluster.x-k8s.io', 'yes'],
      ['list', 'ciliumexternalworkloads.cilium.io', 'yes'],
      ['update', 'ciliumnodes.cilium.io', 'no'],
      ['list', 'secrets', 'no'],
    ] as const) {
      assert.equal(await canI(kubeconfig, verb, resource, '-A'), want, `${verb} ${resource}`);
    }
  });

  it("an agent may patch its pods' status but not delete a namespace", async () => {
    await kubectl('create', 'namespace', 'rbac');
    // No controller manager here to create the namespace's default service account, which a pod needs.
    await kubectl('create', 'serviceaccount', 'default', '-n', 'rbac');
    await apply([
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'p', namespace: 'rbac' },
        spec: { containers: [{ name: 'c', image: 'none' }] },
      },
    ]);
    const kubeconfig = await cp.userKubeconfig(agentUser('manifests-node-1'), [AGENT_GROUP]);
    const as = (...args: string[]): Promise<string> => kubectl(`--kubeconfig=${kubeconfig}`, ...args);
    // Through the API client, as an agent writes it: kubectl patch would read pods/status first, which a kubelet
    // (and so an agent) is not granted.
    const agent = new KubeConfig();
    agent.loadFromFile(kubeconfig);
    await agent
      .makeApiClient(CoreV1Api)
      .patchNamespacedPodStatus(
        { name: 'p', namespace: 'rbac', body: { status: { conditions: [{ type: 'Ready', status: 'True' }] } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    const pod = JSON.parse(await kubectl('get', 'pod', 'p', '-n', 'rbac', '-o', 'json')) as Pod;
    assert.ok(pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    assert.match(await refused(as('delete', 'namespace', 'rbac')), /forbidden/i);
    await kubectl('get', 'namespace', 'rbac');
    for (const [verb, resource, extra, want] of [
      ['create', 'nodes', [], 'yes'],
      ['patch', 'nodes', ['--subresource=status'], 'yes'],
      ['update', 'leases.coordination.k8s.io', ['-n', 'kube-node-lease'], 'yes'],
      ['update', 'leases.coordination.k8s.io', ['-n', 'default'], 'no'],
      ['delete', 'ciliumendpoints.cilium.io', ['-n', NS], 'yes'],
      ['create', 'ciliumnetworkpolicies.cilium.io', ['-n', NS], 'no'],
      ['delete', 'pods', ['-n', 'rbac'], 'no'],
    ] as const) {
      assert.equal(await canI(kubeconfig, verb, resource, ...extra), want, `${verb} ${resource} ${extra.join(' ')}`);
    }
  });

  it('the operator may write what it derives, and nothing it does not', async () => {
    const kubeconfig = await cp.userKubeconfig(OPERATOR_USER);
    for (const [verb, resource, extra, want] of [
      ['create', 'ciliumidentities.cilium.io', [], 'yes'],
      ['delete', 'ciliumnodes.cilium.io', [], 'yes'],
      ['update', 'endpointslices.discovery.k8s.io', ['-n', NS], 'yes'],
      ['create', 'pods', ['-n', NS, '--subresource=binding'], 'yes'],
      ['update', 'services', ['-n', NS], 'no'],
      ['update', 'ciliumidentities.cilium.io', [], 'no'],
      ['delete', 'namespaces', [], 'no'],
    ] as const) {
      assert.equal(await canI(kubeconfig, verb, resource, ...extra), want, `${verb} ${resource} ${extra.join(' ')}`);
    }
  });

  it('with external workloads on, the clustermesh-apiserver may write what it writes for VMs', async () => {
    await installClusterManifests(kc, { identities: IDENTITIES, externalWorkloads: true });
    const kubeconfig = await cp.userKubeconfig(CLUSTERMESH_APISERVER_USER);
    await cp.kubectlIn(
      stringify({ apiVersion: 'cilium.io/v2', kind: 'CiliumEndpoint', metadata: { name: 'vm-1', namespace: NS } }),
      `--kubeconfig=${kubeconfig}`,
      'create',
      '-f',
      '-',
    );
    for (const [verb, resource, extra, want] of [
      ['update', 'ciliumexternalworkloads.cilium.io', ['--subresource=status'], 'yes'],
      ['delete', 'ciliumnodes.cilium.io', [], 'yes'],
      ['create', 'ciliumidentities.cilium.io', [], 'yes'],
      ['update', 'ciliumexternalworkloads.cilium.io', [], 'no'],
      ['delete', 'ciliumidentities.cilium.io', [], 'no'],
    ] as const) {
      assert.equal(await canI(kubeconfig, verb, resource, ...extra), want, `${verb} ${resource} ${extra.join(' ')}`);
    }
  });
  it('lets an update through that keeps a bad value written before the policy, but not a new bad value', async () => {
    await kubectl('delete', 'validatingadmissionpolicybinding', SERVICE_ANNOTATIONS_POLICY);
    const legacy = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'legacy-affinity', namespace: NS, annotations: { 'service.cilium.io/affinity': 'sideways' } },
      spec: { ports: [{ port: 80 }] },
    };
    // The binding's removal takes a moment to reach the admission plugin.
    await eventually(
      () =>
        apply([legacy]).then(
          () => true,
          () => false,
        ),
      (ok) => ok,
      'a Service with a bad annotation accepted without the binding',
    );
    await installClusterManifests(kc, { identities: IDENTITIES, externalWorkloads: true });
    await kubectl('label', 'service', 'legacy-affinity', '-n', NS, 'touched=yes');
    const stderr = await refused(
      kubectl('annotate', '--overwrite', 'service', 'legacy-affinity', '-n', NS, 'service.cilium.io/affinity=upwards'),
    );
    assert.match(stderr, /"upwards" is not allowed/);
    await kubectl(
      'annotate',
      '--overwrite',
      'service',
      'legacy-affinity',
      '-n',
      NS,
      'service.cilium.io/affinity=remote',
    );
  });
});
