/**
 * Two agents of two clusters in one process, each on its own real state etcd, connected by a stand-in for the
 * remote side that delivers what the other cluster's clustermesh-apiserver would. A client with a cluster-1 pod
 * address calls the global service frontend served by agent 1; backends in cluster 2 are reached through agent
 * 2's tunnel, which enforces cluster 2's ingress policy. Pod IPs are in 10/8, as local clusters get them: every
 * socket is on their loopback addresses (10.a.b.c on 127.a.b.c), while the ipcache and the tunnel carry the pod IPs.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from '../../src/agent/agent.js';
import { AgentClient } from '../../src/agent/api/api-client.js';
import { AgentApiServer } from '../../src/agent/api/api-server.js';
import type {
  ClusterMeshHandle,
  RemoteClusterSink,
  RemoteClusterStatus,
} from '../../src/agent/remote/remote-cluster-types.js';
import { hostAddress } from '../../src/agent/datapath/host-address.js';
import { SAMPLE_SERVER_ANNOTATION } from '../../src/agent/sample-servers.js';
import { LocalClusterSource } from '../../src/k8s/local-source.js';
import { ObjectStore } from '../../src/k8s/object-store.js';
import type { CiliumEndpoint, CiliumNetworkPolicy, CiliumNode, Pod } from '../../src/k8s/types.js';
import { newNode, parseLabel, type IPIdentityPair } from '../../src/wire/index.js';
import { TestEtcd } from '../harness/etcd.js';
import { ciliumIdentity, clusterService, service, slice } from './fixtures.js';

const WAIT_LIMIT_MS = 20_000;
const REQUESTS = 24;
// Addresses unique to this process so concurrent test runs do not collide.
const NET = 100 + (process.pid % 100);
const C1_POD = (i: number): string => `10.30.${NET}.${i}`;
const C2_POD = (i: number): string => `10.31.${NET}.${i}`;
/**
 * Node 1 of c1 has a loopback InternalIP; node 1 of c2 a non-loopback one (data, as local clusters give their
 * nodes) and a CiliumInternalIP in its pod CIDR, whose loopback address the tunnel listens on.
 */
const C1_NODE_IP = `127.32.${NET}.1`;
const C2_NODE_IP = '172.16.16.1';
const C2_ROUTER_IP = C2_POD(1);
const C2_TUNNEL_IP = `127.31.${NET}.1`;
const FE = `127.33.${NET}.10`;
const SVC_PORT = 80;
const POD_PORT = 8080;
const ID = { client: 65537, other: 65538, echo1: 65539, echo2: 131073 };

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

function secLabels(cluster: string, app: string): Record<string, string> {
  return { 'k8s:app': app, 'k8s:io.kubernetes.pod.namespace': 'test', 'k8s:io.cilium.k8s.policy.cluster': cluster };
}

function labelList(cluster: string, app: string): string[] {
  return Object.entries(secLabels(cluster, app)).map(([k, v]) => `${k}=${v}`);
}

function node(name: string, podCidr: string, internal: string, router: string): CiliumNode {
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumNode',
    metadata: { name },
    spec: {
      addresses: [
        { type: 'InternalIP', ip: internal },
        { type: 'CiliumInternalIP', ip: router },
      ],
      ipam: { podCIDRs: [podCidr] },
    },
  };
}

function cep(name: string, ip: string, identity: number, nodeIp: string): CiliumEndpoint {
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumEndpoint',
    metadata: { name, namespace: 'test' },
    status: {
      id: 100,
      identity: { id: identity },
      networking: { addressing: [{ ipv4: ip }], node: nodeIp },
      state: 'ready',
    },
  };
}

function samplePod(name: string, nodeName: string, ip: string): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'test', labels: { app: 'echo' }, annotations: { [SAMPLE_SERVER_ANNOTATION]: '8080' } },
    spec: { nodeName, containers: [{ name: 'echo' }] },
    status: { phase: 'Running', podIP: ip },
  };
}

