import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Command } from '@commander-js/extra-typings';
import type { ManifestDocument } from '../k8s/manifest.js';
import type { ObjectStore } from '../k8s/object-store.js';
import { KINDS, resolveKind, type AnyObject, type KindName } from '../k8s/types.js';
import { contextOption, withContext } from './context.js';
import { examples } from './help.js';
import { emit, outputOption, table } from './output.js';

// The manifest parser and the object store (etcd client, schemas) load when a command runs, not with the command tree.
const manifests = () => import('../k8s/manifest.js');
const objectStore = () => import('../k8s/object-store.js');

const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/** Reads -f FILE|DIR|- into (source name, text) pairs; a directory contributes its manifest files, sorted. */
async function readSources(file: string): Promise<{ source: string; text: string }[]> {
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return [{ source: '<stdin>', text: Buffer.concat(chunks).toString('utf8') }];
  }
  let st;
  try {
    st = await stat(file);
  } catch {
    throw new Error(`cannot read ${file}: no such file or directory`);
  }
  if (!st.isDirectory()) return [{ source: file, text: await readFile(file, 'utf8') }];
  const names = (await readdir(file)).filter((n) => MANIFEST_EXTENSIONS.has(path.extname(n))).sort();
  if (names.length === 0) throw new Error(`${file} holds no .yaml, .yml or .json files`);
  return Promise.all(
    names.map(async (n) => ({ source: path.join(file, n), text: await readFile(path.join(file, n), 'utf8') })),
  );
}

function describe(o: AnyObject): string {
  const info = KINDS[o.kind];
  const ns = info.namespaced ? `${o.metadata.namespace ?? 'default'}/` : '';
  return `${info.kind.toLowerCase()}/${ns}${o.metadata.name}`;
}

function requireKind(name: string): KindName {
  const k = resolveKind(name);
  if (!k) {
    const known = Object.values(KINDS)
      .map((i) => i.resource)
      .join(', ');
    throw new Error(`unknown kind "${name}"; known kinds: ${known}`);
  }
  return k;
}

function age(ts: string | undefined): string {
  if (!ts) return '-';
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(ts)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** Kind-specific columns for the text view, like kubectl's. */
function columns(kind: KindName): { head: string[]; row: (o: AnyObject) => (string | number)[] } {
  switch (kind) {
    case 'Pod':
      return {
        head: ['STATUS', 'IP', 'NODE'],
        row: (o) => {
          const p = o as KindMapPod;
          return [p.status?.phase ?? 'Pending', p.status?.podIP ?? '-', p.spec?.nodeName ?? '-'];
        },
      };
    case 'Service':
      return {
        head: ['TYPE', 'CLUSTER-IP', 'PORTS'],
        row: (o) => {
          const s = o as KindMapService;
          return [
            s.spec?.type ?? 'ClusterIP',
            s.spec?.clusterIP ?? '-',
            (s.spec?.ports ?? []).map((p) => `${p.port}/${p.protocol ?? 'TCP'}`).join(',') || '-',
          ];
        },
      };
    case 'CiliumEndpoint':
      return {
        head: ['IDENTITY', 'IPV4', 'NODE'],
        row: (o) => {
          const c = o as KindMapCep;
          return [
            c.status?.identity?.id ?? '-',
            c.status?.networking?.addressing[0]?.ipv4 ?? '-',
            c.status?.networking?.node ?? '-',
          ];
        },
      };
    default:
      return { head: [], row: () => [] };
  }
}
type KindMapPod = import('../k8s/types.js').Pod;
type KindMapService = import('../k8s/types.js').Service;
type KindMapCep = import('../k8s/types.js').CiliumEndpoint;

export function applyCommand() {
  return new Command('apply')
    .description('create or update objects from multi-document YAML (a file, a folder of files, or - for stdin)')
    .addOption(contextOption())
    .requiredOption('-f, --filename <path>', 'manifest file, folder, or - for standard input')
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples([
        'cmesh apply --context east -f examples/shop.yaml',
        'cmesh apply --context east -f manifests/',
        'cmesh apply --context east -f - < examples/shop.yaml',
      ]),
    )
    .action(async (opts) => {
      const [{ parseManifest }, { ObjectStore }] = await Promise.all([manifests(), objectStore()]);
      const sources = await readSources(opts.filename);
      // Parse and validate every file before writing anything: a bad document anywhere changes nothing.
      const parsed: { source: string; docs: ManifestDocument[] }[] = sources.map((s) => ({
        source: s.source,
        docs: parseManifest(s.text, s.source),
      }));
      await withContext(opts.context, async (ctx) => {
        const store = new ObjectStore(ctx.state());
        for (const p of parsed)
          store.validateAll(
            p.docs.map((d) => d.object),
            p.docs.map((d) => d.location),
          );
        const results: Awaited<ReturnType<ObjectStore['applyAll']>> = [];
        for (const p of parsed) {
          const res = await store.applyAll(
            p.docs.map((d) => d.object),
            { locations: p.docs.map((d) => d.location) },
          );
          results.push(...res);
        }
        emit(
          opts.output,
          results.map((r) => ({
            kind: r.object.kind,
            namespace: r.object.metadata.namespace ?? null,
            name: r.object.metadata.name,
            action: r.action,
          })),
          () => results.map((r) => `${describe(r.object)} ${r.action}`).join('\n') || 'nothing to apply',
        );
      });
    });
}

