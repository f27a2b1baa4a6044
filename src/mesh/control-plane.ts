/**
 * One cluster's Kubernetes control plane: kube-apiserver (loopback, TLS, its own CA, storage in the cluster's state
 * etcd under /registry), kube-controller-manager (node IPAM from the cluster's pod CIDR, EndpointSlices,
 * Deployments, namespaces, garbage collection) and kube-scheduler, from the pinned build (kube-binaries.ts).
 *
 * Processes are either detached with pid files (a local cluster that outlives the CLI) or children of this process
 * (tests), killed when it exits. Nothing listens anywhere but 127.0.0.1: the fixed ports of the controller manager
 * and the scheduler are turned off (`--secure-port=0`), which also lets several clusters run side by side.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import { isAlive, readPid, stopDaemon } from './daemon.js';
import type { KubeBinaries } from './kube-binaries.js';
import {
  ADMIN_USER,
  CONTROLLER_MANAGER_USER,
  kubeconfigFile,
  kubePkiPaths,
  SCHEDULER_USER,
  SERVICE_ACCOUNT_ISSUER,
  type KubePkiPaths,
} from './kube-pki.js';
import { readKubeconfig } from './mesh-kubeconfig.js';

/** kube-apiserver answers /readyz 2.4-3.1 s after start on this machine; allow for a loaded one. */
export const APISERVER_READY_TIMEOUT_MS = 90_000;
const READY_POLL_MS = 200;
/** Each node gets a /24 of the cluster's pod CIDR, as kubeadm's default. */
export const NODE_CIDR_MASK_SIZE = 24;
const STOP_GRACE_MS = 10_000;
const LOG_TAIL_LINES = 20;

export type ControlPlaneRole = 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler';
/** Start order; stop goes in reverse. */
export const CONTROL_PLANE_ROLES: readonly ControlPlaneRole[] = [
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
];

export class ControlPlaneError extends Error {
  override name = 'ControlPlaneError';
}

export interface ControlPlaneOptions {
  /** The cluster's name, for messages and the kubeconfig context (`cmesh-<name>`). */
  clusterName: string;
  /** Folder holding `pki/`, `kubeconfigs/` (see kube-pki.ts) and the controller manager's scratch folder. */
  dir: string;
  logDir: string;
  /** Where pid files go (`<role>.pid`) when detached. */
  runDir: string;
  binaries: KubeBinaries;
  /** The storage backend, e.g. http://127.0.0.1:2379. */
  etcdUrl: string;
  apiserverPort: number;
  podCidr: string;
  serviceCidr: string;
  /** Outlive this process (local clusters); otherwise children killed when this process exits (tests). */
  detached: boolean;
  /** Only kube-apiserver (tests that need no controllers). */
  apiserverOnly?: boolean;
  /** Extra kube-apiserver flags (tests: e.g. a shorter watch cache). */
  apiserverArgs?: readonly string[];
}

const children = new Set<ChildProcess>();
let exitHookInstalled = false;
function killChildrenOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const c of children) c.kill('SIGKILL');
  });
}

