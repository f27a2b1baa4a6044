/**
 * The certificate files of one local cluster's clustermesh etcd, under `<cluster>/certs/`:
 * `ca.crt`/`ca.key`, `server.crt`/`server.key` and `<user>.crt`/`<user>.key` for each etcd user with a certificate
 * (the CN is the etcd user name).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ClusterRecord } from '../k8s/local-cluster-record.js';
import { certificateUsers } from '../kvstore/users.js';
import {
  createCertificateAuthority,
  inspectCertificate,
  isSignedBy,
  issueCertificate,
  type CertificateAuthority,
  type Pem,
} from './certificates.js';
import { writePrivateFileAtomic } from './private-file.js';
import type { ClusterPaths } from './home.js';

/** Certificates expiring within this many days are reported (and `status` suggests rotate-certs). */
export const CERT_RENEW_BEFORE_DAYS = 30;
export const SERVER_CERT_HOSTS = ['127.0.0.1', 'localhost', '::1'] as const;
const DAY_MS = 86_400_000;

export class CertificateError extends Error {
  override name = 'CertificateError';
}

export interface TlsFiles {
  cert: string;
  key: string;
}

export function caFiles(paths: ClusterPaths): TlsFiles {
  return { cert: path.join(paths.certs, 'ca.crt'), key: path.join(paths.certs, 'ca.key') };
}

export function serverCertFiles(paths: ClusterPaths): TlsFiles {
  return { cert: path.join(paths.certs, 'server.crt'), key: path.join(paths.certs, 'server.key') };
}

export function userCertFiles(paths: ClusterPaths, user: string): TlsFiles {
  return { cert: path.join(paths.certs, `${user}.crt`), key: path.join(paths.certs, `${user}.key`) };
}

/** Where the material received from remote `remote` (its CA and the remote-<remote> client cert) is kept. */
export function remoteMaterialDir(paths: ClusterPaths, remote: string): string {
  return path.join(paths.certs, 'remotes', remote);
}

export async function loadCa(paths: ClusterPaths, clusterName: string): Promise<CertificateAuthority> {
  const f = caFiles(paths);
  try {
    return { commonName: clusterName, certPem: await readFile(f.cert, 'utf8'), keyPem: await readFile(f.key, 'utf8') };
  } catch (err) {
    throw new CertificateError(
      `cannot read the CA of cluster "${clusterName}" (${f.cert}): ${(err as Error).message}; run \`cmesh clustermesh enable --context ${clusterName}\``,
      { cause: err },
    );
  }
}

async function writePem(files: TlsFiles, pem: Pem): Promise<void> {
  // Key first: a reader that sees the new certificate must also find its key.
  await writePrivateFileAtomic(files.key, pem.keyPem);
  await writePrivateFileAtomic(files.cert, pem.certPem);
}

function issueServer(ca: CertificateAuthority, cluster: string): Promise<Pem> {
  return issueCertificate(ca, {
    commonName: `clustermesh-apiserver.${cluster}.cmesh`,
    hosts: SERVER_CERT_HOSTS,
    server: true,
    client: true,
  });
}

export interface EnsureCertificatesOptions {
  /** A CA shared by several clusters (`--ca`), used instead of a new one when the cluster has none yet. */
  ca?: Pem;
}

/**
 * Creates whatever certificate of the cluster is missing: the CA (or the shared one given), the server
 * certificate and one client certificate per etcd user. Existing files are kept, so re-running `enable` changes
 * nothing; a given CA that differs from the cluster's existing one is refused.
 */
export async function ensureClusterCertificates(
  record: ClusterRecord,
  paths: ClusterPaths,
  opts: EnsureCertificatesOptions = {},
): Promise<void> {
  await mkdir(paths.certs, { recursive: true, mode: 0o700 });
  const caf = caFiles(paths);
  if (!existsSync(caf.cert) || !existsSync(caf.key)) {
    let ca: Pem;
    if (opts.ca) {
      await validateCaPair(opts.ca);
      ca = opts.ca;
    } else {
      ca = await createCertificateAuthority(`cmesh-${record.name}-ca`);
    }
    await writePem(caf, ca);
  } else if (opts.ca && opts.ca.certPem.trim() !== (await readFile(caf.cert, 'utf8')).trim()) {
    throw new CertificateError(
      `cluster "${record.name}" already has its own CA (${caf.cert}); a shared CA can only be given the first time clustermesh is enabled`,
    );
  }
  const ca = await loadCa(paths, record.name);
  const server = serverCertFiles(paths);
  if (!existsSync(server.cert) || !existsSync(server.key)) await writePem(server, await issueServer(ca, record.name));
  for (const user of certificateUsers(record.name)) {
    const files = userCertFiles(paths, user);
    if (!existsSync(files.cert) || !existsSync(files.key)) {
      await writePem(files, await issueCertificate(ca, { commonName: user }));
    }
  }
}

