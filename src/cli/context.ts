import type { Etcd3 } from 'etcd3';
import { Option } from '@commander-js/extra-typings';
import type { ClusterRecord } from '../k8s/local-cluster-record.js';
import type { ClusterPaths } from '../mesh/home.js';

/** The `--context NAME` option: which local cluster a command talks to. */
export function contextOption(): Option<'--context <name>', undefined, undefined, string, true> {
  return new Option('--context <name>', 'the local cluster to use (see `cmesh cluster list`)').makeOptionMandatory();
}

export interface ClusterContext {
  record: ClusterRecord;
  paths: ClusterPaths;
  /** A client of the cluster's state etcd; closed by close(). */
  state(): Etcd3;
  close(): void;
}

export async function openContext(name: string): Promise<ClusterContext> {
  // Loaded here, not at the top: the command tree imports this file for contextOption alone.
  const [{ createEtcdClient }, { loadCluster, stateEtcdEndpoint }, { requireRunning }] = await Promise.all([
    import('../kvstore/client.js'),
    import('../mesh/local-cluster.js'),
    import('../mesh/running.js'),
  ]);
  const { record, paths } = await loadCluster(name);
  await requireRunning(record, paths, ['state-etcd']);
  let client: Etcd3 | undefined;
  return {
    record,
    paths,
    state() {
      client ??= createEtcdClient({ endpoints: [stateEtcdEndpoint(record)] });
      return client;
    },
    close() {
      client?.close();
    },
  };
}

/** Runs `fn` with an open context and always closes it (so the CLI process can exit). */
export async function withContext<T>(name: string, fn: (ctx: ClusterContext) => Promise<T>): Promise<T> {
  const ctx = await openContext(name);
  try {
    return await fn(ctx);
  } finally {
    ctx.close();
  }
}