/** GET https://127.0.0.1:<port><path> as the admin: status and body, or status 0 and the error. */
function adminGet(
  port: number,
  urlPath: string,
  tls: { ca: string; cert: string; key: string },
): Promise<{ status: number; body: string }> {
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

export class ControlPlane {
  readonly pki: KubePkiPaths;
  private readonly attached = new Map<ControlPlaneRole, ChildProcess>();

  constructor(readonly opts: ControlPlaneOptions) {
    this.pki = kubePkiPaths(opts.dir);
  }

  get server(): string {
    return `https://127.0.0.1:${this.opts.apiserverPort}`;
  }

  /** The admin's kubeconfig (system:masters). */
  get adminKubeconfig(): string {
    return kubeconfigFile(this.pki, ADMIN_USER);
  }

  roles(): readonly ControlPlaneRole[] {
    return this.opts.apiserverOnly ? ['kube-apiserver'] : CONTROL_PLANE_ROLES;
  }

  pidFile(role: ControlPlaneRole): string {
    return path.join(this.opts.runDir, `${role}.pid`);
  }

  logFile(role: ControlPlaneRole): string {
    return path.join(this.opts.logDir, `${role}.log`);
  }

  args(role: ControlPlaneRole): string[] {
    const o = this.opts;
    const p = this.pki;
    switch (role) {
      case 'kube-apiserver':
        return [
          `--etcd-servers=${o.etcdUrl}`,
          '--bind-address=127.0.0.1',
          `--secure-port=${o.apiserverPort}`,
          // Without these it advertises the host's own address, and on a loopback-only host it exits.
          '--advertise-address=127.0.0.1',
          '--endpoint-reconciler-type=none',
          `--cert-dir=${path.join(o.dir, 'apiserver-certs')}`,
          `--tls-cert-file=${p.servingCert}`,
          `--tls-private-key-file=${p.servingKey}`,
          `--client-ca-file=${p.caCert}`,
          '--authorization-mode=Node,RBAC',
          `--service-cluster-ip-range=${o.serviceCidr}`,
          `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
          `--service-account-key-file=${p.serviceAccountPublicKey}`,
          `--service-account-signing-key-file=${p.serviceAccountKey}`,
          ...(o.apiserverArgs ?? []),
        ];
      case 'kube-controller-manager': {
        const kc = kubeconfigFile(p, CONTROLLER_MANAGER_USER);
        return [
          `--kubeconfig=${kc}`,
          `--authentication-kubeconfig=${kc}`,
          `--authorization-kubeconfig=${kc}`,
          '--secure-port=0',
          '--leader-elect=false',
          '--allocate-node-cidrs=true',
          `--cluster-cidr=${o.podCidr}`,
          `--node-cidr-mask-size=${NODE_CIDR_MASK_SIZE}`,
          `--service-cluster-ip-range=${o.serviceCidr}`,
          `--root-ca-file=${p.caCert}`,
          `--service-account-private-key-file=${p.serviceAccountKey}`,
          '--use-service-account-credentials=true',
          // Nodes have no cloud and no kubelet; without this it creates folders under /usr/libexec on the host.
          `--flex-volume-plugin-dir=${path.join(o.dir, 'flexvolume')}`,
          '--controllers=*,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller,-persistentvolume-binder,-attachdetach,-persistentvolume-expander,-ttl',
        ];
      }
      case 'kube-scheduler': {
        const kc = kubeconfigFile(p, SCHEDULER_USER);
        return [
          `--kubeconfig=${kc}`,
          `--authentication-kubeconfig=${kc}`,
          `--authorization-kubeconfig=${kc}`,
          '--secure-port=0',
          '--leader-elect=false',
        ];
      }
    }
  }

  /** Starts whatever is not running, kube-apiserver first (and waits for its /readyz), then the controllers. */
  async start(onStep?: (msg: string) => void): Promise<void> {
    await mkdir(this.opts.logDir, { recursive: true, mode: 0o700 });
    await mkdir(this.opts.runDir, { recursive: true, mode: 0o700 });
    for (const role of this.roles()) {
      if (await this.isRunning(role)) continue;
      onStep?.(`starting ${role} of cluster ${this.opts.clusterName}`);
      await this.spawn(role);
      if (role === 'kube-apiserver') await this.waitReady();
    }
  }

  async isRunning(role: ControlPlaneRole): Promise<boolean> {
    const child = this.attached.get(role);
    if (child) return child.exitCode === null && child.signalCode === null;
    if (this.opts.detached) {
      const pid = await readPid(this.pidFile(role));
      return pid !== undefined && isAlive(pid);
    }
    return false;
  }

  private async spawn(role: ControlPlaneRole): Promise<void> {
    const fd = openSync(this.logFile(role), 'a');
    let child: ChildProcess;
    try {
      child = spawn(this.opts.binaries[role], this.args(role), {
        detached: this.opts.detached,
        stdio: ['ignore', fd, fd],
      });
    } finally {
      closeSync(fd);
    }
    const spawnFailed = new Promise<Error>((resolve) => child.once('error', resolve));
    if (child.pid === undefined) {
      const err = await spawnFailed;
      throw new ControlPlaneError(`could not start ${role} (${this.opts.binaries[role]}): ${err.message}`, {
        cause: err,
      });
    }
    if (this.opts.detached) {
      child.unref();
      await writeFile(this.pidFile(role), `${child.pid}\n`, { mode: 0o600 });
    } else {
      killChildrenOnExit();
      children.add(child);
      this.attached.set(role, child);
      child.once('exit', () => children.delete(child));
    }
  }

  private async logTail(role: ControlPlaneRole): Promise<string> {
    const text = await readFile(this.logFile(role), 'utf8').catch(() => '');
    return text.trimEnd().split('\n').slice(-LOG_TAIL_LINES).join('\n');
  }

  /** Polls /readyz as the admin until it says ok; fails early when the process exits. */
  async waitReady(timeoutMs = APISERVER_READY_TIMEOUT_MS): Promise<void> {
    const tls = await this.adminTls();
    const deadline = Date.now() + timeoutMs;
    let last = { status: 0, body: '' };
    for (;;) {
      if (!(await this.isRunning('kube-apiserver'))) {
        throw new ControlPlaneError(
          `kube-apiserver of cluster ${this.opts.clusterName} exited during start-up; the end of ${this.logFile('kube-apiserver')}:\n${await this.logTail('kube-apiserver')}`,
        );
      }
      last = await adminGet(this.opts.apiserverPort, '/readyz', tls);
      if (last.status === 200 && last.body === 'ok') return;
      if (Date.now() > deadline) {
        throw new ControlPlaneError(
          `kube-apiserver of cluster ${this.opts.clusterName} was not ready within ${timeoutMs / 1000} s (/readyz: ${last.status} ${last.body.slice(0, 200)}); see ${this.logFile('kube-apiserver')}`,
        );
      }
      await new Promise((r) => setTimeout(r, READY_POLL_MS));
    }
  }

  /** The admin's CA, certificate and key, read from its kubeconfig. */
  private async adminTls(): Promise<{ ca: string; cert: string; key: string }> {
    const doc = await readKubeconfig(this.adminKubeconfig);
    // The admin kubeconfig is ours (kube-pki.ts): one cluster and one user, certificates embedded.
    const decode = (entry: Record<string, unknown> | undefined, section: string, field: string): string => {
      const v = (entry?.[section] as Record<string, unknown> | undefined)?.[field];
      if (typeof v !== 'string' || v === '') throw new ControlPlaneError(`${this.adminKubeconfig} has no ${field}`);
      return Buffer.from(v, 'base64').toString('utf8');
    };
    return {
      ca: decode(doc.clusters?.[0], 'cluster', 'certificate-authority-data'),
      cert: decode(doc.users?.[0], 'user', 'client-certificate-data'),
      key: decode(doc.users?.[0], 'user', 'client-key-data'),
    };
  }

  /** Stops the controllers, then kube-apiserver (SIGTERM, SIGKILL after a grace period); `kill`: SIGKILL at once. */
  async stop(opts: { kill?: boolean } = {}): Promise<void> {
    for (const role of [...CONTROL_PLANE_ROLES].reverse()) await this.stopRole(role, opts);
  }

  /** Stops one component (fault injection in tests: `kill` for a crash). */
  async stopRole(role: ControlPlaneRole, opts: { kill?: boolean } = {}): Promise<void> {
    const child = this.attached.get(role);
    if (child) {
      await terminate(child, opts.kill ? 0 : STOP_GRACE_MS);
      this.attached.delete(role);
    } else if (this.opts.detached) {
      await stopDaemon(this.pidFile(role), opts.kill ? 0 : STOP_GRACE_MS);
    }
  }
}

async function terminate(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
    });
  });
  child.kill(graceMs === 0 ? 'SIGKILL' : 'SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
  children.delete(child);
}
