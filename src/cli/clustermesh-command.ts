import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Command } from '@commander-js/extra-typings';
import { parseDuration } from '../observe/duration.js';
import type { ClustermeshStatus } from '../mesh/status.js';
import { contextOption } from './context.js';
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
  if (!s.enabled) lines.push(`ClusterMesh is not enabled on cluster "${s.cluster}"`);
  else {
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
      "true | false: run KVStoreMesh so that agents read a local cache of the remotes (default: the cluster's current setting, false the first time)",
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
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples([
        'cmesh clustermesh enable --context east',
        'cmesh clustermesh enable --context east --enable-kvstoremesh true',
        "cmesh clustermesh enable --context west --ca ~/.cmesh/clusters/east/certs  # share east's CA",
      ]),
    )
    .action(async (opts) => {
      const [{ enableClustermesh }, { inspectCluster }] = await Promise.all([
        clustermesh(),
        import('../mesh/local-cluster.js'),
      ]);
      const rec = await enableClustermesh(opts.context, {
        ...(opts.enableKvstoremesh !== undefined ? { kvstoremesh: opts.enableKvstoremesh } : {}),
        ...(opts.enableServiceExports ? { serviceExports: true } : {}),
        ...(opts.clustermeshDefaultGlobalNamespace !== undefined
          ? { defaultGlobalNamespace: opts.clustermeshDefaultGlobalNamespace }
          : {}),
        ...(opts.tls ? {} : { tls: false }),
        ...(opts.ca ? { ca: await readPem(opts.ca) } : {}),
      });
      const info = await inspectCluster(rec.name);
      emit(
        opts.output,
        info,
        () => `clustermesh enabled on cluster "${rec.name}": etcd ${info.clustermeshEtcd?.endpoints.join(',') ?? '?'}`,
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
    .requiredOption('--destination-context <name>', 'the other local cluster')
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
    .requiredOption('--destination-context <name>', 'the other local cluster')
    .addHelpText('after', examples(['cmesh clustermesh disconnect --context east --destination-context west']))
    .action(async (opts) => {
      const { disconnectClusters } = await connect();
      await disconnectClusters(opts.context, opts.destinationContext);
      console.log(`disconnected clusters "${opts.context}" and "${opts.destinationContext}"`);
    });

  cmd
    .command('status')
    .description('show how every agent (and KVStoreMesh) of the cluster sees each remote cluster')
    .addOption(contextOption())
    .option('--wait', 'wait until every remote cluster is ready in every agent')
    .option('--wait-duration <duration>', 'how long --wait waits, e.g. 5m (default: 5m)', (v) =>
      parseDuration(v, '--wait-duration'),
    )
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples([
        'cmesh clustermesh status --context east',
        'cmesh clustermesh status --context east --wait --wait-duration 2m',
        'cmesh clustermesh status --context east -o json',
      ]),
    )
    .action(async (opts) => {
      const { DEFAULT_WAIT_MS, clustermeshStatus, progressLine, waitForClustermesh } =
        await import('../mesh/status.js');
      const { default: ora } = await import('ora');
      let status: ClustermeshStatus;
      if (opts.wait) {
        const timeoutMs = opts.waitDuration ?? DEFAULT_WAIT_MS;
        const spinner =
          process.stdout.isTTY && opts.output === 'text' ? ora('waiting for ClusterMesh').start() : undefined;
        let last = '';
        const res = await waitForClustermesh(opts.context, {
          timeoutMs,
          onProgress: (s) => {
            const line = progressLine(s);
            if (spinner) spinner.text = line;
            else if (line !== last) process.stderr.write(`${line}\n`);
            last = line;
          },
        });
        status = res.status;
        if (spinner) {
          if (res.ready) spinner.succeed('ClusterMesh is ready');
          else spinner.fail(`ClusterMesh not ready after ${timeoutMs / 1000}s`);
        }
        if (!res.ready) process.exitCode = 1;
      } else {
        status = await clustermeshStatus(opts.context);
      }
      emit(opts.output, status, () => formatClustermeshStatus(status));
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
        'cmesh clustermesh secret extract --context west > west.json',
        'cmesh clustermesh secret import --context east west.json',
      ]),
    );
  secret
    .command('extract')
    .description("print the cluster's ClusterMesh secret (endpoint, CA, remote client certificate) as JSON")
    .addOption(contextOption())
    .addHelpText('after', examples(['cmesh clustermesh secret extract --context west > west.json']))
    .action(async (opts) => {
      const { extractSecret } = await secretCode();
      const s = await extractSecret(opts.context);
      process.stdout.write(JSON.stringify(s, null, 2) + '\n');
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
