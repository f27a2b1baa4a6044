/** The `cmesh kvstoremesh` command: its flags only; KVStoreMesh's code loads when it runs (src/kvstoremesh/main.ts). */
import { Command, Option } from '@commander-js/extra-typings';
import { parseDuration } from '../observe/duration.js';
import { intFlag } from '../observe/flag-values.js';
import { examples } from './help.js';
import {
  DISCONNECT_GRACE_PERIOD_MS,
  GLOBAL_READY_TIMEOUT_MS,
  PER_CLUSTER_READY_TIMEOUT_MS,
} from '../kvstoremesh/defaults.js';

/** A duration flag parsed to milliseconds whose help shows its default as a duration (15s), not as 15000. */
function durationOption<F extends string>(flags: F, description: string, defaultMs: number, defaultText: string) {
  return new Option(flags, description)
    .argParser((v) => parseDuration(v, flags.split(' ')[0]))
    .default(defaultMs, defaultText);
}

export function kvstoremeshCommand() {
  return new Command('kvstoremesh')
    .summary("run KVStoreMesh: cache the remote clusters' state in the local clustermesh etcd")
    .description(
      "run KVStoreMesh: cache every remote cluster's nodes, services, identities and endpoints in the local " +
        'clustermesh etcd (cilium/cache/...), so that the local agents read one nearby etcd',
    )
    .option(
      '--cluster-dir <dir>',
      'a local cluster folder: takes every setting below from its cluster.json (default: none; give the flags)',
    )
    .option('--cluster-name <name>', "this cluster's name (default: from --cluster-dir)")
    .option('--cluster-id <id>', "this cluster's ID (default: from --cluster-dir)", intFlag('--cluster-id'))
    .option(
      '--max-connected-clusters <n>',
      '255 or 511 (default: from --cluster-dir, else 255)',
      intFlag('--max-connected-clusters'),
    )
    .option(
      '--clustermesh-config <dir>',
      'remote cluster configs: one etcd config file per remote, named after it (default: <cluster-dir>/kvstoremesh)',
    )
    .option(
      '--kvstore <url>',
      'the local clustermesh etcd endpoint, plain and loopback (default: from --cluster-dir when TLS is off)',
    )
    .option(
      '--kvstore-config <file>',
      'etcd config file (Cilium format) of the local clustermesh etcd (default: from --cluster-dir when TLS is on)',
    )
    .option(
      '--health-port <port>',
      '/healthz, /readyz and /metrics on 127.0.0.1:<port> (default: from --cluster-dir, else any free port)',
      intFlag('--health-port'),
    )
    .addOption(
      durationOption(
        '--per-cluster-ready-timeout <duration>',
        'a remote that does not connect within this stops blocking readiness',
        PER_CLUSTER_READY_TIMEOUT_MS,
        '15s',
      ),
    )
    .addOption(
      durationOption(
        '--global-ready-timeout <duration>',
        'ready after this even if some remotes are not synchronized',
        GLOBAL_READY_TIMEOUT_MS,
        '10m',
      ),
    )
    .addOption(
      durationOption(
        '--disconnect-grace-period <duration>',
        "how long a removed remote's cache outlives its cluster config",
        DISCONNECT_GRACE_PERIOD_MS,
        '3m',
      ),
    )
    .addHelpText(
      'after',
      examples([
        'cmesh kvstoremesh --cluster-dir ~/.cmesh/clusters/east',
        'cmesh kvstoremesh --cluster-name east --cluster-id 1 --clustermesh-config ./remotes --kvstore http://127.0.0.1:2381 --per-cluster-ready-timeout 30s',
      ]),
    )
    .action(async (opts) => {
      const { kvstoremeshRunOptions, runKVStoreMesh } = await import('../kvstoremesh/main.js');
      await runKVStoreMesh(await kvstoremeshRunOptions(opts));
    });
}
