import { strict as assert } from 'node:assert';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ClusterDirectory } from '../../../src/agent/tables/cluster-directory.js';
import { hostAddress, PodServer, ServiceProxy } from '../../../src/agent/datapath/index.js';
import { Ipcache } from '../../../src/agent/tables/ipcache.js';
import { PolicyEngine } from '../../../src/agent/policy/index.js';
import { ServiceTable } from '../../../src/agent/tables/service-table.js';
import type { CiliumNetworkPolicy } from '../../../src/k8s/types.js';
import { clusterService, service, slice } from '../fixtures.js';

// Addresses unique to this process so concurrent test runs do not collide. c1's pods are in 10/8 (served on
// 127.10.x.y, as clusters get them today); c2's are loopback pod IPs, as clusters created before had them.
const NET = 100 + (process.pid % 100);
const POD = (c: 1 | 2, i: number): string => (c === 1 ? `10.10.${NET}.${i}` : `127.11.${NET}.${i}`);
const FE = `127.96.${NET}.10`;
const FE_NONE = `127.96.${NET}.11`;
const FE_FAR = `127.96.${NET}.12`;
const SVC_PORT = 8000;
const LOCAL_PORT = 8080;
const REMOTE_PORT = 9090;

const ID = { client: 65537, web: 65538, db: 65539, remoteWeb: 131074, remoteClient: 131073 };

function labels(cluster: string, app: string): string[] {
  return [`k8s:app=${app}`, 'k8s:io.kubernetes.pod.namespace=test', `k8s:io.cilium.k8s.policy.cluster=${cluster}`];
}

function cnp(name: string, spec: Record<string, unknown>): CiliumNetworkPolicy {
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumNetworkPolicy',
    metadata: { name, namespace: 'test' },
    spec: spec,
  };
}

type Result = { ok: true; body: string } | { ok: false; code: string };

/** A request from the pod `fromPod`: from its loopback address. */
function request(host: string, port: number, fromPod: string): Promise<Result> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port, localAddress: hostAddress(fromPod) ?? 'no loopback address' });
    let data = '';
    sock.on('connect', () => sock.write('GET / HTTP/1.0\r\n\r\n'));
    sock.on('data', (c: Buffer) => (data += c.toString()));
    sock.on('error', (err: NodeJS.ErrnoException) => {
      resolve({ ok: false, code: err.code ?? err.message });
    });
    sock.on('close', () => {
      if (data.startsWith('HTTP/1.0 200')) resolve({ ok: true, body: data.slice(data.indexOf('\r\n\r\n') + 4).trim() });
      else resolve({ ok: false, code: data === '' ? 'EMPTY' : data });
    });
  });
}

