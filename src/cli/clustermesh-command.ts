import { clusterOfContext } from '../mesh/kube-contexts.js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Command, Option } from '@commander-js/extra-typings';
import { parseDuration } from '../observe/duration.js';
import type { ClustermeshStatus } from '../mesh/status.js';
import { deadlineIn } from '../mesh/steps.js';
import { contextOption } from './context.js';
import { progressReporter, withProgress } from './progress.js';
import { timeoutOption } from './timeout-option.js';
import { vmCommand } from './vm-command.js';
import { emit, outputOption, table } from './output.js';
import { boolFlag } from '../observe/flag-values.js';
import { examples } from './help.js';

// The mesh's code loads when a command runs, not with the command tree (`cmesh --help` stays fast).
const clustermesh = () => import('../mesh/clustermesh.js');
const connect = () => import('../mesh/connect.js');
const secretCode = () => import('../mesh/secret.js');

function yesNo(b: boolean): string {
  return b ? 'yes' : 'no';
}

/** The human view of `clustermesh status`. */
export function formatClustermeshStatus(s: ClustermeshStatus): string {
  const lines: string[] = [];
  if (!s.enabled) {
    return `ClusterMesh is not enabled on cluster "${s.cluster}"; enable it with \`cmesh clustermesh enable --context ${s.cluster}\``;
  }
  if (s.state === 'stopped') {
    return `Cluster "${s.cluster}" is stopped; start it with \`cmesh cluster start ${s.cluster}\`\n\nClusterMesh is not ready`;
  }
  {
    lines.push(
      `Cluster "${s.cluster}": clustermesh-apiserver ${s.apiserver.ready ? 'ready' : s.apiserver.running ? 'not ready' : 'not running'}` +
        `, TLS ${s.tls ? 'on' : 'off'}` +
        (s.kvstoremesh
          ? `, kvstoremesh ${s.kvstoremesh.ready ? 'ready' : s.kvstoremesh.running ? 'not ready' : 'not running'}`
          : ''),
    );
  }
  const down = s.agents.filter((a) => !a.reachable);
  lines.push(`Agents: ${s.agents.length - down.length}/${s.agents.length} answering`);
  for (const a of down) lines.push(`  ${a.node}: ${a.error ?? 'unreachable'}`);
  if (s.remotes.length === 0)
    lines.push('No remote clusters configured (connect one with `cmesh clustermesh connect`)');
  else {
    lines.push('', 'Remote clusters:');
    lines.push(
      table(
        [
          'CLUSTER',
          'CONNECTED',
          'READY',
          'AGENTS READY',
          'NODES',
          'ENDPOINTS',
          'IDENTITIES',
          'SERVICES',
          'KVSTOREMESH',
        ],
        s.remotes.map((r) => [
          r.cluster,
          yesNo(r.connected),
          yesNo(r.ready),
          `${r.readyAgents}/${r.totalAgents}`,
          r.numNodes,
          r.numEndpoints,
          r.numIdentities,
          r.numSharedServices,
          r.kvstoremesh ? (r.kvstoremesh.ready ? 'ready' : r.kvstoremesh.status || 'not ready') : '-',
        ]),
      ),
    );
    for (const r of s.remotes.filter((x) => x.lastError)) {
      lines.push(`  ${r.cluster}: ${r.lastError ?? ''}`);
      if (r.hint) lines.push(`    hint: ${r.hint}`);
    }
  }
  const certs = s.certificates.filter((c) => c.expired || c.expiresSoon || !c.signedByCa);
  for (const c of certs) {
    lines.push(
      `Certificate ${c.name}: ${c.expired ? 'EXPIRED' : c.signedByCa ? 'expires' : 'NOT SIGNED BY THE CA, expires'} ${c.notAfter}` +
        ` - run \`cmesh clustermesh rotate-certs --context ${s.cluster}\``,
    );
  }
  lines.push('', s.ready ? 'ClusterMesh is ready' : 'ClusterMesh is not ready');
  return lines.join('\n');
}

async function readPem(dir: string): Promise<{ certPem: string; keyPem: string }> {
  try {
    return {
      certPem: await readFile(path.join(dir, 'ca.crt'), 'utf8'),
      keyPem: await readFile(path.join(dir, 'ca.key'), 'utf8'),
    };
  } catch (err) {
    throw new Error(`--ca ${dir}: expected ca.crt and ca.key in that folder (${(err as Error).message})`, {
      cause: err,
    });
  }
}

