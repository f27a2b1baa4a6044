import { Command } from '@commander-js/extra-typings';
import { clusterOfContext } from '../mesh/kube-contexts.js';
import { examples } from './help.js';

const meshKubeconfig = () => import('../mesh/mesh-kubeconfig.js');

/** `cmesh kubeconfig [--merge]`: the local clusters' kubectl contexts, as `kind get kubeconfig` / `kind export`. */
export function kubeconfigCommand() {
  return new Command('kubeconfig')
    .description(
      'print the kubeconfig of the local clusters (a context `cmesh-<cluster>` each), or merge it into yours',
    )
    .option('--cluster <name>', 'only this cluster (default: every local cluster)')
    .option(
      '--merge',
      "merge the contexts into your kubeconfig ($KUBECONFIG's first file, else ~/.kube/config) instead of printing them; entries of the same names are replaced, others kept",
    )
    .option(
      '--kubeconfig <file>',
      "with --merge: the kubeconfig to merge into (default: $KUBECONFIG's first file, else ~/.kube/config)",
    )
    .addHelpText(
      'after',
      examples([
        'cmesh kubeconfig > cmesh.kubeconfig && kubectl --kubeconfig cmesh.kubeconfig --context cmesh-east get nodes',
        'cmesh kubeconfig --merge && kubectl --context cmesh-east get nodes',
        'cmesh kubeconfig --cluster east --merge --kubeconfig ./east.kubeconfig',
      ]),
    )
    .action(async (opts) => {
      const [m, { cmeshHome }] = await Promise.all([meshKubeconfig(), import('../mesh/home.js')]);
      const home = cmeshHome();
      let doc = await m.readKubeconfig(m.meshKubeconfigPath(home));
      const contexts = (doc.contexts ?? []).map((c) => c.name);
      if (contexts.length === 0) {
        throw new Error('there are no local clusters yet: create one with `cmesh cluster create east --id 1`');
      }
      if (opts.cluster !== undefined) {
        const want = m.contextName(clusterOfContext(opts.cluster));
        if (!contexts.includes(want)) {
          throw new Error(`no local cluster "${opts.cluster}" (contexts: ${contexts.join(', ')})`);
        }
        for (const other of contexts.filter((c) => c !== want)) doc = m.removeContext(doc, other);
        doc['current-context'] = want;
      }
      if (!opts.merge) {
        const { stringify } = await import('yaml');
        process.stdout.write(stringify(doc));
        return;
      }
      const target = opts.kubeconfig ?? m.userKubeconfigPath();
      const merged = m.mergeKubeconfig(await m.readKubeconfig(target), doc, doc['current-context']);
      await m.writeKubeconfig(target, merged);
      const names = (doc.contexts ?? []).map((c) => c.name);
      console.log(
        `merged ${names.join(', ')} into ${target}; current context: ${merged['current-context'] ?? '(none)'}`,
      );
    });
}
