/**
 * Which Kubernetes API server a component talks to, and as whom: a kubeconfig (`--kubeconfig`, else $KUBECONFIG,
 * else ~/.kube/config) and one of its contexts (`--context`, else its current-context), loaded with
 * @kubernetes/client-node. cmesh only ever connects to loopback: a context whose server (or proxy) is elsewhere is
 * refused here, before any request is made.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import ipaddr from 'ipaddr.js';
import { KubeConfig, type Cluster, type Context, type User } from '@kubernetes/client-node';

/** Where a kubeconfig is looked for when neither `--kubeconfig` nor $KUBECONFIG names one (as kubectl). */
export const DEFAULT_KUBECONFIG_PATH = path.join('.kube', 'config');

export class KubeconfigError extends Error {
  override name = 'KubeconfigError';
}

/** The selected context's server (or proxy) is not on this machine's loopback. */
export class NonLoopbackServerError extends KubeconfigError {
  override name = 'NonLoopbackServerError';
  constructor(
    readonly context: string,
    readonly url: string,
    what: 'server' | 'proxy-url' = 'server',
  ) {
    super(
      `context "${context}": ${what} ${url} is not a loopback address; cmesh only connects to 127.0.0.0/8, ::1 or ` +
        'localhost. Point the context at a local API server or choose another one with --context',
    );
  }
}

export interface KubeconfigSelection {
  /** `--kubeconfig`: a path; when set, $KUBECONFIG and ~/.kube/config are not read. */
  kubeconfig?: string;
  /** `--context`: a context of the kubeconfig; its current-context when unset. */
  context?: string;
}

export interface LoadedKubeconfig {
  /** Ready for @kubernetes/client-node: its current context is the selected one. */
  kubeConfig: KubeConfig;
  /** The files read, in precedence order. */
  files: string[];
  context: string;
  /** The API server's URL (loopback, checked). */
  server: string;
  /** The kubeconfig user the context names. */
  user: string;
}

/** Whether `host` (a URL's hostname: `127.0.0.1`, `[::1]`, `localhost`) is on loopback. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (h === 'localhost') return true;
  if (!ipaddr.isValid(h)) return false;
  let addr = ipaddr.parse(h);
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
    addr = (addr as ipaddr.IPv6).toIPv4Address();
  }
  return addr.range() === 'loopback';
}

/** Throws NonLoopbackServerError unless the URL's host is on loopback (or the URL does not parse). */
export function assertLoopbackUrl(context: string, url: string, what: 'server' | 'proxy-url' = 'server'): void {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch (err) {
    throw new KubeconfigError(`context "${context}": ${what} ${JSON.stringify(url)} is not a URL`, { cause: err });
  }
  if (!isLoopbackHost(host)) throw new NonLoopbackServerError(context, url, what);
}

/** Checks the current context of a loaded KubeConfig (server and proxy) against the loopback rule. */
export function assertLoopbackContext(kc: KubeConfig): void {
  const context = kc.getCurrentContext();
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new KubeconfigError(`context "${context}" names no known cluster`);
  assertLoopbackUrl(context, cluster.server);
  if (cluster.proxyUrl) assertLoopbackUrl(context, cluster.proxyUrl, 'proxy-url');
}

/** The kubeconfig files to read: `--kubeconfig`, else every existing file of $KUBECONFIG, else ~/.kube/config. */
function kubeconfigFiles(sel: KubeconfigSelection, env: NodeJS.ProcessEnv, home: string): string[] {
  if (sel.kubeconfig !== undefined && sel.kubeconfig !== '') {
    if (!existsSync(sel.kubeconfig))
      throw new KubeconfigError(`kubeconfig ${sel.kubeconfig} (--kubeconfig) does not exist`);
    return [sel.kubeconfig];
  }
  const fromEnv = (env.KUBECONFIG ?? '').split(path.delimiter).filter((f) => f !== '');
  if (fromEnv.length > 0) {
    // As kubectl: files of the list that do not exist are skipped; only an all-missing list is an error.
    const present = fromEnv.filter((f) => existsSync(f));
    if (present.length === 0) {
      throw new KubeconfigError(
        `none of the kubeconfig files in $KUBECONFIG exists (${fromEnv.join(', ')}); fix KUBECONFIG or pass --kubeconfig`,
      );
    }
    return present;
  }
  const file = path.join(home, DEFAULT_KUBECONFIG_PATH);
  if (!existsSync(file)) {
    throw new KubeconfigError(`no kubeconfig: pass --kubeconfig, set $KUBECONFIG, or create ${file}`);
  }
  return [file];
}

function loadFile(file: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(file);
  } catch (err) {
    throw new KubeconfigError(`cannot read kubeconfig ${file}: ${(err as Error).message}`, { cause: err });
  }
  return kc;
}

/**
 * Merges kubeconfig files as kubectl does: the first file that names a cluster, user or context (or sets
 * current-context) wins. (client-node's own mergeConfig throws on a name defined twice, and lets later files win.)
 */
function merge(configs: readonly KubeConfig[]): KubeConfig {
  const clusters = new Map<string, Cluster>();
  const users = new Map<string, User>();
  const contexts = new Map<string, Context>();
  let current: string | undefined;
  for (const kc of configs) {
    for (const c of kc.getClusters()) if (!clusters.has(c.name)) clusters.set(c.name, c);
    for (const u of kc.getUsers()) if (!users.has(u.name)) users.set(u.name, u);
    for (const c of kc.getContexts()) if (!contexts.has(c.name)) contexts.set(c.name, c);
    const cur = kc.getCurrentContext() as string | undefined;
    if (current === undefined && cur) current = cur;
  }
  const merged = new KubeConfig();
  merged.loadFromOptions({
    clusters: [...clusters.values()],
    users: [...users.values()],
    contexts: [...contexts.values()],
    currentContext: current ?? '',
  });
  return merged;
}

/**
 * Loads the kubeconfig and selects the context, with errors a person can act on: which file is missing, which
 * contexts exist when the one asked for does not, and a refusal of any server that is not on loopback.
 */
export function loadKubeconfig(
  sel: KubeconfigSelection = {},
  env: NodeJS.ProcessEnv = process.env,
  home: string = env.HOME ?? homedir(),
): LoadedKubeconfig {
  const files = kubeconfigFiles(sel, env, home);
  const kc = merge(files.map(loadFile));
  const where = files.join(', ');
  const known = kc.getContexts().map((c) => c.name);
  const knownList = known.length > 0 ? `known contexts: ${known.join(', ')}` : 'it defines no context';
  const wanted = sel.context !== undefined && sel.context !== '' ? sel.context : kc.getCurrentContext();
  if (!wanted) {
    throw new KubeconfigError(`${where} sets no current-context; pass --context (${knownList})`);
  }
  const ctx = kc.getContextObject(wanted);
  if (!ctx) {
    const how = sel.context ? '(--context)' : '(its current-context)';
    throw new KubeconfigError(`context "${wanted}" ${how} is not in ${where}; ${knownList}`);
  }
  kc.setCurrentContext(wanted);
  const cluster = kc.getCluster(ctx.cluster);
  if (!cluster)
    throw new KubeconfigError(`context "${wanted}" names cluster "${ctx.cluster}", which ${where} does not define`);
  if (!kc.getUser(ctx.user)) {
    throw new KubeconfigError(`context "${wanted}" names user "${ctx.user}", which ${where} does not define`);
  }
  assertLoopbackContext(kc);
  return { kubeConfig: kc, files, context: wanted, server: cluster.server, user: ctx.user };
}
