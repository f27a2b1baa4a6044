/**
 * Smoke check of the pinned control plane that setup builds (issue 19): etcd 3.6, kube-apiserver, the controller
 * manager and the scheduler on free loopback ports with their own PKI (src/mesh/control-plane.ts), driven by kubectl.
 * Nothing here connects to a non-loopback address.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { KUBE_VERSION } from '../../src/mesh/kube-binaries.js';
import { startTestControlPlane, type TestControlPlane } from '../harness/kube.js';
import { eventually } from '../harness/eventually.js';

/** A loopback service range (data only for kube-apiserver: it binds nothing there). */
const SERVICE_CIDR = '127.61.128.0/17';
const SERVICE_FIRST_IP = '127.61.128.1';
const POD_CIDR = '10.61.0.0/17';
/** A pod address as cmesh gives cluster N (10.N.0.0/17; the datapath serves it on 127.N.x.y). */
const POD_IP = '10.61.0.10';

describe(`the pinned control plane on loopback (etcd, kube-apiserver ${KUBE_VERSION}, controllers, kubectl)`, () => {
  let cp: TestControlPlane;
  let dir: string;
  const kubectl = (...args: string[]): Promise<string> => cp.kubectl(...args);

  before(async () => {
    cp = await startTestControlPlane({ name: 'smoke', podCidr: POD_CIDR, serviceCidr: SERVICE_CIDR });
    dir = cp.dir;
  });

  after(async () => {
    await cp.stop();
  });

  it('kubectl reads /readyz and the server version', async () => {
    assert.equal((await kubectl('get', '--raw', '/readyz')).trim(), 'ok');
    const v = JSON.parse(await kubectl('version', '-o', 'json')) as {
      clientVersion?: { gitVersion?: string };
      serverVersion?: { gitVersion?: string };
    };
    assert.equal(v.clientVersion?.gitVersion, KUBE_VERSION, 'kubectl client version');
    assert.equal(v.serverVersion?.gitVersion, KUBE_VERSION, 'kube-apiserver version as kubectl sees it');
  });

  it('kubectl creates a namespace and reads it back', async () => {
    await kubectl('create', 'namespace', 'x');
    const ns = JSON.parse(await kubectl('get', 'ns', 'x', '-o', 'json')) as {
      kind?: string;
      metadata?: { name?: string; uid?: string };
      status?: { phase?: string };
    };
    assert.equal(ns.kind, 'Namespace');
    assert.equal(ns.metadata?.name, 'x');
    assert.ok(ns.metadata.uid, `the namespace has a uid: ${JSON.stringify(ns)}`);
    assert.equal(ns.status?.phase, 'Active');
  });

  it(`accepts a loopback service range: the kubernetes Service is ${SERVICE_FIRST_IP}, a new one gets an IP in it`, async () => {
    const k = JSON.parse(await kubectl('get', 'svc', 'kubernetes', '-n', 'default', '-o', 'json')) as {
      spec?: { clusterIP?: string };
    };
    assert.equal(k.spec?.clusterIP, SERVICE_FIRST_IP);
    const svc = JSON.parse(
      await kubectl('create', 'service', 'clusterip', 'web', '-n', 'x', '--tcp=80:8080', '-o', 'json'),
    ) as { spec?: { clusterIP?: string } };
    const ip = svc.spec?.clusterIP ?? '';
    const [a, b, c] = ip.split('.').map(Number);
    assert.ok(a === 127 && b === 61 && c !== undefined && c >= 128, `clusterIP ${ip} is in ${SERVICE_CIDR}`);
  });

  it('refuses loopback addresses in an EndpointSlice (why pod CIDRs are in 10/8, not 127/8)', async () => {
    const file = path.join(dir, 'slice.yaml');
    await writeFile(
      file,
      stringify({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: 'web-loopback', namespace: 'x', labels: { 'kubernetes.io/service-name': 'web' } },
        addressType: 'IPv4',
        endpoints: [{ addresses: ['127.61.0.10'] }],
        ports: [{ name: '', port: 8080, protocol: 'TCP' }],
      }),
    );
    await assert.rejects(kubectl('create', '-f', file), (err: unknown) => {
      const stderr = (err as { stderr?: string }).stderr ?? String(err);
      assert.match(stderr, /may not be in the loopback range/);
      return true;
    });
  });

  it(`accepts the pod addresses cmesh gives clusters (${POD_IP}) in an EndpointSlice`, async () => {
    const file = path.join(dir, 'slice-pods.yaml');
    await writeFile(
      file,
      stringify({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: 'web-pods', namespace: 'x', labels: { 'kubernetes.io/service-name': 'web' } },
        addressType: 'IPv4',
        endpoints: [{ addresses: [POD_IP] }],
        ports: [{ name: '', port: 8080, protocol: 'TCP' }],
      }),
    );
    const created = JSON.parse(await kubectl('create', '-f', file, '-o', 'json')) as {
      endpoints?: { addresses?: string[] }[];
    };
    assert.deepEqual(created.endpoints?.[0]?.addresses, [POD_IP]);
  });

  it('the controller manager gives a new Node a /24 of the pod CIDR (node IPAM)', async () => {
    await cp.kubectlIn(
      stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'smoke-node-1' } }),
      'apply',
      '-f',
      '-',
    );
    const cidr = await eventually(
      async () =>
        (JSON.parse(await kubectl('get', 'node', 'smoke-node-1', '-o', 'json')) as { spec?: { podCIDR?: string } }).spec
          ?.podCIDR ?? '',
      (c) => c !== '',
      'a PodCIDR on node smoke-node-1',
    );
    assert.match(cidr, /^10\.61\.\d+\.0\/24$/);
  });

  it('an identity other than the admin is refused what RBAC does not grant it', async () => {
    const kc = await cp.userKubeconfig('cmesh:nobody');
    await assert.rejects(cp.kubectl(`--kubeconfig=${kc}`, 'get', 'pods', '-A'), (err: unknown) => {
      assert.match((err as { stderr?: string }).stderr ?? '', /forbidden/i);
      return true;
    });
  });
});
