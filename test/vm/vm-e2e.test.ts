/**
 * External workload end to end on two real local clusters (`npm run build` first: daemons and the VM agent run from
 * dist/): create the CEW, write the install script, run it in a temp folder, and see the VM registered, in its
 * cluster's endpoint list and in the remote cluster's ipcache; a policy allowing only the VM's labels lets it reach a
 * service over the datapath and blocks another client; stopping the VM removes its endpoint.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { requireHostAddress } from '../../src/agent/datapath/host-address.js';
import { createEtcdClient } from '../../src/kvstore/client.js';
import { loadCluster, stateEtcdEndpoint } from '../../src/mesh/local-cluster.js';
import { createVm, vmStatus, writeInstallScript } from '../../src/mesh/vm.js';
import { CmeshHome, CMESH_ENTRY, eventually } from '../e2e/helpers.js';

/** The VM's address is data, like a pod IP: requests "from the VM" leave from its loopback address. */
const VM_IP = '10.250.1.1';
const OTHER_CLIENT = '10.250.1.2';
const CLUSTER_IP = '127.97.0.10';
const WAIT_MS = 60_000;

const MANIFEST = `
apiVersion: v1
kind: Namespace
metadata: { name: demo }
---
apiVersion: v1
kind: Pod
metadata:
  name: echo-1
  namespace: demo
  labels: { app: echo }
  annotations: { cmesh.io/sample-server: "8080" }
spec:
  containers: [{ name: echo, image: echo, ports: [{ name: http, containerPort: 8080, protocol: TCP }] }]
---
apiVersion: v1
kind: Service
metadata:
  name: echo
  namespace: demo
  annotations: { service.cilium.io/global: "true" }
spec:
  clusterIP: ${CLUSTER_IP}
  selector: { app: echo }
  ports: [{ name: http, port: 80, targetPort: http, protocol: TCP }]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: only-vm, namespace: demo }
spec:
  endpointSelector: { matchLabels: { app: echo } }
  ingress: [{ fromEndpoints: [{ matchLabels: { app: vm-client } }] }]
`;

function sh(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('bash', args, { env, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? 1 : 0, out: stdout + stderr });
    });
  });
}

type Result = { ok: true; body: string } | { ok: false; code: string };

/** A request from `fromIp` (the VM's or another client's address): from its loopback address. */
function request(fromIp: string): Promise<Result> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: CLUSTER_IP, port: 80, localAddress: requireHostAddress(fromIp, 'client') });
    let data = '';
    sock.setTimeout(10_000, () => sock.destroy(new Error('TIMEOUT')));
    sock.on('connect', () => sock.write('GET / HTTP/1.0\r\n\r\n'));
    sock.on('data', (c: Buffer) => (data += c.toString()));
    sock.on('error', (err: NodeJS.ErrnoException) => {
      resolve({ ok: false, code: err.code ?? err.message });
    });
    sock.on('close', () => {
      if (data.startsWith('HTTP/1.0 200')) resolve({ ok: true, body: data });
      else resolve({ ok: false, code: data === '' ? 'EMPTY' : data });
    });
  });
}

