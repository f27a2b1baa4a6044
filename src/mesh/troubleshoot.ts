/**
 * `cmesh troubleshoot clustermesh`: for each configured remote, walks the path a connection takes (config file,
 * certificates, DNS, TCP, TLS, etcd auth, cluster config, sync canaries) and says where it breaks and why.
 */
import { X509Certificate } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import tls from 'node:tls';
import { createEtcdClient, loadEtcdConfigFile, type EtcdClientOptions } from '../kvstore/client.js';
import { assertCertificatesValid } from './certificates-store.js';
import { kvstoremeshConfigDir } from './clustermesh-tls.js';
import { ipFamily } from '../wire/ip.js';
import { runningPid } from './daemon.js';
import { cmeshHome } from './home.js';
import { hintFor } from './hints.js';
import { listClusterNames, loadCluster, pidFile, processStates, runState } from './local-cluster.js';
import { checkReachable } from './prerequisites.js';

const CHECK_TIMEOUT_MS = 3_000;
const STATE_CANARIES = ['nodes', 'services', 'identities', 'ip'] as const;

export type CheckName = 'config' | 'certificates' | 'dns' | 'tcp' | 'tls' | 'auth' | 'cluster-config' | 'canaries';

export interface Check {
  /** A CheckName for remote checks; the process role or `certificates` for local ones. */
  name: string;
  ok: boolean;
  message: string;
  hint: string | null;
}

export interface RemoteDiagnosis {
  remote: string;
  /** Which config file was checked: the agents' (`agents`) or KVStoreMesh's (`kvstoremesh`). */
  reader: 'agents' | 'kvstoremesh';
  file: string;
  ok: boolean;
  checks: Check[];
}

export interface TroubleshootReport {
  cluster: string;
  ok: boolean;
  local: Check[];
  remotes: RemoteDiagnosis[];
}

function check(name: string, ok: boolean, message: string, hint: string | null = null): Check {
  return { name, ok, message, hint: ok ? null : (hint ?? hintFor(message)) };
}

function tlsHandshake(host: string, port: number, opts: EtcdClientOptions): Promise<string | null> {
  return new Promise((resolve) => {
    const sock = tls.connect({
      host,
      port,
      ...(opts.tls?.ca ? { ca: opts.tls.ca } : {}),
      ...(opts.tls?.cert ? { cert: opts.tls.cert } : {}),
      ...(opts.tls?.key ? { key: opts.tls.key } : {}),
      ...(ipFamily(host) === undefined ? { servername: host } : {}),
      ALPNProtocols: ['h2'],
      timeout: CHECK_TIMEOUT_MS,
    });
    const done = (err: string | null): void => {
      sock.destroy();
      resolve(err);
    };
    sock.once('secureConnect', () => {
      done(sock.authorized ? null : String(sock.authorizationError));
    });
    sock.once('error', (err: Error) => {
      done(err.message);
    });
    sock.once('timeout', () => {
      done(`no TLS handshake within ${CHECK_TIMEOUT_MS} ms`);
    });
  });
}

function certExpiry(pem: Buffer | string | undefined, what: string): Check | null {
  if (pem === undefined) return null;
  try {
    const c = new X509Certificate(pem);
    const notAfter = new Date(c.validTo);
    if (notAfter.getTime() <= Date.now()) {
      return check('certificates', false, `the ${what} certificate has expired (${notAfter.toISOString()})`);
    }
    return null;
  } catch (err) {
    return check('certificates', false, `the ${what} file is not a PEM certificate: ${(err as Error).message}`);
  }
}

