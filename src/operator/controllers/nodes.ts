/**
 * The node controller: one CiliumNode per node (of the cluster record, or per registered Kubernetes Node with its
 * PodCIDR); managed ones of nodes that are gone are deleted.
 */
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { desiredCiliumNode, isManagedNode } from '../desired-objects.js';
import { operatorMetrics } from '../metrics.js';
import { countWrite, versionOf, type ControllerContext } from './context.js';
import type { Controller } from './controller.js';

export class NodeController implements Controller {
  readonly name = 'nodes';
  /** Node name -> the boot ID its CiliumNode carries (kept across a delete and re-create of the object). */
  private readonly bootIds = new Map<string, string>();

  constructor(private readonly ctx: ControllerContext) {
    const changed = (): void => {
      ctx.enqueue(this.name);
    };
    ctx.informers.nodes.on({ onAdd: changed, onUpdate: changed, onDelete: changed });
    ctx.informers.kubeNodes?.on({ onAdd: changed, onUpdate: changed, onDelete: changed });
  }

  async reconcile(): Promise<void> {
    const { fresh, store, informers, log } = this.ctx;
    const wanted = new Set<string>();
    for (const node of this.ctx.nodeLayouts()) {
      wanted.add(node.name);
      const existing = fresh.nodes.get(undefined, node.name);
      if (existing && !isManagedNode(existing)) {
        operatorMetrics().skippedObjects.inc({ kind: 'CiliumNode', reason: 'not-managed' });
        log.warn(
          { node: node.name },
          'a CiliumNode of this name exists without the managed-by label; leaving it alone',
        );
        continue;
      }
      const bootid = existing?.spec?.bootid ?? this.bootIds.get(node.name) ?? randomUUID();
      this.bootIds.set(node.name, bootid);
      const want = desiredCiliumNode(node, bootid, existing);
      if (
        existing &&
        isDeepStrictEqual(want.spec, existing.spec) &&
        isDeepStrictEqual(want.metadata.labels, existing.metadata.labels)
      ) {
        continue;
      }
      const stored = existing ? await store.update(want) : await store.create(want);
      countWrite('CiliumNode', existing ? 'update' : 'create');
      fresh.nodes.wrote(stored);
    }
    for (const n of informers.nodes.list()) {
      if (!isManagedNode(n) || wanted.has(n.metadata.name)) continue;
      const cur = fresh.nodes.get(undefined, n.metadata.name);
      if (!cur) continue;
      await store.delete('CiliumNode', undefined, cur.metadata.name, versionOf(cur));
      countWrite('CiliumNode', 'delete');
      fresh.nodes.deleted(cur);
      this.bootIds.delete(cur.metadata.name);
    }
  }
}
