/**
 * The pod controller (what the scheduler, the kubelet and pod IPAM do): places each pod on a node, gives it an
 * address and a Running status, then hands it to the CiliumEndpoint controller. Pods that do not fit wait until
 * room opens up.
 */
import { isDeepStrictEqual } from 'node:util';
import { NotFoundError } from '../../k8s/errors.js';
import type { Pod } from '../../k8s/types.js';
import { objectRef, splitNamespacedName } from '../../wire/object-ref.js';
import { desiredPodStatus } from '../desired-objects.js';
import { operatorMetrics } from '../metrics.js';
import { SchedulingError } from '../pod-ipam.js';
import type { CiliumEndpointController } from './cilium-endpoints.js';
import { countWrite, type ControllerContext } from './context.js';
import type { Controller } from './controller.js';

/** Told when a pod's labels may select it into (or out of) services. */
export type PodLabelsListener = (pod: Pod, old: Pod | undefined) => void;

export class PodController implements Controller {
  readonly name = 'pod';
  /** Pods that did not fit on any node: retried when a pod leaves. */
  private readonly unschedulable = new Set<string>();

  constructor(
    private readonly ctx: ControllerContext,
    private readonly endpoints: CiliumEndpointController,
    onPodLabels: PodLabelsListener,
  ) {
    const { informers, ipam, podsByNamespace } = ctx;
    informers.pods.on({
      onAdd: (p) => {
        this.changed(p);
        onPodLabels(p, undefined);
      },
      onUpdate: (p, old) => {
        this.changed(p);
        onPodLabels(p, old);
      },
      onDelete: (p) => {
        const key = objectRef(p.metadata.namespace, p.metadata.name);
        podsByNamespace.get(p.metadata.namespace!)?.delete(p.metadata.name);
        ipam.forget(key);
        ctx.enqueue(this.name, key);
        onPodLabels(p, undefined);
        // Room on a node may have opened up.
        for (const k of this.unschedulable) ctx.enqueue(this.name, k);
        this.unschedulable.clear();
      },
    });
    // A pod that went Running before the operator saw its Node is picked up once the Node shows up.
    informers.kubeNodes?.on({
      onAdd: (n) => {
        this.enqueueNode(n.metadata.name);
      },
      onUpdate: (n) => {
        this.enqueueNode(n.metadata.name);
      },
    });
    informers.namespaces.on({
      onAdd: (ns) => {
        this.enqueueNamespace(ns.metadata.name);
      },
      onUpdate: (ns, old) => {
        // Namespace labels are part of the pods' security labels.
        if (!isDeepStrictEqual(ns.metadata.labels, old.metadata.labels)) this.enqueueNamespace(ns.metadata.name);
      },
      onDelete: (ns) => {
        this.enqueueNamespace(ns.metadata.name);
      },
    });
  }

  get unschedulableCount(): number {
    return this.unschedulable.size;
  }

  /** Schedules the pod, gives it an address and a Running status, and keeps its CiliumEndpoint. */
  async reconcile(ref: string): Promise<void> {
    const { ctx } = this;
    const { namespace: ns, name } = splitNamespacedName(ref) ?? { namespace: '', name: ref };
    const pod = ctx.fresh.pods.get(ns, name);
    if (!pod || pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') {
      await this.endpoints.delete(ns, name);
      if (!pod) {
        this.endpoints.releaseEndpointId(ref);
        ctx.identities.use(`p:${ref}`, undefined);
        this.unschedulable.delete(ref);
      }
      return;
    }
    if (ctx.mode === 'kubernetes') {
      await this.reconcileBound(ref, pod);
      return;
    }
    let placement;
    try {
      placement = ctx.ipam.place(ref, pod);
    } catch (err) {
      if (err instanceof SchedulingError) {
        if (!this.unschedulable.has(ref)) operatorMetrics().ipamExhausted.inc();
        this.unschedulable.add(ref);
      }
      throw err;
    }
    this.unschedulable.delete(ref);
    const { node, ip } = placement;
    let current = pod;
    const status = desiredPodStatus(pod, node, ip);
    if (pod.spec?.nodeName !== node.name || !isDeepStrictEqual(status, pod.status)) {
      try {
        current = await ctx.store.update<Pod>({ ...pod, spec: { ...pod.spec, nodeName: node.name }, status });
      } catch (err) {
        if (err instanceof NotFoundError) return; // deleted meanwhile: its delete event follows
        throw err;
      }
      countWrite('Pod', 'update');
      ctx.fresh.pods.wrote(current);
    }
    if (pod.spec?.hostNetwork) {
      // Host-network pods are the node's own endpoint in Cilium: no CiliumEndpoint, no identity of their own.
      ctx.identities.use(`p:${ref}`, undefined);
      await this.endpoints.delete(ns, name);
      return;
    }
    await this.endpoints.reconcile(ref, current, ip, node.internalIp);
  }

  /**
   * A cluster with a Kubernetes control plane: kube-scheduler places the pod and its node's agent gives it an
   * address and a Running status; the operator only keeps its CiliumEndpoint once both are there.
   */
  private async reconcileBound(ref: string, pod: Pod): Promise<void> {
    const { ctx } = this;
    const ns = pod.metadata.namespace ?? '';
    const nodeName = pod.spec?.nodeName;
    const ip = pod.status?.podIP;
    const node = nodeName ? ctx.nodeLayouts().find((n) => n.name === nodeName) : undefined;
    if (!node || !ip || pod.status?.phase !== 'Running' || pod.metadata.deletionTimestamp) {
      if (pod.metadata.deletionTimestamp) await this.endpoints.delete(ns, pod.metadata.name);
      return; // not running yet (or going): its next change requeues it
    }
    if (pod.spec?.hostNetwork) {
      ctx.identities.use(`p:${ref}`, undefined);
      await this.endpoints.delete(ns, pod.metadata.name);
      return;
    }
    await this.endpoints.reconcile(ref, pod, ip, node.internalIp);
  }

  private changed(p: Pod): void {
    const { ctx } = this;
    const key = objectRef(p.metadata.namespace, p.metadata.name);
    const ns = p.metadata.namespace!;
    let names = ctx.podsByNamespace.get(ns);
    if (!names) ctx.podsByNamespace.set(ns, (names = new Set()));
    names.add(p.metadata.name);
    const { duplicateIpOf } = ctx.ipam.observe(key, p);
    if (duplicateIpOf !== undefined) {
      operatorMetrics().skippedObjects.inc({ kind: 'Pod', reason: 'duplicate-ip' });
      ctx.log.warn({ pod: key, ip: p.status?.podIP, holder: duplicateIpOf }, 'pod claims an address another pod holds');
    }
    ctx.enqueue(this.name, key);
  }

  private enqueueNode(node: string): void {
    for (const p of this.ctx.informers.pods.list()) {
      if (p.spec?.nodeName === node) this.ctx.enqueue(this.name, objectRef(p.metadata.namespace, p.metadata.name));
    }
  }

  private enqueueNamespace(ns: string): void {
    for (const name of this.ctx.podsByNamespace.get(ns) ?? []) this.ctx.enqueue(this.name, objectRef(ns, name));
  }
}
