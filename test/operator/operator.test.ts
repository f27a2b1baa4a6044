import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import type { CiliumEndpoint, CiliumIdentity, Pod } from '../../src/k8s/types.js';
import { IDENTITY_LOCAL_OFFSET } from '../../src/operator/identity-allocator.js';
import { identityRange } from '../../src/wire/index.js';
import { parseIpRange, rangeContains } from '../../src/wire/ip.js';
import { CLUSTER, eventually, pod, service, useSuiteEtcd } from './helpers.js';

const range = identityRange(CLUSTER.id, CLUSTER.maxConnectedClusters);

describe('operator', () => {
  const { fixture } = useSuiteEtcd();

  it('creates one CiliumNode per node with its CIDR, addresses and a stable boot ID; removes extra managed ones only', async () => {
    const f = fixture();
    await f.store.create({
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNode',
      metadata: { name: 'east-node-9', labels: { 'cmesh.io/managed-by': 'operator' } },
      spec: {},
    });
    await f.store.create({ apiVersion: 'cilium.io/v2', kind: 'CiliumNode', metadata: { name: 'vm-1' }, spec: {} });
    const op = await f.startOperator();
    const nodes = await eventually(async () => {
      const { items } = await f.store.list('CiliumNode');
      assert.deepEqual(items.map((n) => n.metadata.name).sort(), ['east-node-1', 'east-node-2', 'east-node-3', 'vm-1']);
      return items;
    });
    const n2 = nodes.find((n) => n.metadata.name === 'east-node-2')!;
    assert.deepEqual(n2.metadata.labels, {
      'kubernetes.io/hostname': 'east-node-2',
      'cmesh.io/managed-by': 'operator',
    });
    // 172.16.0.0 + (7 << 11) + 2 = 172.16.56.2
    const spec = n2.spec!;
    assert.deepEqual(spec.addresses, [
      { type: 'InternalIP', ip: '172.16.56.2' },
      { type: 'CiliumInternalIP', ip: '10.7.1.1' },
    ]);
    assert.deepEqual(spec.health, { ipv4: '10.7.1.2' });
    assert.deepEqual(spec.ipam?.podCIDRs, ['10.7.1.0/24']);
    assert.deepEqual(spec.encryption, { key: 0 });
    assert.match(spec.bootid ?? '', /^[0-9a-f-]{36}$/);
    await op.idle();
    // A restarted operator keeps the boot IDs and writes nothing.
    await op.stop();
    const before = (await f.store.list('CiliumNode')).resourceVersion;
    const op2 = await f.startOperator();
    await op2.idle();
    const afterRestart = await f.store.list('CiliumNode');
    assert.equal(afterRestart.resourceVersion, before);
    assert.equal(afterRestart.items.find((n) => n.metadata.name === 'east-node-2')?.spec?.bootid, spec.bootid);
  });

  it('schedules pods on the least-loaded node and gives each a unique IP of its node CIDR', async () => {
    const f = fixture();
    await f.startOperator();
    const objs: Pod[] = [];
    for (let i = 0; i < 30; i++) objs.push(pod('shop', `web-${i}`, { app: 'web' }));
    await f.store.applyAll(objs);
    const pods = await eventually(async () => {
      const { items } = await f.store.list('Pod', { namespace: 'shop' });
      assert.equal(items.length, 30);
      for (const p of items) assert.equal(p.status?.phase, 'Running', p.metadata.name);
      return items;
    });
    const ips = new Set<string>();
    const perNode = new Map<string, number>();
    for (const p of pods) {
      const node = p.spec?.nodeName ?? '';
      assert.match(node, /^east-node-\d+$/);
      const idx = Number(node.slice('east-node-'.length));
      const cidr = parseIpRange(`10.7.${idx - 1}.0/24`);
      const ip = p.status?.podIP ?? '';
      assert.ok(rangeContains(cidr, ip), `${ip} in ${cidr.cidr}`);
      assert.ok(
        !['10.7.0.0', '10.7.0.1', '10.7.0.2'].includes(ip),
        "!['10.7.0.0', '10.7.0.1', '10.7.0.2'].includes(ip)",
      );
      ips.add(ip);
      perNode.set(node, (perNode.get(node) ?? 0) + 1);
      assert.deepEqual(p.status?.podIPs, [{ ip }]);
      assert.equal(p.status.hostIP, `172.16.56.${idx}`);
      assert.deepEqual(
        p.status.conditions?.find((c) => c.type === 'Ready'),
        { type: 'Ready', status: 'True' },
      );
    }
    assert.equal(ips.size, 30);
    assert.deepEqual([...perNode.values()], [10, 10, 10]);
  });

  it('allocates identities per label set inside the cluster range and writes complete CiliumEndpoints', async () => {
    const f = fixture();
    const op = await f.startOperator();
    await f.store.create({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'shop', labels: { team: 'a' } },
    });
    await f.store.applyAll([
      pod(
        'shop',
        'web-1',
        { app: 'web', 'pod-template-hash': 'abc' },
        {
          spec: {
            serviceAccountName: 'web',
            containers: [
              {
                name: 'main',
                ports: [
                  { name: 'http', containerPort: 8080 },
                  { containerPort: 9090 },
                  { name: 'dns', containerPort: 53, protocol: 'UDP' },
                ],
              },
            ],
          },
        },
      ),
      pod('shop', 'web-2', { app: 'web', 'pod-template-hash': 'def' }, { spec: { serviceAccountName: 'web' } }),
      pod('shop', 'db-1', { app: 'db' }),
    ]);
    const ceps = await eventually(async () => {
      const { items } = await f.store.list('CiliumEndpoint', { namespace: 'shop' });
      assert.equal(items.length, 3);
      return new Map(items.map((c) => [c.metadata.name, c]));
    });
    const web1 = ceps.get('web-1')!;
    const web2 = ceps.get('web-2')!;
    const db1 = ceps.get('db-1')!;
    const podWeb1 = (await f.store.get('Pod', 'shop', 'web-1'))!;
    const id = web1.status!.identity!.id;
    assert.equal(web2.status?.identity?.id, id, 'equal labels (modulo pod-template-hash) share an identity');
    assert.notEqual(db1.status?.identity?.id, id);
    for (const c of [web1, db1]) {
      const n = c.status!.identity!.id;
      assert.ok(n >= range.min + IDENTITY_LOCAL_OFFSET && n <= range.max, `${n} in range`);
    }
    // The shape the apiserver consumes (golden ipcache.json input).
    const golden = JSON.parse(await readFile('test/wire/golden/ipcache.json', 'utf8')) as {
      input: CiliumEndpoint;
    };
    assert.deepEqual(Object.keys(web1.status!).sort(), Object.keys(golden.input.status!).sort());
    assert.deepEqual(web1.metadata.ownerReferences, [
      { apiVersion: 'v1', kind: 'Pod', name: 'web-1', uid: podWeb1.metadata.uid },
    ]);
    assert.deepEqual(web1.status, {
      id: web1.status!.id,
      identity: {
        id,
        labels: [
          'k8s:app=web',
          'k8s:io.cilium.k8s.namespace.labels.team=a',
          'k8s:io.cilium.k8s.policy.cluster=east',
          'k8s:io.cilium.k8s.policy.serviceaccount=web',
          'k8s:io.kubernetes.pod.namespace=shop',
        ],
      },
      networking: { addressing: [{ ipv4: podWeb1.status!.podIP! }], node: podWeb1.status!.hostIP! },
      encryption: { key: 0 },
      'named-ports': [
        { name: 'http', port: 8080, protocol: 'TCP' },
        { name: 'dns', port: 53, protocol: 'UDP' },
      ],
      'service-account': 'web',
      state: 'ready',
    });
    const ids = new Set([web1, web2, db1].map((c) => c.status!.id));
    assert.equal(ids.size, 3, 'endpoint IDs are distinct');
    assert.equal(db1.status?.['service-account'], 'default');
    const identity = (await f.store.get('CiliumIdentity', undefined, String(id)))!;
    assert.deepEqual(identity['security-labels'], {
      'k8s:app': 'web',
      'k8s:io.cilium.k8s.namespace.labels.team': 'a',
      'k8s:io.cilium.k8s.policy.cluster': 'east',
      'k8s:io.cilium.k8s.policy.serviceaccount': 'web',
      'k8s:io.kubernetes.pod.namespace': 'shop',
    });
    assert.deepEqual(identity.metadata.labels, { 'io.kubernetes.pod.namespace': 'shop' });
    await op.idle();
    // Idempotent: nothing left to do means nothing written.
    const rev = (await f.store.list('Pod')).resourceVersion;
    await new Promise((r) => setTimeout(r, 200));
    await op.idle();
    assert.equal((await f.store.list('Pod')).resourceVersion, rev);
  });

  it('moves a pod to a new identity when its labels change, and GCs the unused one after the grace period', async () => {
    const f = fixture();
    const op = await f.startOperator({ identityGcGraceMs: 400, identityGcIntervalMs: 100 });
    await f.store.create(pod('app', 'a', { app: 'a' }));
    const first = await eventually(async () => {
      const c = await f.store.get('CiliumEndpoint', 'app', 'a');
      assert.ok(c?.status?.identity, 'c?.status?.identity');
      return c.status.identity.id;
    });
    const p = (await f.store.get('Pod', 'app', 'a'))!;
    const epId = (await f.store.get('CiliumEndpoint', 'app', 'a'))!.status!.id;
    await f.store.update({ ...p, metadata: { ...p.metadata, labels: { app: 'b' } } });
    const second = await eventually(async () => {
      const c = await f.store.get('CiliumEndpoint', 'app', 'a');
      assert.ok(
        c?.status?.identity && c.status.identity.id !== first,
        'c?.status?.identity && c.status.identity.id !== first',
      );
      assert.ok(c.status.identity.labels?.includes('k8s:app=b'), "c.status.identity.labels?.includes('k8s:app=b')");
      assert.equal(c.status.id, epId, 'the endpoint ID is stable');
      return c.status.identity.id;
    });
    await eventually(async () => {
      assert.equal(await f.store.get('CiliumIdentity', undefined, String(first)), undefined);
    });
    assert.ok(
      await f.store.get('CiliumIdentity', undefined, String(second)),
      "await f.store.get('CiliumIdentity', undefined, String(second))",
    );
    // Deleting the pod deletes its endpoint, then (after the grace) its identity.
    await f.store.delete('Pod', 'app', 'a');
    await eventually(async () => {
      assert.equal(await f.store.get('CiliumEndpoint', 'app', 'a'), undefined);
    });
    assert.ok(await f.store.get('CiliumIdentity', undefined, String(second)), 'kept during the grace period');
    await eventually(async () => {
      assert.equal(await f.store.get('CiliumIdentity', undefined, String(second)), undefined);
    });
    await op.idle();
  });

  it('leaves directly applied CiliumEndpoints, foreign identities and host-network pods alone', async () => {
    const f = fixture();
    const manual: CiliumEndpoint = {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumEndpoint',
      metadata: { name: 'vm', namespace: 'ext' },
      status: {
        id: 7,
        identity: { id: range.min + 5, labels: ['k8s:app=vm'] },
        networking: { addressing: [{ ipv4: '192.168.1.5' }], node: '192.168.1.1' },
      },
    };
    await f.store.create(manual);
    const handIdentity: CiliumIdentity = {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumIdentity',
      metadata: { name: String(range.min + 6) },
      'security-labels': { 'k8s:app': 'manual' },
    };
    await f.store.create(handIdentity);
    const op = await f.startOperator({ identityGcGraceMs: 100, identityGcIntervalMs: 50 });
    // A pod of the same name as the manual endpoint: the endpoint is not the pod's, so it stays as it is.
    await f.store.create(pod('ext', 'vm', { app: 'x' }));
    await f.store.create(pod('ext', 'host', { app: 'h' }, { spec: { hostNetwork: true } }));
    await eventually(async () => {
      const p = await f.store.get('Pod', 'ext', 'vm');
      assert.equal(p?.status?.phase, 'Running');
      const h = await f.store.get('Pod', 'ext', 'host');
      assert.equal(h?.status?.podIP, h?.status?.hostIP);
      assert.ok(h?.status?.podIP?.startsWith('172.16.56.'), "h?.status?.podIP?.startsWith('172.16.56.')");
    });
    await op.idle();
    await new Promise((r) => setTimeout(r, 300));
    await op.collectIdentities(Date.now() + 1000);
    const cep = await f.store.get('CiliumEndpoint', 'ext', 'vm');
    assert.ok(cep, 'cep');
    assert.deepEqual(cep.status, manual.status);
    assert.equal(cep.metadata.ownerReferences, undefined);
    assert.equal(await f.store.get('CiliumEndpoint', 'ext', 'host'), undefined);
    assert.ok(await f.store.get('CiliumIdentity', undefined, String(range.min + 6)), 'hand-made identity kept');
    // Deleting the pod leaves the manual endpoint in place.
    await f.store.delete('Pod', 'ext', 'vm');
    await op.idle();
    assert.ok(await f.store.get('CiliumEndpoint', 'ext', 'vm'), "await f.store.get('CiliumEndpoint', 'ext', 'vm')");
  });

  it('allocates ClusterIPs from the service CIDR and keeps clusterIPs consistent', async () => {
    const f = fixture();
    await f.startOperator();
    await f.store.applyAll([
      service('shop', 'web', { selector: { app: 'web' }, ports: [{ port: 80 }] }),
      service('shop', 'api', { selector: { app: 'api' }, ports: [{ port: 80 }] }),
      service('shop', 'fixed', { clusterIP: '10.96.7.7', ports: [{ port: 80 }] }),
      service('shop', 'headless', { clusterIP: 'None', selector: { app: 'web' }, ports: [{ port: 80 }] }),
      service('shop', 'ext', { type: 'ExternalName', externalName: 'example.com' }),
    ]);
    const svcs = await eventually(async () => {
      const { items } = await f.store.list('Service', { namespace: 'shop' });
      const by = new Map(items.map((s) => [s.metadata.name, s]));
      for (const n of ['web', 'api', 'fixed']) {
        const s = by.get(n)!;
        assert.ok(s.spec?.clusterIP, n);
        assert.deepEqual(s.spec.clusterIPs, [s.spec.clusterIP]);
      }
      return by;
    });
    const cidr = parseIpRange('10.96.0.0/16');
    const web = svcs.get('web')!.spec!.clusterIP!;
    const api = svcs.get('api')!.spec!.clusterIP!;
    assert.ok(
      rangeContains(cidr, web) && rangeContains(cidr, api),
      'rangeContains(cidr, web) && rangeContains(cidr, api)',
    );
    assert.notEqual(web, api);
    assert.equal(svcs.get('fixed')?.spec?.clusterIP, '10.96.7.7');
    assert.equal(svcs.get('headless')?.spec?.clusterIP, 'None');
    assert.equal(svcs.get('ext')?.spec?.clusterIP, undefined);
    // Re-applying the manifest (without clusterIP) gets the same address back.
    await f.store.apply(service('shop', 'web', { selector: { app: 'web' }, ports: [{ port: 80 }] }));
    await eventually(async () => {
      const s = await f.store.get('Service', 'shop', 'web');
      assert.equal(s?.spec?.clusterIP, web);
    });
  });
});