function cnp(name: string, spec: Record<string, unknown>): CiliumNetworkPolicy {
  return { apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', metadata: { name, namespace: 'test' }, spec };
}

function pair(ip: string, id: number, pod: string, hostIp: string): IPIdentityPair {
  return { IP: ip, HostIP: hostIp, ID: id, Key: 0, Metadata: '', K8sNamespace: 'test', K8sPodName: pod };
}

/** Stands in for the remote side: delivers a fixed picture of the other cluster into the sink. */
class StaticMesh implements ClusterMeshHandle {
  constructor(
    private readonly sink: RemoteClusterSink,
    private readonly feed: (sink: RemoteClusterSink) => void,
  ) {}

  start(): void {
    this.feed(this.sink);
  }

  synced(): Promise<void> {
    return Promise.resolve();
  }

  status(): RemoteClusterStatus[] {
    return [];
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }
}

type Result = { ok: true; body: string } | { ok: false; code: string };

/** A request from the pod `fromPod`: from the loopback address of its pod IP. */
function request(fromPod: string): Promise<Result> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: FE, port: SVC_PORT, localAddress: hostAddress(fromPod) ?? 'none' });
    let data = '';
    sock.setTimeout(10_000, () => sock.destroy(new Error('TIMEOUT')));
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

async function requests(from: string, n = REQUESTS): Promise<Result[]> {
  const out: Result[] = [];
  for (let i = 0; i < n; i++) out.push(await request(from));
  return out;
}

