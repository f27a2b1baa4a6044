/**
 * A real Kubernetes control plane for tests: etcd 3.6 and kube-apiserver (plus, unless `apiserverOnly`, the
 * controller manager and the scheduler) from the pinned build, on free loopback ports, with their own PKI in a
 * temporary folder. Share one per test file (namespaces isolate tests) to keep the suite fast: start it in
 * `before`, stop it in `after`. The processes are children of the test process and die with it; the folder name
 * carries the `cmesh-test-home-` marker that the test runner's sweep looks for.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ControlPlane } from '../../src/mesh/control-plane.js';
import { EtcdProcess, freePort } from '../../src/mesh/etcd-process.js';
import { resolveKubeBinaries, type KubeBinaries } from '../../src/mesh/kube-binaries.js';
import { createKubePki, issueKubeconfig } from '../../src/mesh/kube-pki.js';

const execFileP = promisify(execFile);
const KUBECTL_TIMEOUT_MS = 60_000;

export interface TestControlPlaneOptions {
  /** Short name for the context (`cmesh-<name>`) and the etcd member. */
  name: string;
  apiserverOnly?: boolean;
  /** Data only for kube-apiserver (it binds nothing there); defaults are unused by other tests. */
  podCidr?: string;
  serviceCidr?: string;
}

export interface TestControlPlane {
  readonly dir: string;
  readonly binaries: KubeBinaries;
  readonly etcd: EtcdProcess;
  readonly controlPlane: ControlPlane;
  /** The admin's kubeconfig (system:masters). */
  readonly kubeconfig: string;
  readonly context: string;
  /** Runs kubectl as the admin; resolves to stdout, rejects with the error (stderr in `.stderr`). */
  kubectl(...args: string[]): Promise<string>;
  /** Runs kubectl with stdin. */
  kubectlIn(input: string, ...args: string[]): Promise<string>;
  /** A kubeconfig for another user (own client certificate), e.g. to test an RBAC role. */
  userKubeconfig(user: string, groups?: readonly string[]): Promise<string>;
  stop(): Promise<void>;
}

export async function startTestControlPlane(opts: TestControlPlaneOptions): Promise<TestControlPlane> {
  const binaries = await resolveKubeBinaries();
  const dir = await mkdtemp(path.join(tmpdir(), `cmesh-test-home-kube-${opts.name}-`));
  const etcd = new EtcdProcess({
    binary: binaries.etcd,
    name: `cmesh-test-${process.pid}-kube-${opts.name}`,
    dataDir: path.join(dir, 'etcd'),
    clientPort: await freePort(),
    peerPort: await freePort(),
    metricsPort: await freePort(),
    logFile: path.join(dir, 'etcd.log'),
  });
  const context = `cmesh-${opts.name}`;
  const serviceCidr = opts.serviceCidr ?? '127.62.128.0/17';
  const apiserverPort = await freePort();
  const server = `https://127.0.0.1:${apiserverPort}`;
  let controlPlane: ControlPlane | undefined;
  try {
    await etcd.start();
    await createKubePki({ dir, server, serviceCidr, contextName: context });
    controlPlane = new ControlPlane({
      clusterName: opts.name,
      dir,
      logDir: dir,
      runDir: dir,
      binaries,
      etcdUrl: etcd.clientUrl,
      apiserverPort,
      podCidr: opts.podCidr ?? '10.62.0.0/16',
      serviceCidr,
      detached: false,
      ...(opts.apiserverOnly ? { apiserverOnly: true } : {}),
    });
    await controlPlane.start();
  } catch (err) {
    await controlPlane?.stop({ kill: true });
    await etcd.stop();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const cp = controlPlane;
  const kubectlArgs = (args: string[]): string[] => [
    `--kubeconfig=${cp.adminKubeconfig}`,
    `--cache-dir=${path.join(dir, 'kubectl-cache')}`,
    ...args,
  ];
  return {
    dir,
    binaries,
    etcd,
    controlPlane: cp,
    kubeconfig: cp.adminKubeconfig,
    context,
    async kubectl(...args) {
      const { stdout } = await execFileP(binaries.kubectl, kubectlArgs(args), { timeout: KUBECTL_TIMEOUT_MS });
      return stdout;
    },
    kubectlIn(input, ...args) {
      return new Promise((resolve, reject) => {
        const child = execFile(
          binaries.kubectl,
          kubectlArgs(args),
          { timeout: KUBECTL_TIMEOUT_MS },
          (err, stdout, stderr) => {
            if (err) reject(Object.assign(err as Error, { stdout, stderr }));
            else resolve(stdout);
          },
        );
        child.stdin?.end(input);
      });
    },
    userKubeconfig(user, groups) {
      return issueKubeconfig(dir, { server, contextName: context }, user, groups);
    },
    async stop() {
      await cp.stop();
      await etcd.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