async function diagnose(
  remote: string,
  file: string,
  reader: RemoteDiagnosis['reader'],
  viaLocalCache: boolean,
): Promise<RemoteDiagnosis> {
  const checks: Check[] = [];
  const finish = (): RemoteDiagnosis => ({ remote, reader, file, ok: checks.every((c) => c.ok), checks });

  let opts: EtcdClientOptions;
  try {
    opts = await loadEtcdConfigFile(file);
    checks.push(check('config', true, `valid etcd config: ${opts.endpoints.join(', ')}`));
  } catch (err) {
    checks.push(check('config', false, (err as Error).message));
    return finish();
  }
  const certProblems = [certExpiry(opts.tls?.ca, 'CA'), certExpiry(opts.tls?.cert, 'client')].filter(
    (c): c is Check => c !== null,
  );
  checks.push(
    ...(certProblems.length > 0 ? certProblems : [check('certificates', true, 'CA and client certificate valid')]),
  );

  const endpoint = opts.endpoints[0] ?? '';
  const url = new URL(endpoint);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || 2379);
  try {
    const addr = await lookup(host);
    checks.push(check('dns', true, `${host} resolves to ${addr.address}`));
  } catch (err) {
    checks.push(check('dns', false, `cannot resolve ${host}: ${(err as Error).message}`));
    return finish();
  }
  try {
    await checkReachable(
      endpoint,
      `the etcd of ${viaLocalCache ? 'the local cluster (cache)' : `cluster "${remote}"`}`,
      CHECK_TIMEOUT_MS,
    );
    checks.push(check('tcp', true, `${host}:${port} accepts connections`));
  } catch (err) {
    checks.push(check('tcp', false, (err as Error).message));
    return finish();
  }
  if (url.protocol === 'https:') {
    const tlsErr = await tlsHandshake(host, port, opts);
    checks.push(
      tlsErr === null
        ? check('tls', true, 'server certificate verified with the configured CA')
        : check('tls', false, `TLS handshake failed: ${tlsErr}`),
    );
    if (tlsErr !== null) return finish();
  }

  const client = createEtcdClient({ ...opts, requestTimeoutMs: CHECK_TIMEOUT_MS });
  try {
    let raw: string | null;
    try {
      raw = await client.get(`cilium/cluster-config/${remote}`).string();
      checks.push(check('auth', true, 'etcd accepted the client certificate and allowed reading the cluster config'));
    } catch (err) {
      checks.push(check('auth', false, `etcd refused the request: ${(err as Error).message}`));
      return finish();
    }
    if (raw === null) {
      checks.push(
        check(
          'cluster-config',
          false,
          `cluster config cilium/cluster-config/${remote} not found`,
          viaLocalCache
            ? 'the local KVStoreMesh has not cached this remote yet: check `cmesh troubleshoot` for its own config (reader kvstoremesh)'
            : `the clustermesh-apiserver of "${remote}" is not running; run \`cmesh clustermesh enable --context ${remote}\``,
        ),
      );
      return finish();
    }
    let cfg: { id?: unknown; capabilities?: { syncedCanaries?: unknown; cached?: unknown } };
    try {
      cfg = JSON.parse(raw) as typeof cfg;
    } catch {
      checks.push(check('cluster-config', false, `cluster config of "${remote}" is not JSON: ${raw.slice(0, 80)}`));
      return finish();
    }
    checks.push(check('cluster-config', true, `cluster "${remote}" has ID ${String(cfg.id)}`));
    if (cfg.capabilities?.syncedCanaries === true) {
      const base = cfg.capabilities.cached === true || viaLocalCache ? 'cilium/cache' : 'cilium/state';
      const missing: string[] = [];
      for (const r of STATE_CANARIES) {
        const key = `cilium/synced/${remote}/${base}/${r}/v1`;
        if ((await client.get(key).string()) === null) missing.push(key);
      }
      checks.push(
        missing.length === 0
          ? check('canaries', true, 'every sync canary is present')
          : check(
              'canaries',
              false,
              `sync canaries missing: ${missing.join(', ')}`,
              viaLocalCache
                ? 'KVStoreMesh has not finished copying this remote'
                : "the remote's clustermesh-apiserver has not finished its initial sync",
            ),
      );
    }
  } finally {
    client.close();
  }
  return finish();
}

async function configFiles(dir: string, local: string): Promise<{ remote: string; file: string }[]> {
  try {
    return (await readdir(dir))
      .filter((f) => !f.startsWith('.') && f !== local)
      .sort()
      .map((f) => ({ remote: f, file: path.join(dir, f) }));
  } catch {
    return [];
  }
}

export async function troubleshootClustermesh(name: string, home = cmeshHome()): Promise<TroubleshootReport> {
  const { record, paths } = await loadCluster(name, home);
  const cm = record.clustermesh;
  const local: Check[] = [];
  if (!cm?.enabled) {
    local.push(
      check(
        'clustermesh',
        false,
        `clustermesh is not enabled on "${name}"`,
        `run \`cmesh clustermesh enable --context ${name}\``,
      ),
    );
  } else {
    const roles = ['clustermesh-etcd', 'apiserver', ...(cm.kvstoremesh ? ['kvstoremesh'] : [])];
    for (const role of roles) {
      const running = (await runningPid(pidFile(paths, role))) !== undefined;
      local.push(
        check(
          role,
          running,
          running ? `${role} is running` : `${role} is not running`,
          `start it again with \`cmesh cluster start ${name}\`; see ${path.join(paths.logs, `${role}.log`)}`,
        ),
      );
    }
    if (cm.tls) {
      try {
        await assertCertificatesValid(record, paths);
        local.push(check('certificates', true, 'local certificates valid'));
      } catch (err) {
        local.push(check('certificates', false, (err as Error).message));
      }
    }
  }
  const kvsm = cm?.enabled === true && cm.kvstoremesh;
  const remotes: RemoteDiagnosis[] = [];
  for (const { remote, file } of await configFiles(paths.clustermeshConfig, name)) {
    remotes.push(await diagnose(remote, file, 'agents', kvsm));
  }
  const kvDir = kvstoremeshConfigDir(paths);
  if (kvsm && existsSync(kvDir)) {
    for (const { remote, file } of await configFiles(kvDir, name)) {
      remotes.push(await diagnose(remote, file, 'kvstoremesh', false));
    }
  }
  await hintStoppedLocalRemotes(remotes, home);
  return { cluster: name, ok: local.every((c) => c.ok) && remotes.every((r) => r.ok), local, remotes };
}

/**
 * A remote that is one of this machine's own clusters and is not running fails its checks for that reason alone:
 * the useful hint is the command that starts it, not the generic one for an unreachable etcd.
 */
async function hintStoppedLocalRemotes(remotes: RemoteDiagnosis[], home: string): Promise<void> {
  const local = await listClusterNames(home);
  for (const r of remotes.filter((x) => !x.ok && local.includes(x.remote))) {
    const { record, paths } = await loadCluster(r.remote, home);
    const state = runState(await processStates(record, paths));
    if (state === 'running') continue;
    const failed = r.checks.find((c) => !c.ok);
    if (failed)
      failed.hint = `"${r.remote}" is a local cluster and it is ${state}: start it with \`cmesh cluster start ${r.remote}\``;
  }
}
