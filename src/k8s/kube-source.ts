/**
 * The `kubernetes` cluster source: informers over a real Kubernetes API server, reached with a kubeconfig context
 * (kubeconfig.ts) through @kubernetes/client-node (kube-api.ts). See kube-informer.ts for how each informer lists,
 * watches and recovers.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeApi } from './kube-api.js';
import { KubeInformer, type KubeInformerOptions } from './kube-informer.js';
import type { ClusterSource, Informer, InformerOptions } from './source.js';
import type { KindName, ObjectOf } from './types.js';

export type KubeSourceOptions = KubeInformerOptions;

export class KubeClusterSource implements ClusterSource {
  readonly type = 'kubernetes' as const;
  private readonly api: KubeApi;
  private readonly informers = new Set<KubeInformer<KindName>>();
  private closed = false;

  /** `kubeConfig` with the context to use as its current one (loadKubeconfig returns it so). */
  constructor(
    kubeConfig: KubeConfig | KubeApi,
    private readonly opts: KubeSourceOptions = {},
  ) {
    this.api = kubeConfig instanceof KubeApi ? kubeConfig : new KubeApi(kubeConfig);
  }

  informer<K extends KindName>(kind: K, opts: InformerOptions = {}): Informer<ObjectOf<K>> {
    if (this.closed) throw new Error('KubeClusterSource is closed');
    const inf = new KubeInformer(this.api, kind, opts, this.opts);
    this.informers.add(inf);
    return inf;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.informers].map((i) => i.stop()));
    this.informers.clear();
  }
}
