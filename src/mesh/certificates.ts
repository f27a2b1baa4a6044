import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

type CryptoKey = webcrypto.CryptoKey;

/** ECDSA P-256: small, fast to generate, accepted by etcd and grpc-js. */
const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;
export const DEFAULT_CA_VALIDITY_DAYS = 3 * 365;
export const DEFAULT_CERT_VALIDITY_DAYS = 365;
/** Certificates are back-dated a little so that small clock skew between processes does not reject them. */
const NOT_BEFORE_SKEW_MS = 5 * 60_000;
const DAY_MS = 86_400_000;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export interface Pem {
  certPem: string;
  keyPem: string;
}

export interface CertificateAuthority extends Pem {
  commonName: string;
}

export interface IssueOptions {
  commonName: string;
  /** Subject organizations (O=); Kubernetes reads them as the user's groups, e.g. `system:masters`. */
  organizations?: readonly string[];
  /** DNS names and IP addresses the certificate is valid for (server certificates). */
  hosts?: readonly string[];
  server?: boolean;
  client?: boolean;
  validityDays?: number;
  /** For tests of expiry handling: issue a certificate whose validity has already ended. */
  notAfter?: Date;
  notBefore?: Date;
}

function serial(): string {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)))
    .toString('hex')
    .replace(/^[89a-f]/, '1');
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function importKey(keyPem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decodeFirst(keyPem);
  return webcrypto.subtle.importKey('pkcs8', der, KEY_ALGORITHM, true, ['sign']);
}

export async function createCertificateAuthority(
  commonName: string,
  validityDays = DEFAULT_CA_VALIDITY_DAYS,
): Promise<CertificateAuthority> {
  const keys = await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${commonName}`,
    notBefore: new Date(now - NOT_BEFORE_SKEW_MS),
    notAfter: new Date(now + validityDays * DAY_MS),
    signingAlgorithm: SIGNING_ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { commonName, certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey) };
}

function isIp(host: string): boolean {
  return /^[0-9.]+$/.test(host) || host.includes(':');
}

/** Issues a leaf certificate signed by `ca`. The common name is what etcd maps to a user name. */
export async function issueCertificate(ca: CertificateAuthority, opts: IssueOptions): Promise<Pem> {
  const keys = await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await importKey(ca.keyPem);
  const now = Date.now();
  const usages: string[] = [];
  if (opts.server) usages.push(x509.ExtendedKeyUsage.serverAuth);
  if (opts.client ?? true) usages.push(x509.ExtendedKeyUsage.clientAuth);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension(usages),
    await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
  ];
  if (opts.hosts?.length) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(opts.hosts.map((h) => ({ type: isIp(h) ? 'ip' : 'dns', value: h }))),
    );
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: opts.organizations?.length
      ? [{ CN: [opts.commonName] }, ...opts.organizations.map((o) => ({ O: [o] }))]
      : `CN=${opts.commonName}`,
    issuer: caCert.subject,
    notBefore: opts.notBefore ?? new Date(now - NOT_BEFORE_SKEW_MS),
    notAfter: opts.notAfter ?? new Date(now + (opts.validityDays ?? DEFAULT_CERT_VALIDITY_DAYS) * DAY_MS),
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions,
  });
  return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey) };
}

export interface CertificateInfo {
  subject: string;
  commonName: string;
  issuer: string;
  notBefore: Date;
  notAfter: Date;
}

export function inspectCertificate(certPem: string): CertificateInfo {
  const cert = new x509.X509Certificate(certPem);
  const cn = /CN=([^,]+)/.exec(cert.subject)?.[1] ?? '';
  return {
    subject: cert.subject,
    commonName: cn,
    issuer: cert.issuer,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
  };
}

/** True when `certPem` carries a valid signature of `ca`. */
export async function isSignedBy(certPem: string, caPem: string): Promise<boolean> {
  const cert = new x509.X509Certificate(certPem);
  const ca = new x509.X509Certificate(caPem);
  try {
    return await cert.verify({ publicKey: ca.publicKey, signatureOnly: true });
  } catch {
    return false;
  }
}