describe('two agents: global service, tunnel and policy across clusters', () => {
  let etcd1: TestEtcd;
  let etcd2: TestEtcd;
  let store1: ObjectStore;
  let store2: ObjectStore;
  let src1: LocalClusterSource;
  let src2: LocalClusterSource;
  let a1: Agent;
  let a2: Agent;
  let api: AgentApiServer;
  let dir: string;

  before(async () => {
    [etcd1, etcd2] = await Promise.all([TestEtcd.start(), TestEtcd.start()]);
    store1 = new ObjectStore(await etcd1.client());
    store2 = new ObjectStore(await etcd2.client());
    await store1.create(node('c1-node-1', `10.30.${NET}.0/24`, C1_NODE_IP, C1_POD(1)));
    await store1.create(ciliumIdentity(ID.client, secLabels('c1', 'client')));
    await store1.create(ciliumIdentity(ID.other, secLabels('c1', 'other')));
    await store1.create(ciliumIdentity(ID.echo1, secLabels('c1', 'echo')));
    await store1.create(cep('client', C1_POD(10), ID.client, C1_NODE_IP));
    await store1.create(cep('other', C1_POD(11), ID.other, C1_NODE_IP));
    await store1.create(cep('echo-c1', C1_POD(20), ID.echo1, C1_NODE_IP));
    await store1.create(samplePod('echo-c1', 'c1-node-1', C1_POD(20)));
    await store1.create(service('echo', { clusterIP: FE, global: true, ports: [{ name: 'http', port: SVC_PORT }] }));
    await store1.create(slice('echo-1', 'echo', [C1_POD(20)], [{ name: 'http', port: POD_PORT }]));

    await store2.create(node('c2-node-1', `10.31.${NET}.0/24`, C2_NODE_IP, C2_ROUTER_IP));
    await store2.create(ciliumIdentity(ID.echo2, secLabels('c2', 'echo')));
    await store2.create(cep('echo-c2', C2_POD(20), ID.echo2, C2_NODE_IP));
    await store2.create(samplePod('echo-c2', 'c2-node-1', C2_POD(20)));

    src1 = new LocalClusterSource(await etcd1.client());
    src2 = new LocalClusterSource(await etcd2.client());
    a1 = new Agent({
      clusterName: 'c1',
      clusterId: 1,
      nodeName: 'c1-node-1',
      source: src1,
      serviceCidr: `127.33.${NET}.0/24`,
      clusterMesh: (sink) =>
        new StaticMesh(sink, (s) => {
          s.upsertNode(
            'c2',
            newNode('c2-node-1', {
              Cluster: 'c2',
              ClusterID: 2,
              IPAddresses: [
                { Type: 'InternalIP', IP: C2_NODE_IP },
                { Type: 'CiliumInternalIP', IP: C2_ROUTER_IP },
              ],
            }),
          );
          s.upsertIdentity('c2', ID.echo2, labelList('c2', 'echo').map(parseLabel));
          s.upsertIpcache('c2', C2_POD(20), pair(C2_POD(20), ID.echo2, 'echo-c2', C2_NODE_IP));
          s.upsertService(
            'c2',
            clusterService('c2', 2, 'echo', [C2_POD(20)], { ports: { http: { Protocol: 'TCP', Port: POD_PORT } } }),
          );
        }),
    });
    a2 = new Agent({
      clusterName: 'c2',
      clusterId: 2,
      nodeName: 'c2-node-1',
      source: src2,
      clusterMesh: (sink) =>
        new StaticMesh(sink, (s) => {
          for (const [id, app] of [
            [ID.client, 'client'],
            [ID.other, 'other'],
            [ID.echo1, 'echo'],
          ] as const)
            s.upsertIdentity('c1', id, labelList('c1', app).map(parseLabel));
          s.upsertIpcache('c1', C1_POD(10), pair(C1_POD(10), ID.client, 'client', C1_NODE_IP));
          s.upsertIpcache('c1', C1_POD(11), pair(C1_POD(11), ID.other, 'other', C1_NODE_IP));
        }),
    });
    a1.start();
    a2.start();
    await Promise.all([a1.synced(), a2.synced()]);
    dir = await mkdtemp(path.join(tmpdir(), 'cmesh-dp-'));
    api = new AgentApiServer(a1, path.join(dir, 'a1.sock'));
    await api.listen();
    await waitFor('the frontend, the tunnel and both sample servers', async () => {
      await Promise.all([a1.datapathReady(), a2.datapathReady()]);
      const d1 = a1.datapath();
      const d2 = a2.datapath();
      const listening = d1.listeners.some((l) => l.frontend === `${FE}:${SVC_PORT}/TCP` && l.state === 'listening');
      const backends = a1.serviceList().find((s) => s.service === 'test/echo')?.backends.length === 2;
      return listening &&
        backends &&
        d2.tunnel?.state === 'listening' &&
        d1.sampleServers.length === 1 &&
        d2.sampleServers.length === 1
        ? true
        : undefined;
    });
  });

  after(async () => {
    await api.close();
    await a1.stop();
    await a2.stop();
    await src1.close();
    await src2.close();
    await Promise.all([etcd1.stop(), etcd2.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  it('opens the node tunnel on the loopback address of its node, and none elsewhere', () => {
    // c1's InternalIP is loopback: the tunnel is there. c2's is not: the loopback address of its CiliumInternalIP.
    assert.equal(a1.datapath().tunnel?.address, C1_NODE_IP);
    assert.equal(a2.datapath().tunnel?.address, C2_TUNNEL_IP);
    assert.equal(a1.tunnelRoute(C2_POD(20)), C2_TUNNEL_IP);
    assert.equal(a1.tunnelRoute(C1_POD(20)), undefined, 'an endpoint of this node is reached directly');
    assert.deepEqual(a2.datapath().listeners, [], 'c2 serves no frontend (no loopback service CIDR given)');
    assert.deepEqual(
      a1.datapath().sampleServers.map((s) => [s.pod, s.address, s.socket, s.state]),
      [['test/echo-c1', `${C1_POD(20)}:${POD_PORT}`, `127.30.${NET}.20:${POD_PORT}`, 'serving']],
    );
  });

  it("spreads requests to the global service over both clusters; both see the client's pod IP", async () => {
    const before2 = a2.datapath().tunnel?.counters.forwarded ?? 0;
    const res = await requests(C1_POD(10));
    const where = new Set<string>();
    for (const r of res) {
      assert.ok(r.ok, JSON.stringify(r));
      assert.match(r.body, new RegExp(`from=${C1_POD(10).replaceAll('.', '\\.')}$`));
      where.add(r.body.split(' ')[0]!);
    }
    assert.deepEqual([...where].sort(), ['cluster=c1', 'cluster=c2']);
    const via = (a2.datapath().tunnel?.counters.forwarded ?? 0) - before2;
    const toC2 = res.filter((r) => r.ok && r.body.startsWith('cluster=c2')).length;
    assert.equal(via, toC2, 'every request that landed in c2 crossed its tunnel');
  });

  it("enforces cluster 2's ingress policy at the destination through the tunnel", async () => {
    await store1.update(
      service('echo', {
        clusterIP: FE,
        global: true,
        affinity: 'remote',
        ports: [{ name: 'http', port: SVC_PORT }],
      }),
    );
    await store2.create(
      cnp('echo-from-c1-client', {
        endpointSelector: { matchLabels: { app: 'echo' } },
        ingress: [{ fromEndpoints: [{ matchLabels: { app: 'client', 'io.cilium.k8s.policy.cluster': 'c1' } }] }],
      }),
    );
    await waitFor('the policy in c2 and remote affinity in c1', () =>
      a2.policyOverview().policies.length === 1 &&
      a1
        .lbList()
        .find((e) => e.service === 'test/echo')
        ?.backends.every((b) => b.cluster === 'c2')
        ? true
        : undefined,
    );
    const denied1 = a1.datapath().counters['policy-denied'];
    const denied2 = a2.datapath().tunnel?.counters['policy-denied'] ?? 0;
    for (const r of await requests(C1_POD(10), 6))
      assert.ok(r.ok && r.body.startsWith('cluster=c2 '), JSON.stringify(r));
    for (const r of await requests(C1_POD(11), 6)) assert.deepEqual(r, { ok: false, code: 'ECONNRESET' });
    assert.equal(a2.datapath().tunnel?.counters['policy-denied'], denied2 + 6);
    assert.equal(a1.datapath().counters['policy-denied'], denied1 + 6);

    // The trace: agent 1 leaves ingress to cluster 2; agent 2 judges it with the same rule.
    const t1 = await new AgentClient(api.socketPath).policyTrace({
      srcPod: 'test/other',
      dstPod: 'c2/test/echo-c2',
      dport: '8080/TCP',
    });
    assert.equal(t1.complete, false);
    assert.equal(t1.steps[1]?.evaluated, false);
    const t2 = a2.tracePolicy({ srcIdentity: ID.other, srcIp: C1_POD(11), dstPod: 'test/echo-c2', dport: '8080' });
    assert.equal(t2.allowed, false);
    assert.equal(t2.steps[1]?.verdict?.reason.kind, 'default-deny');
    await assert.rejects(
      new AgentClient(api.socketPath).policyTrace({ srcPod: 'test/other', dstPod: 'x', dport: '80' }),
      /HTTP 400: --dst-pod "x"/,
    );
  });

  it("blocks by the source's egress policy before anything reaches the other cluster", async () => {
    await store1.create(
      cnp('client-no-c2-echo', {
        endpointSelector: { matchLabels: { app: 'client' } },
        egressDeny: [{ toEndpoints: [{ matchLabels: { app: 'echo', 'io.cilium.k8s.policy.cluster': 'c2' } }] }],
      }),
    );
    await waitFor('the egress policy in c1', () => (a1.policyOverview().policies.length === 1 ? true : undefined));
    const tunnelBefore = a2.datapath().tunnel?.counters;
    for (const r of await requests(C1_POD(10), 4)) assert.deepEqual(r, { ok: false, code: 'ECONNRESET' });
    assert.deepEqual(a2.datapath().tunnel?.counters, tunnelBefore, 'nothing crossed the tunnel');
    const ep = (await new AgentClient(api.socketPath).endpointPolicy('test', 'client')).entries;
    assert.ok(ep.some((e) => e.direction === 'egress' && e.deny && e.identity === ID.echo2));
  });
});