describe('service proxy on loopback sockets', () => {
  const dir = new ClusterDirectory('c1', 1, 255);
  const ipcache = new Ipcache(dir);
  const c1 = new PolicyEngine({ clusterName: 'c1' });
  const c2 = new PolicyEngine({ clusterName: 'c2' });
  const proxy = new ServiceProxy({
    clusterName: 'c1',
    ipcache,
    policy: c1,
    remotePolicy: (c) => (c === 'c2' ? c2 : undefined),
  });
  const table = new ServiceTable({
    clusterName: 'c1',
    clusterId: 1,
    onChange: (ref, svc) => {
      proxy.onServiceChange(ref, svc);
    },
  });
  const pods: PodServer[] = [];
  /** What the agent gives its sample servers: the pod IP behind a client's socket address. */
  const fromPod = (socketAddress: string): string => proxy.podAddressOf(socketAddress);

  const pair = (ip: string, id: number, pod: string) => ({
    IP: ip,
    HostIP: '',
    ID: id,
    Key: 0,
    Metadata: '',
    K8sNamespace: 'test',
    K8sPodName: pod,
  });
  const localPod = (i: number, pod: string, id: number, app: string, server: boolean): void => {
    ipcache.upsertLocal(`test/${pod}`, [pair(POD(1, i), id, pod)]);
    c1.upsertIdentity(id, labels('c1', app));
    c1.upsertEndpoint({
      id: `test/${pod}`,
      namespace: 'test',
      identity: id,
      labels: labels('c1', app),
      ips: [POD(1, i)],
    });
    if (server)
      pods.push(
        new PodServer({ ip: POD(1, i), port: LOCAL_PORT, cluster: 'c1', pod: `test/${pod}`, peerAddress: fromPod }),
      );
  };

  before(async () => {
    localPod(1, 'client', ID.client, 'client', false);
    localPod(2, 'web-a', ID.web, 'web', true);
    localPod(3, 'web-b', ID.web, 'web', true);
    localPod(4, 'db', ID.db, 'db', false);
    // c2's pods: in c1's ipcache and identities (as ClusterMesh delivers them) and in c2's own engine.
    for (const [i, pod, id, app] of [
      [1, 'web-r', ID.remoteWeb, 'web'],
      [2, 'client-r', ID.remoteClient, 'client'],
    ] as const) {
      ipcache.upsertRemote('c2', POD(2, i), pair(POD(2, i), id, pod));
      c1.upsertIdentity(id, labels('c2', app));
      c2.upsertIdentity(id, labels('c2', app));
      c2.upsertEndpoint({
        id: `test/${pod}`,
        namespace: 'test',
        identity: id,
        labels: labels('c2', app),
        ips: [POD(2, i)],
      });
    }
    c2.upsertIdentity(ID.client, labels('c1', 'client'));
    c2.upsertIdentity(ID.db, labels('c1', 'db'));
    pods.push(
      new PodServer({ ip: POD(2, 1), port: REMOTE_PORT, cluster: 'c2', pod: 'test/web-r', peerAddress: fromPod }),
    );
    await Promise.all(pods.map((p) => p.start()));

    table.upsertLocalService(
      service('web', { clusterIP: FE, global: true, ports: [{ name: 'http', port: SVC_PORT }] }),
    );
    table.upsertEndpointSlice(slice('web-1', 'web', [POD(1, 2), POD(1, 3)], [{ name: 'http', port: LOCAL_PORT }]));
    table.upsertRemoteService(
      'c2',
      clusterService('c2', 2, 'web', [POD(2, 1)], { ports: { http: { Protocol: 'TCP', Port: REMOTE_PORT } } }),
    );
    table.upsertLocalService(service('none', { clusterIP: FE_NONE, ports: [{ name: 'http', port: SVC_PORT }] }));
    table.upsertLocalService(
      service('elsewhere', { clusterIP: '10.96.0.10', ports: [{ name: 'http', port: SVC_PORT }] }),
    );
    table.upsertEndpointSlice(slice('elsewhere-1', 'elsewhere', ['10.244.0.5'], [{ name: 'http', port: LOCAL_PORT }]));
    // A loopback frontend whose only backend has no socket on this machine.
    table.upsertLocalService(service('far', { clusterIP: FE_FAR, ports: [{ name: 'http', port: SVC_PORT }] }));
    table.upsertEndpointSlice(slice('far-1', 'far', ['192.168.77.5'], [{ name: 'http', port: LOCAL_PORT }]));
    await proxy.ready();
  });

  after(async () => {
    await proxy.close();
    await Promise.all(pods.map((p) => p.close()));
  });

  it('listens on loopback frontends only', () => {
    const l = proxy.listeners();
    assert.deepEqual(
      l.map((x) => [x.frontend, x.state]),
      [
        [`10.96.0.10:${SVC_PORT}/TCP`, 'not-loopback'],
        [`${FE}:${SVC_PORT}/TCP`, 'listening'],
        [`${FE_NONE}:${SVC_PORT}/TCP`, 'listening'],
        [`${FE_FAR}:${SVC_PORT}/TCP`, 'listening'],
      ],
    );
    const d = proxy.decide({
      srcIp: POD(1, 1),
      srcPort: 1,
      frontendAddress: '10.96.0.10',
      frontendPort: SVC_PORT,
      protocol: 'TCP',
    });
    assert.equal(d.verdict, 'forwarded');
    assert.equal(d.backend?.address, '10.244.0.5');
  });

  it("forwards to every backend of a global service, keeping the client's address, seen as its pod IP", async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const r = await request(FE, SVC_PORT, POD(1, 1));
      assert.ok(r.ok, JSON.stringify(r));
      assert.match(r.body, new RegExp(`from=${POD(1, 1).replaceAll('.', '\\.')}$`));
      seen.add(r.body.split(' ')[1]!);
    }
    assert.deepEqual([...seen].sort(), ['pod=test/web-a', 'pod=test/web-b', 'pod=test/web-r']);
    assert.ok(proxy.counters().forwarded >= 40);
  });

  it('applies affinity and skips unreachable clusters', async () => {
    table.upsertLocalService(
      service('web', { clusterIP: FE, global: true, affinity: 'remote', ports: [{ name: 'http', port: SVC_PORT }] }),
    );
    for (let i = 0; i < 5; i++) {
      const r = await request(FE, SVC_PORT, POD(1, 1));
      assert.ok(r.ok && r.body.startsWith('cluster=c2 pod=test/web-r'), JSON.stringify(r));
    }
    table.setReachable('c2', false);
    for (let i = 0; i < 5; i++) {
      const r = await request(FE, SVC_PORT, POD(1, 1));
      assert.ok(r.ok && r.body.startsWith('cluster=c1 '), JSON.stringify(r));
    }
    table.setReachable('c2', true);
    table.upsertLocalService(
      service('web', { clusterIP: FE, global: true, affinity: 'local', ports: [{ name: 'http', port: SVC_PORT }] }),
    );
  });

  it('refuses by ingress policy of the destination and counts it', async () => {
    c1.upsertPolicy(
      cnp('web-from-client', {
        endpointSelector: { matchLabels: { app: 'web' } },
        ingress: [
          {
            fromEndpoints: [{ matchLabels: { app: 'client' } }],
            toPorts: [{ ports: [{ port: String(LOCAL_PORT), protocol: 'TCP' }] }],
          },
        ],
      }),
    );
    const denied0 = proxy.counters()['policy-denied'];
    const ok = await request(FE, SVC_PORT, POD(1, 1));
    assert.equal(ok.ok, true);
    const no = await request(FE, SVC_PORT, POD(1, 4));
    assert.deepEqual(no, { ok: false, code: 'ECONNRESET' });
    assert.equal(proxy.counters()['policy-denied'], denied0 + 1);
    const d = proxy.decide({
      srcIp: POD(1, 4),
      srcPort: 5,
      frontendAddress: FE,
      frontendPort: SVC_PORT,
      protocol: 'TCP',
    });
    assert.equal(d.deniedAt, 'ingress');
    assert.equal(d.ingress?.reason.kind, 'default-deny');
    c1.deletePolicy('CiliumNetworkPolicy', 'test', 'web-from-client');
  });

  it('refuses by egress policy of the source', async () => {
    c1.upsertPolicy(
      cnp('client-deny-web', {
        endpointSelector: { matchLabels: { app: 'client' } },
        egress: [{ toEntities: ['all'] }],
        egressDeny: [{ toEndpoints: [{ matchLabels: { app: 'web' } }] }],
      }),
    );
    const r = await request(FE, SVC_PORT, POD(1, 1));
    assert.deepEqual(r, { ok: false, code: 'ECONNRESET' });
    const d = proxy.decide({
      srcIp: POD(1, 1),
      srcPort: 7,
      frontendAddress: FE,
      frontendPort: SVC_PORT,
      protocol: 'TCP',
    });
    assert.equal(d.deniedAt, 'egress');
    assert.equal(d.egress?.reason.kind, 'deny');
    c1.deletePolicy('CiliumNetworkPolicy', 'test', 'client-deny-web');
  });

  it("judges a remote backend's ingress with its own cluster's policy", async () => {
    table.upsertLocalService(
      service('web', { clusterIP: FE, global: true, affinity: 'remote', ports: [{ name: 'http', port: SVC_PORT }] }),
    );
    // c2 allows only c1's clients: the cluster label is explicit, as default-local-cluster requires.
    c2.upsertPolicy(
      cnp('web-from-c1-client', {
        endpointSelector: { matchLabels: { app: 'web' } },
        ingress: [{ fromEndpoints: [{ matchLabels: { app: 'client', 'io.cilium.k8s.policy.cluster': 'c1' } }] }],
      }),
    );
    const ok = await request(FE, SVC_PORT, POD(1, 1));
    assert.ok(ok.ok && ok.body.startsWith('cluster=c2'), JSON.stringify(ok));
    const no = await request(FE, SVC_PORT, POD(1, 4));
    assert.deepEqual(no, { ok: false, code: 'ECONNRESET' });
    c2.deletePolicy('CiliumNetworkPolicy', 'test', 'web-from-c1-client');
    table.upsertLocalService(
      service('web', { clusterIP: FE, global: true, ports: [{ name: 'http', port: SVC_PORT }] }),
    );
  });

  it("reads a client's socket address back as its pod IP: the 10/8 form the ipcache knows, else the address", () => {
    assert.equal(proxy.podAddressOf(hostAddress(POD(1, 1))!), POD(1, 1));
    assert.equal(proxy.podAddressOf(`127.10.${NET}.1`), POD(1, 1));
    assert.equal(proxy.podAddressOf(POD(2, 2)), POD(2, 2), 'a loopback pod IP is its own socket address');
    assert.equal(proxy.podAddressOf('127.0.0.1'), '127.0.0.1', 'no pod: the address itself');
    assert.equal(proxy.podAddressOf(`127.10.${NET}.99`), `127.10.${NET}.99`, 'no such pod: the address itself');
  });

  it('never connects to a backend without a loopback address: the flow is reset', async () => {
    const before = proxy.counters()['no-backend'];
    const r = await request(FE_FAR, SVC_PORT, POD(1, 1));
    assert.deepEqual(r, { ok: false, code: 'ECONNRESET' });
    assert.equal(proxy.counters()['no-backend'], before + 1);
    assert.equal(proxy.counters()['connect-failed'], 0, 'no connect was attempted');
  });

  it('resets connections to a service without backends', async () => {
    const before = proxy.counters()['no-backend'];
    const r = await request(FE_NONE, SVC_PORT, POD(1, 1));
    assert.deepEqual(r, { ok: false, code: 'ECONNRESET' });
    assert.equal(proxy.counters()['no-backend'], before + 1);
  });

  it('closes the listener when the service goes away', async () => {
    table.deleteLocalService('test', 'none');
    await new Promise((r) => setTimeout(r, 50));
    const r = await request(FE_NONE, SVC_PORT, POD(1, 1));
    assert.deepEqual(r, { ok: false, code: 'ECONNREFUSED' });
    assert.equal(
      proxy.listeners().some((l) => l.frontend.startsWith(FE_NONE)),
      false,
    );
  });
});
