/**
 * The ClusterMesh secret: what another cluster needs to read this cluster's clustermesh etcd (its endpoints, its
 * CA and the `remote-<cluster>` client certificate with its key). `secret extract` writes one, `secret import`
 * validates it completely before anything is written.
 */
import { X509Certificate, createPrivateKey, randomBytes, sign, verify } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { remoteUser } from '../kvstore/users.js';
import { inspectCertificate, isSignedBy } from './certificates.js';
import { caFiles, userCertFiles } from './certificates-store.js';
import { clustermeshEndpoint } from './clustermesh-tls.js';
import { cmeshHome } from './home.js';
import { loadCluster } from './local-cluster.js';
import type { MeshClusterInfo } from './prerequisites.js';

export const SECRET_API_VERSION = 'cmesh.io/v1';
export const SECRET_KIND = 'ClusterMeshSecret';

export class SecretError extends Error {
  override name = 'SecretError';
}

const secretSchema = z.strictObject({
  apiVersion: z.literal(SECRET_API_VERSION),
  kind: z.literal(SECRET_KIND),
  cluster: z.strictObject({
    name: z.string(),
    id: z.number().int(),
    maxConnectedClusters: z.union([z.literal(255), z.literal(511)]),
    podCidr: z.string(),
  }),
  endpoints: z.array(z.string().regex(/^https:\/\/[^/\s]+$/, 'must be https://host:port')).min(1),
  ca: z.string(),
  cert: z.string(),
  key: z.string(),
});

export type ClusterMeshSecret = z.infer<typeof secretSchema>;

/** Everything one cluster installs to reach a remote: the remote's facts, endpoints and TLS material. */
export interface RemoteMaterial {
  cluster: MeshClusterInfo;
  endpoints: string[];
  caPem: string;
  certPem: string;
  keyPem: string;
}

export function secretToMaterial(s: ClusterMeshSecret): RemoteMaterial {
  return { cluster: { ...s.cluster }, endpoints: [...s.endpoints], caPem: s.ca, certPem: s.cert, keyPem: s.key };
}

/** Builds the secret of local cluster `name` (clustermesh must be enabled with TLS and its certificates valid). */
export async function extractSecret(name: string, home = cmeshHome()): Promise<ClusterMeshSecret> {
  const { record, paths } = await loadCluster(name, home);
  if (!record.clustermesh?.enabled) {
    throw new SecretError(
      `clustermesh is not enabled on cluster "${name}"; run \`cmesh clustermesh enable --context ${name}\``,
    );
  }
  if (!record.clustermesh.tls) {
    throw new SecretError(
      `the clustermesh etcd of cluster "${name}" runs without TLS; run \`cmesh clustermesh disable --context ${name}\` and enable it again to turn TLS on`,
    );
  }
  const user = userCertFiles(paths, remoteUser(name));
  const secret: ClusterMeshSecret = {
    apiVersion: SECRET_API_VERSION,
    kind: SECRET_KIND,
    cluster: {
      name: record.name,
      id: record.id,
      maxConnectedClusters: record.maxConnectedClusters,
      podCidr: record.podCidr,
    },
    endpoints: [clustermeshEndpoint(record)],
    ca: await readFile(caFiles(paths).cert, 'utf8'),
    cert: await readFile(user.cert, 'utf8'),
    key: await readFile(user.key, 'utf8'),
  };
  // The same checks an importer makes: better to fail here than hand out a secret that will be refused.
  await validateSecret(secret, `cluster "${name}"`);
  return secret;
}

/** Parses and fully validates a secret file's text; `source` (e.g. the file name) prefixes every message. */
export async function parseSecret(text: string, source: string): Promise<ClusterMeshSecret> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new SecretError(`${source}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
  const parsed = secretSchema.safeParse(doc);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new SecretError(
      `${source}: not a ${SECRET_KIND} (${issues}); create one with \`cmesh clustermesh secret extract --context NAME\``,
    );
  }
  await validateSecret(parsed.data, source);
  return parsed.data;
}

/**
 * The cryptographic checks: both PEMs parse, the CA is self-signed, the certificate is signed by it, names user
 * `remote-<cluster>`, is valid now, and the key belongs to the certificate (proved by signing a nonce).
 */
export async function validateSecret(s: ClusterMeshSecret, source: string): Promise<void> {
  const fail = (msg: string, cause?: unknown): never => {
    throw new SecretError(`${source}: ${msg}`, cause === undefined ? undefined : { cause });
  };
  let caInfo, certInfo;
  try {
    caInfo = inspectCertificate(s.ca);
  } catch (err) {
    return fail('field "ca" is not a PEM certificate', err);
  }
  try {
    certInfo = inspectCertificate(s.cert);
  } catch (err) {
    return fail('field "cert" is not a PEM certificate', err);
  }
  if (!(await isSignedBy(s.ca, s.ca))) fail('field "ca" is not a self-signed CA certificate (tampered?)');
  if (!(await isSignedBy(s.cert, s.ca))) {
    fail(`the certificate is not signed by the CA in the file (tampered, or cert and ca come from different clusters)`);
  }
  const expectedCn = remoteUser(s.cluster.name);
  if (certInfo.commonName !== expectedCn) {
    fail(
      `the certificate is for etcd user "${certInfo.commonName}", expected "${expectedCn}" for cluster "${s.cluster.name}"`,
    );
  }
  const now = Date.now();
  for (const [what, info] of [
    ['CA', caInfo],
    ['certificate', certInfo],
  ] as const) {
    if (info.notAfter.getTime() <= now) {
      fail(
        `the ${what} expired on ${info.notAfter.toISOString()}; run \`cmesh clustermesh rotate-certs --context ${s.cluster.name}\` and extract the secret again`,
      );
    }
    if (info.notBefore.getTime() > now) fail(`the ${what} is not valid before ${info.notBefore.toISOString()}`);
  }
  let keyMatches = false;
  try {
    const nonce = randomBytes(32);
    const signature = sign('sha256', nonce, createPrivateKey(s.key));
    keyMatches = verify('sha256', nonce, new X509Certificate(s.cert).publicKey, signature);
  } catch (err) {
    fail('field "key" is not a usable PEM private key', err);
  }
  if (!keyMatches) fail('the private key does not belong to the certificate (tampered?)');
}

/** Reads and validates every secret file; all must be valid before any is used. */
export async function readSecretFiles(files: readonly string[]): Promise<ClusterMeshSecret[]> {
  const out: ClusterMeshSecret[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = await readFile(f, 'utf8');
    } catch (err) {
      throw new SecretError(`${f}: cannot read (${(err as Error).message})`, { cause: err });
    }
    out.push(await parseSecret(text, f));
  }
  return out;
}