async function validateCaPair(ca: Pem): Promise<void> {
  try {
    const info = inspectCertificate(ca.certPem);
    if (!(await isSignedBy(ca.certPem, ca.certPem))) throw new Error('not a self-signed CA certificate');
    if (info.notAfter.getTime() < Date.now()) throw new Error(`expired on ${info.notAfter.toISOString()}`);
    // Proves that the key belongs to the CA: a leaf signed with it must verify against the CA certificate.
    const probe = await issueCertificate({ ...ca, commonName: info.commonName }, { commonName: 'probe' });
    if (!(await isSignedBy(probe.certPem, ca.certPem))) throw new Error('the key does not match the certificate');
  } catch (err) {
    throw new CertificateError(`invalid shared CA: ${(err as Error).message}`, { cause: err });
  }
}

export interface CertificateStatus {
  /** File name relative to the certs folder, e.g. `remote-east.crt`. */
  name: string;
  file: string;
  commonName: string;
  notAfter: string;
  expired: boolean;
  /** Expires within CERT_RENEW_BEFORE_DAYS. */
  expiresSoon: boolean;
  signedByCa: boolean;
}

async function statusOf(file: string, caPem: string, now: number): Promise<CertificateStatus> {
  const pem = await readFile(file, 'utf8');
  const info = inspectCertificate(pem);
  const notAfter = info.notAfter.getTime();
  return {
    name: path.basename(file),
    file,
    commonName: info.commonName,
    notAfter: info.notAfter.toISOString(),
    expired: notAfter <= now,
    expiresSoon: notAfter - now < CERT_RENEW_BEFORE_DAYS * DAY_MS,
    signedByCa: await isSignedBy(pem, caPem),
  };
}

/** The expiry and signature of every certificate of the cluster (CA, server, users). */
export async function certificateStatuses(record: ClusterRecord, paths: ClusterPaths): Promise<CertificateStatus[]> {
  const caPem = (await loadCa(paths, record.name)).certPem;
  const now = Date.now();
  const files = [
    caFiles(paths).cert,
    serverCertFiles(paths).cert,
    ...certificateUsers(record.name).map((u) => userCertFiles(paths, u).cert),
  ];
  const out: CertificateStatus[] = [];
  for (const f of files) {
    if (existsSync(f)) out.push(await statusOf(f, caPem, now));
  }
  return out;
}

/** Throws a CertificateError naming every expired (or foreign) certificate of the cluster. */
export async function assertCertificatesValid(record: ClusterRecord, paths: ClusterPaths): Promise<void> {
  const bad = (await certificateStatuses(record, paths)).filter((s) => s.expired || !s.signedByCa);
  if (bad.length > 0) {
    const list = bad.map((s) => `${s.name} (${s.expired ? `expired ${s.notAfter}` : 'not signed by the CA'})`);
    throw new CertificateError(
      `cluster "${record.name}" has invalid certificates: ${list.join(', ')}; run \`cmesh clustermesh rotate-certs --context ${record.name}\``,
    );
  }
}

/**
 * Issues new server and user certificates signed by the same CA. The CA is kept, so connections made with the old
 * certificates stay valid while every holder picks up the new files; an expired CA is renewed too (the connected
 * clusters then need the new CA, which connect/rotate distribute to local clusters).
 */
export async function rotateCertificates(
  record: ClusterRecord,
  paths: ClusterPaths,
  opts: { validityDays?: number } = {},
): Promise<{ caRenewed: boolean }> {
  let ca = await loadCa(paths, record.name);
  let caRenewed = false;
  if (inspectCertificate(ca.certPem).notAfter.getTime() <= Date.now() + CERT_RENEW_BEFORE_DAYS * DAY_MS) {
    ca = await createCertificateAuthority(`cmesh-${record.name}-ca`);
    await writePem(caFiles(paths), ca);
    caRenewed = true;
  }
  const validity = opts.validityDays !== undefined ? { validityDays: opts.validityDays } : {};
  await writePem(serverCertFiles(paths), await issueServer(ca, record.name));
  for (const user of certificateUsers(record.name)) {
    await writePem(userCertFiles(paths, user), await issueCertificate(ca, { commonName: user, ...validity }));
  }
  return { caRenewed };
}
