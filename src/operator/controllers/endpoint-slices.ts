/**
 * The EndpointSlice controller (kube-controller-manager's): the managed EndpointSlices of each service with a
 * selector, from the pods it selects. It indexes services by namespace and its slices by service, so that a pod or
 * slice change requeues only the services it concerns.
 */
import { isDeepStrictEqual } from 'node:util';
import { NotFoundError } from '../../k8s/errors.js';
import { compileSelector, type LabelMatcher } from '../../k8s/label-selector.js';
import type { EndpointSlice, Pod, Service } from '../../k8s/types.js';
import { objectRef, splitNamespacedName } from '../../wire/object-ref.js';
import { desiredEndpointSlices, isManagedSlice, serviceSelector, SERVICE_NAME_LABEL } from '../desired-objects.js';
import { operatorMetrics } from '../metrics.js';
import { countWrite, versionOf, type ControllerContext } from './context.js';
import type { Controller } from './controller.js';

export class EndpointSliceController implements Controller {
  readonly name = 'slices';
  /** namespace -> service name -> matcher of its selector (undefined: no selector). */
  private readonly servicesByNamespace = new Map<string, Map<string, LabelMatcher | undefined>>();
  /** `namespace/service` -> names of the managed slices labelled with it. */
  private readonly slicesByService = new Map<string, Set<string>>();

  constructor(private readonly ctx: ControllerContext) {
    ctx.informers.services.on({
      onAdd: (s) => {
        this.serviceChanged(s);
      },
      onUpdate: (s) => {
        this.serviceChanged(s);
      },
      onDelete: (s) => {
        this.servicesByNamespace.get(s.metadata.namespace!)?.delete(s.metadata.name);
        ctx.enqueue(this.name, objectRef(s.metadata.namespace, s.metadata.name));
      },
    });
    ctx.informers.slices.on({
      onAdd: (s) => {
        this.sliceChanged(s, undefined);
      },
      onUpdate: (s, old) => {
        this.sliceChanged(s, old);
      },
      onDelete: (s) => {
        this.sliceChanged(undefined, s);
      },
    });
  }

  /** A pod changed: requeues the services whose selector matches it now or matched it before. */
  podChanged(p: Pod, old: Pod | undefined): void {
    const ns = p.metadata.namespace!;
    for (const [svc, match] of this.servicesByNamespace.get(ns) ?? []) {
      if (!match) continue;
      if (match(p.metadata.labels) || (old && match(old.metadata.labels)))
        this.ctx.enqueue(this.name, objectRef(ns, svc));
    }
  }

  /** The managed EndpointSlices of one service, from its selector and the matching pods. */
  async reconcile(ref: string): Promise<void> {
    const { ctx } = this;
    const { namespace: ns, name } = splitNamespacedName(ref) ?? { namespace: '', name: ref };
    const svc = ctx.fresh.services.get(ns, name);
    const match = this.servicesByNamespace.get(ns)?.get(name);
    let want: EndpointSlice[] = [];
    if (svc && serviceSelector(svc) && match) {
      const pods: Pod[] = [];
      for (const podName of ctx.podsByNamespace.get(ns) ?? []) {
        const p = ctx.fresh.pods.get(ns, podName);
        if (p && match(p.metadata.labels)) pods.push(p);
      }
      want = desiredEndpointSlices(svc, pods);
    }
    const wantNames = new Set<string>();
    for (const slice of want) {
      wantNames.add(slice.metadata.name);
      const cur = ctx.fresh.slices.get(ns, slice.metadata.name);
      if (cur && !isManagedSlice(cur)) {
        operatorMetrics().skippedObjects.inc({ kind: 'EndpointSlice', reason: 'not-managed' });
        ctx.log.warn(
          { slice: objectRef(slice.metadata.namespace, slice.metadata.name) },
          'an EndpointSlice of this name is not managed by cmesh; leaving it alone',
        );
        continue;
      }
      if (cur) {
        slice.metadata = {
          ...cur.metadata,
          labels: { ...(cur.metadata.labels ?? {}), ...slice.metadata.labels },
          ownerReferences: slice.metadata.ownerReferences!,
        };
        if (
          isDeepStrictEqual(slice.metadata.labels, cur.metadata.labels) &&
          isDeepStrictEqual(slice.metadata.ownerReferences, cur.metadata.ownerReferences) &&
          slice.addressType === cur.addressType &&
          isDeepStrictEqual(slice.endpoints, cur.endpoints) &&
          isDeepStrictEqual(slice.ports, cur.ports)
        ) {
          continue;
        }
      }
      const stored = cur ? await ctx.store.update(slice) : await ctx.store.create(slice);
      countWrite('EndpointSlice', cur ? 'update' : 'create');
      ctx.fresh.slices.wrote(stored);
    }
    for (const sliceName of [...(this.slicesByService.get(ref) ?? [])]) {
      if (wantNames.has(sliceName)) continue;
      const cur = ctx.fresh.slices.get(ns, sliceName);
      if (!cur || !isManagedSlice(cur) || cur.metadata.labels?.[SERVICE_NAME_LABEL] !== name) continue;
      try {
        await ctx.store.delete('EndpointSlice', ns, sliceName, versionOf(cur));
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
      countWrite('EndpointSlice', 'delete');
      ctx.fresh.slices.deleted(cur);
    }
  }

  private serviceChanged(s: Service): void {
    const { ctx } = this;
    const key = objectRef(s.metadata.namespace, s.metadata.name);
    const ns = s.metadata.namespace!;
    let svcs = this.servicesByNamespace.get(ns);
    if (!svcs) this.servicesByNamespace.set(ns, (svcs = new Map<string, LabelMatcher | undefined>()));
    const sel = serviceSelector(s);
    let matcher: LabelMatcher | undefined;
    if (sel) {
      try {
        matcher = compileSelector({ matchLabels: sel });
      } catch (err) {
        operatorMetrics().skippedObjects.inc({ kind: 'Service', reason: 'invalid-selector' });
        ctx.log.warn({ service: key, err }, 'ignoring an invalid service selector');
      }
    }
    svcs.set(s.metadata.name, matcher);
    ctx.enqueue(this.name, key);
  }

  private sliceChanged(s: EndpointSlice | undefined, old: EndpointSlice | undefined): void {
    const serviceOf = (x: EndpointSlice | undefined): string | undefined => {
      const svc = x && isManagedSlice(x) ? x.metadata.labels?.[SERVICE_NAME_LABEL] : undefined;
      return svc ? objectRef(x!.metadata.namespace, svc) : undefined;
    };
    const before = serviceOf(old);
    const after = serviceOf(s);
    if (before !== undefined && (after !== before || !s)) {
      this.slicesByService.get(before)?.delete(old!.metadata.name);
      this.ctx.enqueue(this.name, before);
    }
    if (after !== undefined && s) {
      let names = this.slicesByService.get(after);
      if (!names) this.slicesByService.set(after, (names = new Set()));
      names.add(s.metadata.name);
      this.ctx.enqueue(this.name, after);
    }
  }
}
