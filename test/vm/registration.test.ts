/**
 * External workload registration end to end in one process: a real state etcd, a real clustermesh etcd with TLS and
 * the clustermesh users, the clustermesh-apiserver with its state writer, and VM agents' registrars using the
 * `externalworkload` certificate.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { ClustermeshApiserver } from '../../src/apiserver/apiserver.js';
import { AgentClient } from '../../src/agent/api/api-client.js';
import { runExternalWorkloadAgent } from '../../src/agent/external-workload/external-workload.js';
import {
  DuplicateRegistrationError,
  ExternalWorkloadRegistrar,
  RegistrationError,
} from '../../src/agent/external-workload/registration.js';
import { LocalClusterSource } from '../../src/k8s/local-source.js';
import { ObjectStore } from '../../src/k8s/object-store.js';
import type { CiliumExternalWorkload } from '../../src/k8s/types.js';
import { createEtcdClient } from '../../src/kvstore/client.js';
import { ensureClustermeshUsers } from '../../src/kvstore/users.js';
import { identityRange } from '../../src/wire/index.js';
import { encodeRegisterNode, newRegisterNode } from '../../src/wire/register-node.js';
import { TestEtcd } from '../harness/etcd.js';

const CLUSTER = 'east';
const CLUSTER_ID = 3;
const WAIT_MS = 15_000;
const DENIED = /permission denied/i;

async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = WAIT_MS): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function cew(name: string, labels: Record<string, string>): CiliumExternalWorkload {
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumExternalWorkload',
    metadata: { name, labels },
    spec: { 'ipv4-alloc-cidr': '10.192.1.0/30' },
  };
}

describe('external workloads: registration through the clustermesh-apiserver', () => {
  let stateEtcd: TestEtcd;
  let meshEtcd: TestEtcd;
  let dir: string;
  let state: Etcd3;
  let admin: Etcd3;
  let source: LocalClusterSource;
  let store: ObjectStore;
  let apiserver: ClustermeshApiserver;
  const clients: Etcd3[] = [];
  let vmTls: { ca: string; cert: string; key: string };

  const vmClient = (): Etcd3 => {
    const c = createEtcdClient({ endpoints: [meshEtcd.endpoint], tls: vmTls, requestTimeoutMs: 5_000 });
    clients.push(c);
    return c;
  };
  const registrar = (name: string, ip: string, extra: { clusterName?: string; joinTimeoutMs?: number } = {}) =>
    new ExternalWorkloadRegistrar({
      kvstore: vmClient(),
      name,
      clusterName: extra.clusterName ?? CLUSTER,
      clusterId: CLUSTER_ID,
      ip,
      leaseTtlSeconds: 2,
      joinTimeoutMs: extra.joinTimeoutMs ?? 10_000,
    });
  const vmStatus = (name: string) => apiserver.status().externalWorkloads?.find((w) => w.name === name);

  before(async () => {
    stateEtcd = await TestEtcd.start();
    meshEtcd = await TestEtcd.start({ tls: true });
    dir = await mkdtemp(path.join(tmpdir(), 'cmesh-test-vm-'));
    state = await stateEtcd.client();
    const root = await meshEtcd.client();
    await ensureClustermeshUsers(root, CLUSTER);
    root.close();
    const adminFiles = await meshEtcd.tls!.issueClient(`admin-${CLUSTER}`);
    admin = createEtcdClient({
      endpoints: [meshEtcd.endpoint],
      tls: { ca: meshEtcd.tls!.caFile, cert: adminFiles.certFile, key: adminFiles.keyFile },
    });
    const vmFiles = await meshEtcd.tls!.issueClient('externalworkload');
    vmTls = { ca: meshEtcd.tls!.caFile, cert: vmFiles.certFile, key: vmFiles.keyFile };
    store = new ObjectStore(state);
    await store.create(cew('vm1', { app: 'legacy', 'io.kubernetes.pod.namespace': 'prod' }));
    await store.create(cew('vm2', { app: 'other' }));
    source = new LocalClusterSource(state);
    apiserver = new ClustermeshApiserver({
      clusterName: CLUSTER,
      clusterId: CLUSTER_ID,
      maxConnectedClusters: 255,
      source,
      kvstore: admin,
      stateWriter: store,
      leaseTtlSeconds: 30,
    });
    await apiserver.start();
    await apiserver.waitReady();
  });

  after(async () => {
    await apiserver.stop();
    await source.close();
    for (const c of clients) c.close();
    admin.close();
    state.close();
    await meshEtcd.stop();
    await stateEtcd.stop();
    await rm(dir, { recursive: true, force: true });
  });

  let vm1Identity = 0;

  it('registers a VM: identity from the CEW labels, CiliumNode, CiliumEndpoint, CEW status and ipcache entry', async () => {
    const r = registrar('vm1', '127.250.0.1');
    const joined = await r.join();
    const range = identityRange(CLUSTER_ID, 255);
    assert.ok(joined.NodeIdentity >= range.min && joined.NodeIdentity <= range.max, 'identity in the cluster range');
    assert.equal(joined.Cluster, CLUSTER);
    assert.equal(joined.ClusterID, CLUSTER_ID);
    assert.deepEqual(joined.Labels, {
      app: 'legacy',
      'io.cilium.k8s.policy.cluster': CLUSTER,
      'io.kubernetes.pod.name': 'vm1',
      'io.kubernetes.pod.namespace': 'prod',
    });
    vm1Identity = joined.NodeIdentity;
    const identity = await store.get('CiliumIdentity', undefined, String(vm1Identity));
    assert.deepEqual(identity?.['security-labels'], {
      'k8s:app': 'legacy',
      'k8s:io.cilium.k8s.policy.cluster': CLUSTER,
      'k8s:io.kubernetes.pod.name': 'vm1',
      'k8s:io.kubernetes.pod.namespace': 'prod',
    });
    const cep = await waitFor('the VM CiliumEndpoint', () => store.get('CiliumEndpoint', 'prod', 'vm1'));
    assert.equal(cep.status?.identity?.id, vm1Identity);
    assert.deepEqual(cep.status.networking, { addressing: [{ ipv4: '127.250.0.1' }], node: '127.250.0.1' });
    const cn = await store.get('CiliumNode', undefined, 'vm1');
    assert.deepEqual(cn?.spec?.addresses, [{ type: 'InternalIP', ip: '127.250.0.1' }]);
    const status = await waitFor('the CEW status', async () => {
      const c = await store.get('CiliumExternalWorkload', undefined, 'vm1');
      return c?.status?.ip ? c.status : undefined;
    });
    assert.deepEqual(status, { id: vm1Identity, ip: '127.250.0.1' });
    const entry = await waitFor('the VM ipcache entry', () =>
      admin
        .get('cilium/state/ip/v1/default/127.250.0.1')
        .string()
        .then((s) => s ?? undefined),
    );
    assert.equal((JSON.parse(entry) as { ID: number }).ID, vm1Identity);
    await waitFor('vm status registered', () => vmStatus('vm1')?.state === 'registered');
    assert.equal(vmStatus('vm1')?.ip, '127.250.0.1');
    (globalThis as { vm1?: ExternalWorkloadRegistrar }).vm1 = r;
  });

  it('refuses a second agent claiming the same name and reports it', async () => {
    const dup = registrar('vm1', '127.250.0.9', { joinTimeoutMs: 1_500 });
    await assert.rejects(dup.join(), DuplicateRegistrationError);
    await dup.stop();
    await waitFor('the duplicate reported', () =>
      vmStatus('vm1')?.refusals.some((x) => x.reason.startsWith('duplicate')),
    );
    assert.equal(vmStatus('vm1')?.state, 'registered', 'the first VM stays registered');
    const cep = await store.get('CiliumEndpoint', 'prod', 'vm1');
    assert.equal(cep?.status?.networking?.node, '127.250.0.1', 'the endpoint keeps the first VM address');
  });

  it('refuses an unknown name without answering it', async () => {
    const ghost = registrar('ghost', '127.250.0.5', { joinTimeoutMs: 1_500 });
    await assert.rejects(ghost.join(), RegistrationError);
    const st = await waitFor('ghost refused', () => vmStatus('ghost'));
    assert.equal(st.state, 'refused');
    assert.match(st.reason ?? '', /unknown external workload/);
    assert.equal(st.known, false);
    await ghost.stop();
  });

  it('refuses a registration naming another cluster', async () => {
    const wrong = registrar('vm2', '127.250.0.2', { clusterName: 'west', joinTimeoutMs: 1_500 });
    await assert.rejects(wrong.join(), RegistrationError);
    const st = await waitFor('vm2 refused', () => (vmStatus('vm2')?.state === 'refused' ? vmStatus('vm2') : undefined));
    assert.match(st.reason ?? '', /claims cluster "west"/);
    await wrong.stop();
    await waitFor('vm2 registration gone', () => vmStatus('vm2')?.state === 'not-registered');
  });

  it('refuses a registration with an identity it does not own, and a malformed one; the apiserver keeps going', async () => {
    const vm = vmClient();
    const lease = vm.lease(5);
    const bad = newRegisterNode('vm2', {
      Cluster: CLUSTER,
      ClusterID: CLUSTER_ID,
      NodeIdentity: vm1Identity,
      IPAddresses: [{ Type: 'InternalIP', IP: '127.250.0.2' }],
    });
    await lease.put('cilium/state/noderegister/v1/vm2').value(encodeRegisterNode(bad));
    const st = await waitFor('identity refused', () =>
      vmStatus('vm2')?.reason?.includes(`claims identity ${vm1Identity}`) ? vmStatus('vm2') : undefined,
    );
    assert.equal(st.state, 'refused');
    assert.equal(await store.get('CiliumEndpoint', 'default', 'vm2'), undefined, 'no endpoint for a refused VM');
    await lease.put('cilium/state/noderegister/v1/vm2').value('{"Name": 42');
    await waitFor('malformed refused', () => vmStatus('vm2')?.reason?.startsWith('malformed'));
    await lease.revoke();
    await waitFor('vm2 not registered', () => vmStatus('vm2')?.state === 'not-registered');
    assert.equal(apiserver.ready(), true, 'the apiserver is still ready');
  });

  it('does not let the VM certificate write outside its prefixes', async () => {
    const vm = vmClient();
    for (const key of [
      'cilium/state/ip/v1/default/127.250.0.66',
      'cilium/state/nodes/v1/east/evil',
      'cilium/.heartbeat',
    ]) {
      await assert.rejects(vm.put(key).value('{}').exec(), DENIED, `write to ${key}`);
    }
    await assert.rejects(vm.delete().key('cilium/state/ip/v1/default/127.250.0.1').exec(), DENIED);
    await vm.put('cilium/.initlock/probe').value('x');
    await vm.delete().key('cilium/.initlock/probe').exec();
  });

  it('a VM that stops (lease expires) leaves: endpoint, node and ipcache entry go; it comes back with the same identity', async () => {
    const r = (globalThis as { vm1?: ExternalWorkloadRegistrar }).vm1!;
    await r.stop({ revoke: false });
    await waitFor('the endpoint deleted', async () => (await store.get('CiliumEndpoint', 'prod', 'vm1')) === undefined);
    await waitFor('the ipcache entry deleted', async () =>
      (await admin.get('cilium/state/ip/v1/default/127.250.0.1').string()) === null ? true : undefined,
    );
    assert.equal(await store.get('CiliumNode', undefined, 'vm1'), undefined, 'the CiliumNode is deleted');
    assert.equal(vmStatus('vm1')?.state, 'not-registered');
    const kept = await store.get('CiliumExternalWorkload', undefined, 'vm1');
    assert.equal(kept?.status?.id, vm1Identity, 'the CEW keeps its status');
    // The operator may collect the unused identity meanwhile: the number must survive that too.
    await store.delete('CiliumIdentity', undefined, String(vm1Identity));
    const back = registrar('vm1', '127.250.0.1');
    const joined = await back.join();
    assert.equal(joined.NodeIdentity, vm1Identity);
    await waitFor('the endpoint back', () => store.get('CiliumEndpoint', 'prod', 'vm1'));
    await back.stop();
    await waitFor('left again', async () => (await store.get('CiliumEndpoint', 'prod', 'vm1')) === undefined);
  });

  it('runs the VM agent: it registers and sees the cluster through the clustermesh etcd', async () => {
    await admin.put('cilium/state/services/v1/east/prod/web').value(
      JSON.stringify({
        cluster: CLUSTER,
        namespace: 'prod',
        name: 'web',
        frontends: { '127.97.0.10': { http: { Protocol: 'TCP', Port: 80 } } },
        backends: { '10.1.0.5': { http: { Protocol: 'TCP', Port: 8080 } } },
        labels: {},
        selector: {},
        includeExternal: false,
        shared: true,
        clusterID: CLUSTER_ID,
      }),
    );
    const config = path.join(dir, 'vm-etcd.yaml');
    await writeFile(
      config,
      `endpoints: [${meshEtcd.endpoint}]\ntrusted-ca-file: ${vmTls.ca}\ncert-file: ${vmTls.cert}\nkey-file: ${vmTls.key}\n`,
    );
    const socket = path.join(dir, 'vm', 'agent.sock');
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    const run = runExternalWorkloadAgent(
      {
        vmName: 'vm1',
        vmIp: '127.250.0.1',
        clusterName: CLUSTER,
        clusterId: CLUSTER_ID,
        maxConnectedClusters: 255,
        kvstoreConfig: config,
        apiSocket: socket,
        leaseTtlSeconds: 2,
        joinTimeoutMs: 10_000,
      },
      stopped,
    );
    try {
      const api = new AgentClient(socket);
      const services = await waitFor('the VM agent sees the global service', async () => {
        const list = await api.services().catch(() => []);
        return list.length > 0 ? list : undefined;
      });
      assert.equal(JSON.stringify(services).includes('127.97.0.10'), true, 'frontend listed');
      assert.equal(JSON.stringify(services).includes('10.1.0.5'), true, 'backend listed');
      const ipcache = await waitFor('the VM agent ipcache has itself', async () => {
        const list = await api.ipcache();
        return list.some((e) => JSON.stringify(e).includes('127.250.0.1')) ? list : undefined;
      });
      assert.ok(ipcache.length > 0, 'ipcache not empty');
      const st = await api.status();
      assert.equal(st.node, 'vm1');
      assert.equal(st.cluster.name, CLUSTER);
    } finally {
      stop();
      await run;
    }
    await waitFor('the VM left', async () => (await store.get('CiliumEndpoint', 'prod', 'vm1')) === undefined);
  });
});
