/**
 * Turns a connection error into the likely cause and what to do: error texts come from grpc-js, Node's TLS stack,
 * etcd and our own remote-cluster code, so the patterns match their wording.
 */
interface HintRule {
  pattern: RegExp;
  hint: string;
}

const RULES: readonly HintRule[] = [
  {
    pattern: /certificate has expired|CERT_HAS_EXPIRED|expired certificate/i,
    hint: 'a certificate has expired: run `cmesh clustermesh rotate-certs --context <remote>` and reconnect',
  },
  {
    pattern:
      /unknown authority|unable to verify|self[- ]signed certificate|UNABLE_TO_GET_ISSUER|certificate signature failure|bad certificate|unknown ca/i,
    hint: "wrong CA: the remote's certificate is not signed by the CA this cluster trusts (or the reverse); connect again or re-import the remote's secret",
  },
  {
    pattern: /cluster ID \d+ .*(already used|is used by|clash)|same cluster ID|duplicate cluster ID/i,
    hint: 'cluster ID clash: two connected clusters use the same cluster ID; every cluster of a mesh needs a unique ID',
  },
  {
    pattern: /permission denied|user name not found|authentication failed|invalid auth/i,
    hint: "access refused by the remote's etcd: the client certificate's user lacks the permission (wrong certificate, or users not set up)",
  },
  {
    pattern: /cluster config.*not found|not found.*cluster config|waiting for cluster config|no cluster config/i,
    hint: "the remote's cluster config is missing: its clustermesh-apiserver is not running or not ready",
  },
  {
    pattern:
      /ECONNREFUSED|connection refused|ETIMEDOUT|timed? ?out|deadline exceeded|unreachable|No connection established|ENOTFOUND|EHOSTUNREACH/i,
    hint: "unreachable: the remote's clustermesh etcd does not answer (not running, wrong address or port)",
  },
  {
    pattern: /invalid etcd config file|cannot read the etcd config file|cert-file|key-file/i,
    hint: 'the remote config file is invalid or names missing files: connect again or re-import the secret',
  },
];

/** The likely cause of `message`, or null when no rule matches. */
export function hintFor(message: string | null | undefined): string | null {
  if (!message) return null;
  for (const r of RULES) if (r.pattern.test(message)) return r.hint;
  return null;
}