describe('an external workload joins a local cluster (real daemons)', { timeout: 240_000 }, () => {
  let home: CmeshHome;
  let vmDir: string;
  let script: string;

  before(async () => {
    home = await CmeshHome.create();
    vmDir = await mkdtemp(path.join(tmpdir(), 'cmesh-test-vm-'));
    script = path.join(vmDir, 'install.sh');
    await home.ok([
      'cluster',
      'create',
      'east',
      '--id',
      '1',
      '--nodes',
      '1',
      '--pod-cidr',
      '10.11.0.0/16',
      '--service-cidr',
      '127.97.0.0/16',
    ]);
    await home.ok([
      'cluster',
      'create',
      'west',
      '--id',
      '2',
      '--nodes',
      '1',
      '--pod-cidr',
      '10.12.0.0/16',
      '--service-cidr',
      '127.98.0.0/16',
    ]);
    await home.ok(['clustermesh', 'enable', '--context', 'east']);
    await home.ok(['clustermesh', 'enable', '--context', 'west']);
    await home.ok(['clustermesh', 'connect', '--context', 'east', '--destination-context', 'west']);
    await home.ok(['apply', '--context', 'east', '-f', '-'], { input: MANIFEST });
  });

  after(async () => {
    await sh([script, 'stop', '--dir', path.join(vmDir, 'vm1')], home.env).catch(() => undefined);
    await home.destroy();
    await rm(vmDir, { recursive: true, force: true });
  });

  it('create, install, run the script: registered, in endpoint list, in the remote ipcache; policy by VM labels', async () => {
    const { record, paths } = await loadCluster('east', home.dir);
    const state = createEtcdClient({ endpoints: [stateEtcdEndpoint(record)] });
    try {
      await createVm(state, { name: 'vm1', labels: { app: 'vm-client' }, namespace: 'demo' });
      await writeInstallScript(record, paths, script);
      const run = await sh([script, '--vm-name', 'vm1', '--vm-ip', VM_IP, '--dir', path.join(vmDir, 'vm1')], {
        ...home.env,
        CMESH: `${process.execPath} ${CMESH_ENTRY}`,
      });
      assert.equal(run.code, 0, `install script failed:\n${run.out}`);
      const st = await eventually(
        () => vmStatus(record, state, 'vm1'),
        (s) => s.workloads[0]?.registered === true,
        'vm1 registered',
        WAIT_MS,
      );
      const identity = st.workloads[0]!.identity;
      assert.equal(st.workloads[0]!.ip, VM_IP);
      assert.ok(identity !== null && identity >= 1 << 16 && identity < 2 << 16, `identity ${identity} in east's range`);

      const endpoints = await eventually(
        async () => JSON.parse(await home.ok(['endpoint', 'list', '--context', 'east', '-o', 'json'])) as unknown[],
        (l) => JSON.stringify(l).includes(VM_IP),
        'vm1 in east endpoint list',
        WAIT_MS,
      );
      assert.ok(JSON.stringify(endpoints).includes('vm1'), 'endpoint named vm1');
      await eventually(
        () => home.ok(['bpf', 'ipcache', 'list', '--context', 'west', '-o', 'json']),
        (out) => out.includes(VM_IP) && out.includes(String(identity)),
        'vm1 in west ipcache',
        WAIT_MS,
      );

      const allowed = await eventually(
        () => request(VM_IP),
        (r) => r.ok,
        'the VM reaches the service',
        WAIT_MS,
      );
      assert.equal(allowed.ok, true, 'VM allowed');
      const denied = await request(OTHER_CLIENT);
      assert.equal(denied.ok, false, 'another client is blocked by the policy');

      // The VM's own agent, asked through the socket the install script names.
      const vmAgent = JSON.parse(
        await home.ok(['status', '--api-socket', path.join(vmDir, 'vm1', 'agent.sock'), '-o', 'json']),
      ) as { cluster: { name: string }; node: string };
      assert.deepEqual([vmAgent.cluster.name, vmAgent.node], ['east', 'vm1'], 'the VM agent answers on its socket');
      const noSocket = await home.run(['status', '--api-socket', path.join(vmDir, 'nowhere.sock')]);
      assert.notEqual(noSocket.code, 0);
      assert.match(noSocket.stderr, /no agent socket at/);
      const stop = await sh([script, 'stop', '--dir', path.join(vmDir, 'vm1')], home.env);
      assert.equal(stop.code, 0, stop.out);
      await eventually(
        () => vmStatus(record, state, 'vm1'),
        (s) => s.workloads[0]?.registered === false,
        'vm1 left',
        WAIT_MS,
      );
      await eventually(
        () => home.ok(['bpf', 'ipcache', 'list', '--context', 'west', '-o', 'json']),
        (out) => !out.includes(VM_IP),
        'vm1 gone from west ipcache',
        WAIT_MS,
      );
    } finally {
      state.close();
    }
  });
});
