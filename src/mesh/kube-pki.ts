/**
 * The PKI of one cluster's Kubernetes control plane: its own CA, the kube-apiserver's serving certificate, the
 * service-account signing key pair, and one client certificate (inside a kubeconfig) per workload, so that every
 * component is a user of its own with its own RBAC role (one identity per workload). Keys are EC P-256 (0.2 s for
 * the lot; RSA takes seconds) and every file holding a key is created exclusively, 0600, never through a symlink.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { createCertificateAuthority, issueCertificate, type CertificateAuthority, type Pem } from './certificates.js';
import { addressAt, parseIpRange } from '../wire/ip.js';
import { writePrivateFile, writePrivateFileAtomic } from './private-file.js';

/** Kubernetes' own user names for its controllers, and the groups RBAC binds. */
export const ADMIN_USER = 'cmesh-admin';
export const ADMIN_GROUP = 'system:masters';
export const CONTROLLER_MANAGER_USER = 'system:kube-controller-manager';
export const SCHEDULER_USER = 'system:kube-scheduler';
/** cmesh components: a user each; agents are one user per node, in a group that the agent role is bound to. */
export const OPERATOR_USER = 'cmesh:operator';
export const CLUSTERMESH_APISERVER_USER = 'cmesh:clustermesh-apiserver';
export const AGENT_GROUP = 'cmesh:agents';
export const agentUser = (node: string): string => `cmesh:agent:${node}`;

/** The service-account issuer every cluster uses (only its own apiserver reads the tokens). */
export const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

export class KubePkiError extends Error {
  override name = 'KubePkiError';
}

/** Where the PKI of a control plane lives, under its folder. */
export interface KubePkiPaths {
  dir: string;
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  serviceAccountPublicKey: string;
  serviceAccountKey: string;
  kubeconfigs: string;
}

export function kubePkiPaths(dir: string): KubePkiPaths {
  const pki = path.join(dir, 'pki');
  return {
    dir: pki,
    caCert: path.join(pki, 'ca.crt'),
    caKey: path.join(pki, 'ca.key'),
    servingCert: path.join(pki, 'apiserver.crt'),
    servingKey: path.join(pki, 'apiserver.key'),
    serviceAccountPublicKey: path.join(pki, 'sa.pub'),
    serviceAccountKey: path.join(pki, 'sa.key'),
    kubeconfigs: path.join(dir, 'kubeconfigs'),
  };
}

/** A user name as a file or kubeconfig entry name: `cmesh:agent:east-node-1` -> `cmesh-agent-east-node-1`. */
function userSlug(user: string): string {
  return user.replace(/[^A-Za-z0-9._-]/g, '-');
}

/** The file name of a user's kubeconfig: `cmesh:agent:east-node-1` -> `cmesh-agent-east-node-1.kubeconfig`. */
export function kubeconfigFile(paths: KubePkiPaths, user: string): string {
  return path.join(paths.kubeconfigs, `${userSlug(user)}.kubeconfig`);
}

export interface KubeconfigInput {
  /** The cluster and context name (`cmesh-east`). */
  contextName: string;
  server: string;
  caPem: string;
  user: string;
  client: Pem;
}

/** A kubeconfig with one cluster, one user and one context, the certificates embedded. */
export function kubeconfigYaml(k: KubeconfigInput): string {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  const userEntry = `${k.contextName}-${userSlug(k.user)}`;
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: k.contextName, cluster: { server: k.server, 'certificate-authority-data': b64(k.caPem) } }],
    users: [
      {
        name: userEntry,
        user: { 'client-certificate-data': b64(k.client.certPem), 'client-key-data': b64(k.client.keyPem) },
      },
    ],
    contexts: [
      {
        name: k.contextName,
        context: { cluster: k.contextName, user: userEntry },
      },
    ],
    'current-context': k.contextName,
  });
}

export interface KubePkiOptions {
  /** Folder of the control plane; the PKI goes into `pki/` and `kubeconfigs/` below it. */
  dir: string;
  /** The kube-apiserver URL written into every kubeconfig (https://127.0.0.1:<port>). */
  server: string;
  /** The cluster's service CIDR: its first address (the `kubernetes` Service) is a SAN of the serving certificate. */
  serviceCidr: string;
  contextName: string;
}

/** The control plane's users that exist from the start; agents get theirs with issueKubeconfig(). */
const FIXED_USERS: readonly { user: string; groups?: readonly string[] }[] = [
  { user: ADMIN_USER, groups: [ADMIN_GROUP] },
  { user: CONTROLLER_MANAGER_USER },
  { user: SCHEDULER_USER },
  { user: OPERATOR_USER },
  { user: CLUSTERMESH_APISERVER_USER },
];

/** Creates the whole PKI of a new control plane. Refuses to overwrite one (files are created exclusively). */
export async function createKubePki(opts: KubePkiOptions): Promise<KubePkiPaths> {
  const p = kubePkiPaths(opts.dir);
  await mkdir(p.dir, { recursive: true, mode: 0o700 });
  await mkdir(p.kubeconfigs, { recursive: true, mode: 0o700 });
  const ca = await createCertificateAuthority(`cmesh-kube-ca-${opts.contextName}`);
  const serving = await issueCertificate(ca, {
    commonName: 'kube-apiserver',
    hosts: [
      '127.0.0.1',
      addressAt(parseIpRange(opts.serviceCidr), 1n),
      'localhost',
      'kubernetes',
      'kubernetes.default',
      'kubernetes.default.svc',
      'kubernetes.default.svc.cluster.local',
    ],
    server: true,
    client: false,
  });
  const sa = generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  await writePrivateFile(p.caCert, ca.certPem);
  await writePrivateFile(p.caKey, ca.keyPem);
  await writePrivateFile(p.servingCert, serving.certPem);
  await writePrivateFile(p.servingKey, serving.keyPem);
  await writePrivateFile(p.serviceAccountPublicKey, sa.publicKey);
  await writePrivateFile(p.serviceAccountKey, sa.privateKey);
  for (const u of FIXED_USERS) await writeKubeconfig(p, ca, opts, u.user, u.groups);
  return p;
}

async function writeKubeconfig(
  p: KubePkiPaths,
  ca: CertificateAuthority,
  opts: Pick<KubePkiOptions, 'server' | 'contextName'>,
  user: string,
  groups?: readonly string[],
): Promise<string> {
  const client = await issueCertificate(ca, { commonName: user, ...(groups ? { organizations: groups } : {}) });
  const file = kubeconfigFile(p, user);
  await writePrivateFileAtomic(
    file,
    kubeconfigYaml({ contextName: opts.contextName, server: opts.server, caPem: ca.certPem, user, client }),
  );
  return file;
}

async function loadCa(p: KubePkiPaths): Promise<CertificateAuthority> {
  try {
    return {
      commonName: 'cmesh-kube-ca',
      certPem: await readFile(p.caCert, 'utf8'),
      keyPem: await readFile(p.caKey, 'utf8'),
    };
  } catch (err) {
    throw new KubePkiError(`the control plane's CA is missing under ${p.dir}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** Issues (or re-issues) a user's client certificate and writes its kubeconfig; returns the file. */
export async function issueKubeconfig(
  dir: string,
  opts: Pick<KubePkiOptions, 'server' | 'contextName'>,
  user: string,
  groups?: readonly string[],
): Promise<string> {
  const p = kubePkiPaths(dir);
  return writeKubeconfig(p, await loadCa(p), opts, user, groups);
}