export function clustermeshCommand() {
  const cmd = new Command('clustermesh')
    .description('enable ClusterMesh on local clusters and connect them')
    .addHelpText(
      'after',
      examples([
        'cmesh clustermesh enable --context east',
        'cmesh clustermesh connect --context east --destination-context west',
        'cmesh clustermesh status --context east --wait',
      ]),
    );

  cmd
    .command('enable')
    .summary("start the cluster's clustermesh etcd and clustermesh-apiserver")
    .description(
      "start the cluster's clustermesh etcd (mutual TLS, least-privileged users) and clustermesh-apiserver, and wait until it is ready",
    )
    .addOption(contextOption())
    .option(
      '--enable-kvstoremesh <bool>',
      'true | false: run KVStoreMesh so that agents read a local cache of the remotes (default: true, or what the cluster already had)',
      boolFlag('--enable-kvstoremesh'),
    )
    .option('--enable-service-exports', 'publish MCS-API ServiceExports')
    .option(
      '--clustermesh-default-global-namespace <bool>',
      "true | false: whether namespaces without a clustermesh.cilium.io/global annotation export their objects (default: the cluster's current setting, true the first time)",
      boolFlag('--clustermesh-default-global-namespace'),
    )
    .option(
      '--ca <dir>',
      "use the CA in <dir> (ca.crt, ca.key), e.g. another cluster's certs folder (default: a new CA)",
    )
    .option('--no-tls', 'serve the clustermesh etcd without TLS (insecure; local experiments only; default: TLS on)')
    .addOption(timeoutOption('2m', 'the clustermesh-apiserver to be ready'))
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples([
        'cmesh clustermesh enable --context east',
        'cmesh clustermesh enable --context east --enable-kvstoremesh false  # agents read the remotes directly',
        "cmesh clustermesh enable --context west --ca ~/.cmesh/clusters/east/certs  # share east's CA",
      ]),
    )
    .action(async (opts) => {
      const [{ enableClustermesh }, { inspectCluster }] = await Promise.all([
        clustermesh(),
        import('../mesh/local-cluster.js'),
      ]);
      const ca = opts.ca ? await readPem(opts.ca) : undefined;
      const rec = await withProgress(opts.output !== 'text', (onStep) =>
        enableClustermesh(opts.context, {
          onStep,
          deadline: deadlineIn(opts.timeout),
          ...(opts.enableKvstoremesh !== undefined ? { kvstoremesh: opts.enableKvstoremesh } : {}),
          ...(opts.enableServiceExports ? { serviceExports: true } : {}),
          ...(opts.clustermeshDefaultGlobalNamespace !== undefined
            ? { defaultGlobalNamespace: opts.clustermeshDefaultGlobalNamespace }
            : {}),
          ...(opts.tls ? {} : { tls: false }),
          ...(ca ? { ca } : {}),
        }),
      );
      const info = await inspectCluster(rec.name);
      emit(
        opts.output,
        info,
        () =>
          `clustermesh enabled on cluster "${rec.name}": etcd ${info.clustermeshEtcd?.endpoints.join(',') ?? '?'}` +
          `, TLS ${rec.clustermesh?.tls ? 'on' : 'off'}, KVStoreMesh ${rec.clustermesh?.kvstoremesh ? 'on' : 'off'}`,
      );
    });

  cmd
    .command('disable')
    .description("stop the cluster's clustermesh-apiserver and clustermesh etcd and remove its data")
    .addOption(contextOption())
    .addHelpText('after', examples(['cmesh clustermesh disable --context east']))
    .action(async (opts) => {
      const { disableClustermesh } = await clustermesh();
      await disableClustermesh(opts.context);
      console.log(`clustermesh disabled on cluster "${opts.context}"`);
    });

  cmd
    .command('connect')
    .description('connect two local clusters in both directions (run once for every new cluster and each peer)')
    .addOption(contextOption())
    .requiredOption(
      '--destination-context <name>',
      'the other local cluster (`west` or `cmesh-west`)',
      clusterOfContext,
    )
    .addOption(outputOption())
    .addHelpText('after', examples(['cmesh clustermesh connect --context east --destination-context west']))
    .action(async (opts) => {
      const { connectClusters } = await connect();
      const res = await connectClusters(opts.context, opts.destinationContext);
      emit(
        opts.output,
        res,
        () =>
          `connected clusters "${res.source}" and "${res.destination}"; check with \`cmesh clustermesh status --context ${res.source} --wait\``,
      );
    });

  cmd
    .command('disconnect')
    .description('disconnect two local clusters (both directions); the agents drain the remote state')
    .addOption(contextOption())
    .requiredOption(
      '--destination-context <name>',
      'the other local cluster (`west` or `cmesh-west`)',
      clusterOfContext,
    )
    .addHelpText('after', examples(['cmesh clustermesh disconnect --context east --destination-context west']))
    .action(async (opts) => {
      const { disconnectClusters } = await connect();
      const res = await disconnectClusters(opts.context, opts.destinationContext);
      console.log(
        `disconnected clusters "${res.source}" and "${res.destination}"` +
          (res.updated.length === 1
            ? ` ("${res.destination}" is not a local cluster: removed from "${res.source}" only)`
            : ''),
      );
    });

  cmd
    .command('status')
    .description(
      'show how every agent (and KVStoreMesh) of the cluster sees each remote cluster; exits 1 unless ClusterMesh is ready',
    )
    .addOption(contextOption())
    .option('--wait', 'wait until ClusterMesh is ready: every remote cluster ready in every agent')
    .addOption(timeoutOption('5m', '--wait'))
    .addOption(
      new Option('--wait-duration <duration>', 'the same as --timeout (the name cilium-cli uses)')
        .argParser((v) => parseDuration(v, '--wait-duration'))
        .hideHelp(),
    )
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples([
        'cmesh clustermesh status --context east',
        'cmesh clustermesh status --context east --wait --timeout 2m',
        'cmesh clustermesh status --context east -o json',
      ]),
    )
    .action(async (opts) => {
      const { clustermeshStatus, progressLine, waitForClustermesh } = await import('../mesh/status.js');
      let status: ClustermeshStatus;
      if (opts.wait) {
        const timeoutMs = opts.waitDuration ?? opts.timeout;
        const progress = await progressReporter({ quiet: opts.output !== 'text' });
        progress.step(`waiting for ClusterMesh of cluster ${opts.context} (up to ${timeoutMs / 1000}s)`);
        const res = await waitForClustermesh(opts.context, {
          timeoutMs,
          onProgress: (s) => {
            progress.update(progressLine(s));
          },
        });
        status = res.status;
        progress.done(
          res.ready,
          res.ready ? 'ClusterMesh is ready' : `ClusterMesh not ready after ${timeoutMs / 1000}s`,
        );
      } else {
        status = await clustermeshStatus(opts.context);
      }
      emit(opts.output, status, () => formatClustermeshStatus(status));
      if (!status.ready) process.exitCode = 1;
    });

  cmd
    .command('rotate-certs')
    .summary("issue new certificates for the cluster's clustermesh etcd")
    .description(
      "issue new certificates for the cluster's clustermesh etcd from the same CA and hand the new remote certificate to connected clusters",
    )
    .addOption(contextOption())
    .addOption(outputOption())
    .addHelpText('after', examples(['cmesh clustermesh rotate-certs --context east']))
    .action(async (opts) => {
      const { rotateClusterCertificates } = await connect();
      const res = await rotateClusterCertificates(opts.context);
      emit(
        opts.output,
        res,
        () =>
          `rotated the certificates of cluster "${res.cluster}"${res.caRenewed ? ' (and its CA)' : ''}` +
          (res.updatedClusters.length > 0 ? `; updated connected clusters: ${res.updatedClusters.join(', ')}` : ''),
      );
    });

  const secret = cmd
    .command('secret')
    .description('two-step connect for clusters managed elsewhere: extract a secret here, import it there')
    .addHelpText(
      'after',
      examples([
        'cmesh clustermesh secret extract --context west --output west.json',
        'cmesh clustermesh secret import --context east west.json',
      ]),
    );
  secret
    .command('extract')
    .description("print the cluster's ClusterMesh secret (endpoint, CA, remote client certificate) as JSON")
    .addOption(contextOption())
    .option(
      '--output <file>',
      'write the secret (it holds a private key) to <file>, created 0600 and never through a symlink (default: stdout)',
    )
    .option('--force', 'with --output: replace an existing file (a symlink is refused even so)', false)
    .addHelpText(
      'after',
      examples([
        'cmesh clustermesh secret extract --context west --output west.json',
        'cmesh clustermesh secret extract --context west --output west.json --force',
        'cmesh clustermesh secret extract --context west > west.json',
      ]),
    )
    .action(async (opts) => {
      const { extractSecret } = await secretCode();
      const s = await extractSecret(opts.context);
      const text = JSON.stringify(s, null, 2) + '\n';
      if (opts.output) {
        const { writePrivateFile } = await import('../mesh/private-file.js');
        await writePrivateFile(opts.output, text, { force: opts.force });
        process.stderr.write(`wrote the secret of cluster "${opts.context}" to ${opts.output} (mode 0600)\n`);
        return;
      }
      if (process.stdout.isTTY) {
        process.stderr.write(
          'warning: printing a private key to the terminal; use --output FILE to write it to a 0600 file instead\n',
        );
      }
      process.stdout.write(text);
    });
  secret
    .command('import')
    .description('validate the given secrets and configure this cluster to read those clusters (all or nothing)')
    .addOption(contextOption())
    .argument('<files...>', 'secret files written by `secret extract`')
    .option('--skip-access-check', 'do not check that each remote answers with its secret (e.g. not up yet)')
    .addHelpText(
      'after',
      examples([
        'cmesh clustermesh secret import --context east west.json',
        'cmesh clustermesh secret import --context east west.json north.json --skip-access-check',
      ]),
    )
    .action(async (files, opts) => {
      const [{ readSecretFiles }, { importSecrets }] = await Promise.all([secretCode(), connect()]);
      const secrets = await readSecretFiles(files);
      const names = await importSecrets(opts.context, secrets, { skipAccessCheck: opts.skipAccessCheck === true });
      console.log(`cluster "${opts.context}" now reads: ${names.join(', ')}`);
    });

  cmd.addCommand(vmCommand());

  return cmd;
}
