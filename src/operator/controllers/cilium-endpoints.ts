/**
 * The CiliumEndpoint controller: each running pod's CiliumEndpoint (its endpoint ID, identity, addresses), and the
 * endpoint IDs that CiliumEndpoints already hold. A CiliumEndpoint is derived from its pod, so it is reconciled
 * under the pod's key (the pod controller calls it); its own events requeue that key.
 */
import { isDeepStrictEqual } from 'node:util';
import { NotFoundError } from '../../k8s/errors.js';
import type { CiliumEndpoint, Pod } from '../../k8s/types.js';
import { objectRef } from '../../wire/object-ref.js';
import { desiredCiliumEndpoint, podOwnerOf, serviceAccountOf } from '../desired-objects.js';
import { IdPool } from '../id-pool.js';
import { operatorMetrics } from '../metrics.js';
import { podSecurityLabels } from '../security-labels.js';
import { countWrite, versionOf, type ControllerContext } from './context.js';

/** Cilium endpoint IDs are 16-bit; 0 is invalid. */
export const MAX_ENDPOINT_ID = 0xffff;

export class CiliumEndpointController {
  private readonly endpointIds = new IdPool(1, MAX_ENDPOINT_ID);
  /** pod (= CiliumEndpoint) key -> endpoint ID, and the reverse, for every CiliumEndpoint and pending one. */
  private readonly endpointIdOf = new Map<string, number>();
  private readonly endpointIdOwner = new Map<number, string>();

  constructor(private readonly ctx: ControllerContext) {
    ctx.informers.endpoints.on({
      onAdd: (e) => {
        this.changed(e);
      },
      onUpdate: (e) => {
        this.changed(e);
      },
      onDelete: (e) => {
        const key = objectRef(e.metadata.namespace, e.metadata.name);
        ctx.identities.use(`c:${key}`, undefined);
        if (!ctx.fresh.pods.get(e.metadata.namespace, e.metadata.name)) this.releaseEndpointId(key);
        ctx.enqueue('pod', key);
      },
    });
  }

  /** Keeps the CiliumEndpoint of the running pod `ref`, at `ip` on the node at `hostIp`. */
  async reconcile(ref: string, pod: Pod, ip: string, hostIp: string): Promise<void> {
    const { ctx } = this;
    const ns = pod.metadata.namespace!;
    const securityLabels = podSecurityLabels({
      cluster: ctx.cluster.name,
      namespace: ns,
      podLabels: pod.metadata.labels ?? {},
      namespaceLabels: ctx.informers.namespaces.get(undefined, ns)?.metadata.labels ?? {},
      serviceAccount: serviceAccountOf(pod),
    });
    const identity = await ctx.identities.allocate(securityLabels);
    ctx.identities.use(`p:${ref}`, identity);
    const existing = ctx.fresh.endpoints.get(ns, pod.metadata.name);
    if (existing && !podOwnerOf(existing)) {
      operatorMetrics().skippedObjects.inc({ kind: 'CiliumEndpoint', reason: 'not-owned-by-pod' });
      ctx.log.debug({ endpoint: ref }, 'a CiliumEndpoint without a Pod owner has this name; leaving it alone');
      return;
    }
    const endpointId = this.endpointIdFor(ref);
    const want = desiredCiliumEndpoint(pod, { endpointId, identity, securityLabels, ip, hostIp }, existing);
    if (
      existing &&
      isDeepStrictEqual(want.status, existing.status) &&
      isDeepStrictEqual(want.metadata.ownerReferences, existing.metadata.ownerReferences)
    ) {
      return;
    }
    const stored = existing ? await ctx.store.update(want) : await ctx.store.create(want);
    countWrite('CiliumEndpoint', existing ? 'update' : 'create');
    ctx.fresh.endpoints.wrote(stored);
  }

  /** Deletes the pod's CiliumEndpoint, unless it has no Pod owner (applied directly: not ours). */
  async delete(ns: string, name: string): Promise<void> {
    const { ctx } = this;
    const cep = ctx.fresh.endpoints.get(ns, name);
    if (!cep || !podOwnerOf(cep)) return;
    try {
      await ctx.store.delete('CiliumEndpoint', ns, name, versionOf(cep));
    } catch (err) {
      if (err instanceof NotFoundError) return;
      throw err;
    }
    countWrite('CiliumEndpoint', 'delete');
    ctx.fresh.endpoints.deleted(cep);
  }

  releaseEndpointId(ref: string): void {
    const id = this.endpointIdOf.get(ref);
    if (id === undefined) return;
    this.endpointIdOf.delete(ref);
    if (this.endpointIdOwner.get(id) === ref) {
      this.endpointIdOwner.delete(id);
      this.endpointIds.release(id);
    }
  }

  /** A CiliumEndpoint's identity is in use, and the endpoint ID it holds is kept (restart: IDs stay stable). */
  private changed(e: CiliumEndpoint): void {
    const key = objectRef(e.metadata.namespace, e.metadata.name);
    this.ctx.identities.use(`c:${key}`, e.status?.identity?.id);
    const id = e.status?.id;
    if (id !== undefined && this.endpointIdOf.get(key) !== id && this.endpointIds.claim(id)) {
      this.releaseEndpointId(key);
      this.endpointIdOf.set(key, id);
      this.endpointIdOwner.set(id, key);
    }
    this.ctx.enqueue('pod', key);
  }

  private endpointIdFor(ref: string): number {
    let id = this.endpointIdOf.get(ref);
    if (id === undefined) {
      id = this.endpointIds.allocate();
      this.endpointIdOf.set(ref, id);
      this.endpointIdOwner.set(id, ref);
    }
    return id;
  }
}