export function getCommand() {
  return new Command('get')
    .description('list objects of a kind, or show one (kinds: pods, services, endpointslices, ciliumendpoints, ...)')
    .argument('<kind>', 'kind, plural or short name (po, svc, cep, cn, cnp, ...)')
    .argument('[name]', 'one object by name')
    .addOption(contextOption())
    .option('-n, --namespace <ns>', 'namespace (default: all namespaces for lists, "default" for a name)')
    .option('-l, --selector <selector>', 'label selector, e.g. app=web,tier!=db (default: every object)')
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples([
        'cmesh get pods --context east',
        'cmesh get svc web --context east -n shop -o yaml',
        'cmesh get cep --context east -n shop -l app=web',
      ]),
    )
    .action(async (kindArg, name, opts) => {
      const { ObjectStore } = await objectStore();
      const kind = requireKind(kindArg);
      const namespaced = KINDS[kind].namespaced;
      await withContext(opts.context, async (ctx) => {
        const store = new ObjectStore(ctx.state());
        if (name) {
          const ns = namespaced ? (opts.namespace ?? 'default') : undefined;
          const obj = await store.get(kind, ns, name);
          if (!obj) throw new Error(`${KINDS[kind].resource} "${name}" not found${ns ? ` in namespace ${ns}` : ''}`);
          emit(opts.output, obj, () => renderTable(kind, [obj]));
          return;
        }
        const { items } = await store.list(kind, {
          ...(opts.namespace ? { namespace: opts.namespace } : {}),
          ...(opts.selector ? { labelSelector: opts.selector } : {}),
        });
        emit(opts.output, { apiVersion: 'v1', kind: 'List', items }, () =>
          items.length === 0 ? `no ${KINDS[kind].resource} found` : renderTable(kind, items),
        );
      });
    });
}

function renderTable(kind: KindName, items: readonly AnyObject[]): string {
  const namespaced = KINDS[kind].namespaced;
  const c = columns(kind);
  return table(
    [...(namespaced ? ['NAMESPACE'] : []), 'NAME', ...c.head, 'AGE'],
    items.map((o) => [
      ...(namespaced ? [o.metadata.namespace ?? ''] : []),
      o.metadata.name,
      ...c.row(o),
      age(o.metadata.creationTimestamp),
    ]),
  );
}

export function deleteCommand() {
  return new Command('delete')
    .description('delete objects named in manifests (-f), or one object by kind and name')
    .argument('[kind]', 'kind, plural or short name')
    .argument('[name]', 'object name')
    .addOption(contextOption())
    .option(
      '-f, --filename <path>',
      'manifest file, folder, or - for standard input (default: none; give a kind and a name instead)',
    )
    .option('-n, --namespace <ns>', 'namespace of a named object', 'default')
    .option('--ignore-not-found', 'do not fail when the object does not exist', false)
    .addHelpText(
      'after',
      examples([
        'cmesh delete --context east -f examples/shop.yaml',
        'cmesh delete pod web-1 --context east -n shop',
        'cmesh delete svc web --context east -n shop --ignore-not-found',
      ]),
    )
    .action(async (kindArg, name, opts) => {
      const [{ parseManifest }, { ObjectStore }] = await Promise.all([manifests(), objectStore()]);
      await withContext(opts.context, async (ctx) => {
        const store = new ObjectStore(ctx.state());
        if (opts.filename) {
          const objects: AnyObject[] = [];
          for (const s of await readSources(opts.filename)) {
            const docs = parseManifest(s.text, s.source);
            objects.push(
              ...store.validateAll(
                docs.map((d) => d.object),
                docs.map((d) => d.location),
              ),
            );
          }
          const deleted = await store.deleteAll(objects);
          objects.forEach((o, i) => {
            console.log(`${describe(o)} ${deleted[i] ? 'deleted' : 'not found'}`);
          });
          return;
        }
        if (!kindArg || !name)
          throw new Error('give -f FILE, or a kind and a name (e.g. `cmesh delete pod web-1 -n shop`)');
        const kind = requireKind(kindArg);
        const ns = KINDS[kind].namespaced ? opts.namespace : undefined;
        const gone = await store.delete(kind, ns, name);
        if (!gone && !opts.ignoreNotFound)
          throw new Error(`${KINDS[kind].resource} "${name}" not found${ns ? ` in namespace ${ns}` : ''}`);
        console.log(`${kind.toLowerCase()}/${ns ? `${ns}/` : ''}${name} ${gone ? 'deleted' : 'not found'}`);
      });
    });
}
