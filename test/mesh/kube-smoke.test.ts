/**
 * Smoke check of the pinned control plane that setup builds (issue 19): etcd 3.6 and kube-apiserver on free loopback
 * ports with their own PKI, driven by kubectl. Nothing here connects to a non-loopback address. Every process is
 * stopped (SIGTERM, then SIGKILL) and the temporary folder removed in `after`, whatever the tests did; a crash of the
 * test process SIGKILLs them too, and the test runner's sweep finds leftovers by the `cmesh-test-` markers.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { createCertificateAuthority, issueCertificate } from '../../src/mesh/certificates.js';
import { EtcdProcess, freePort } from '../../src/mesh/etcd-process.js';
import { KUBE_VERSION, resolveKubeBinaries, type KubeBinaries } from '../../src/mesh/kube-binaries.js';

const execFileP = promisify(execFile);
/** A loopback service range, as cmesh gives cluster N (127.N.128.0/17); N = 61 is used by no other test. */
const SERVICE_CIDR = '127.61.128.0/17';
const SERVICE_FIRST_IP = '127.61.128.1';
/** A pod address as cmesh gives cluster N (10.N.0.0/17; the datapath serves it on 127.N.x.y). */
const POD_IP = '10.61.0.10';
const READY_TIMEOUT_MS = 90_000;
const STOP_GRACE_MS = 10_000;

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** SIGTERM, then SIGKILL after a grace period; resolves when the process is gone. */
async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) =>
      child.once('exit', () => {
        resolve();
      }),
    );
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }
  children.delete(child);
}

interface Tls {
  ca: string;
  cert: string;
  key: string;
}

/** GET https://127.0.0.1:<port><path> with the admin's client certificate: status and body, or an error text. */
async function get(port: number, urlPath: string, tls: Tls): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = https.get({ host: '127.0.0.1', port, path: urlPath, ...tls, timeout: 2_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('error', (err) => {
      resolve({ status: 0, body: err.message });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

describe(`the pinned control plane on loopback (etcd, kube-apiserver ${KUBE_VERSION}, kubectl)`, () => {
  let bins: KubeBinaries;
  let dir: string | undefined;
  let etcd: EtcdProcess | undefined;
  let apiserver: ChildProcess | undefined;
  let kubeconfig: string;
  let apiserverLog: string;

  async function kubectl(...args: string[]): Promise<string> {
    const { stdout } = await execFileP(
      bins.kubectl,
      [`--kubeconfig=${kubeconfig}`, `--cache-dir=${path.join(dir!, 'kubectl-cache')}`, ...args],
      { timeout: 30_000 },
    );
    return stdout;
  }

  async function logTail(): Promise<string> {
    const text = await readFile(apiserverLog, 'utf8').catch(() => '');
    return text.split('\n').slice(-30).join('\n');
  }

  before(async () => {
    bins = await resolveKubeBinaries();
    // `cmesh-test-home-` lets the test runner's sweep kill the apiserver if this process dies and the folder is gone.
    dir = await mkdtemp(path.join(tmpdir(), 'cmesh-test-home-kube-'));

    etcd = new EtcdProcess({
      binary: bins.etcd,
      name: `cmesh-test-${process.pid}-kube-smoke`,
      dataDir: path.join(dir, 'etcd'),
      clientPort: await freePort(),
      peerPort: await freePort(),
      metricsPort: await freePort(),
      logFile: path.join(dir, 'etcd.log'),
    });
    await etcd.start();

    // PKI: a CA, the apiserver's serving certificate, an admin client certificate, a service-account key pair.
    const ca = await createCertificateAuthority('cmesh-test-kube-ca');
    const serving = await issueCertificate(ca, {
      commonName: 'kube-apiserver',
      hosts: [
        '127.0.0.1',
        SERVICE_FIRST_IP,
        'localhost',
        'kubernetes',
        'kubernetes.default',
        'kubernetes.default.svc',
        'kubernetes.default.svc.cluster.local',
      ],
      server: true,
      client: false,
    });
    const admin = await issueCertificate(ca, { commonName: 'cmesh-admin', organizations: ['system:masters'] });
    const sa = generateKeyPairSync('ec', {
      namedCurve: 'P-256',
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    const f = (name: string): string => path.join(dir!, name);
    const files: Record<string, string> = {
      'ca.crt': ca.certPem,
      'apiserver.crt': serving.certPem,
      'apiserver.key': serving.keyPem,
      'sa.pub': sa.publicKey,
      'sa.key': sa.privateKey,
    };
    for (const [name, content] of Object.entries(files)) await writeFile(f(name), content, { mode: 0o600 });

    const port = await freePort();
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    kubeconfig = f('admin.kubeconfig');
    await writeFile(
      kubeconfig,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'smoke',
            cluster: { server: `https://127.0.0.1:${port}`, 'certificate-authority-data': b64(ca.certPem) },
          },
        ],
        users: [
          {
            name: 'admin',
            user: { 'client-certificate-data': b64(admin.certPem), 'client-key-data': b64(admin.keyPem) },
          },
        ],
        contexts: [{ name: 'smoke', context: { cluster: 'smoke', user: 'admin' } }],
        'current-context': 'smoke',
      }),
      { mode: 0o600 },
    );

    apiserverLog = f('kube-apiserver.log');
    const logFd = openSync(apiserverLog, 'a');
    apiserver = spawn(
      bins['kube-apiserver'],
      [
        `--etcd-servers=${etcd.clientUrl}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${port}`,
        '--advertise-address=127.0.0.1',
        '--endpoint-reconciler-type=none',
        `--cert-dir=${f('apiserver-certs')}`,
        `--tls-cert-file=${f('apiserver.crt')}`,
        `--tls-private-key-file=${f('apiserver.key')}`,
        `--client-ca-file=${f('ca.crt')}`,
        '--authorization-mode=Node,RBAC',
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${f('sa.pub')}`,
        `--service-account-signing-key-file=${f('sa.key')}`,
      ],
      { stdio: ['ignore', logFd, logFd] },
    );
    closeSync(logFd);
    children.add(apiserver);

    const tls: Tls = { ca: ca.certPem, cert: admin.certPem, key: admin.keyPem };
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let last = { status: 0, body: '' };
    for (;;) {
      if (apiserver.exitCode !== null || apiserver.signalCode !== null) {
        throw new Error(
          `kube-apiserver exited during start-up (${apiserver.exitCode ?? apiserver.signalCode}):\n${await logTail()}`,
        );
      }
      last = await get(port, '/readyz', tls);
      if (last.status === 200 && last.body === 'ok') break;
      if (Date.now() > deadline) {
        throw new Error(
          `kube-apiserver not ready within ${READY_TIMEOUT_MS} ms; /readyz: ${last.status} ${last.body}\n${await logTail()}`,
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  after(async () => {
    if (apiserver) await terminate(apiserver);
    if (etcd) await etcd.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
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
    const file = path.join(dir!, 'slice.yaml');
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
    const file = path.join(dir!, 'slice-pods.yaml');
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
});
