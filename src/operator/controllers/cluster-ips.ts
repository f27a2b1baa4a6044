/** The service ClusterIP controller: gives a service without one a ClusterIP, and keeps clusterIP and clusterIPs in agreement. */
import type { Service } from '../../k8s/types.js';
import { objectRef, splitNamespacedName } from '../../wire/object-ref.js';
import { ServiceIps } from '../service-ips.js';
import { countWrite, type ControllerContext } from './context.js';
import type { Controller } from './controller.js';

export class ClusterIpController implements Controller {
  readonly name = 'svcip';
  private readonly serviceIps: ServiceIps;

  constructor(private readonly ctx: ControllerContext) {
    this.serviceIps = new ServiceIps(ctx.cluster.serviceCidr);
    const changed = (s: Service): void => {
      const key = objectRef(s.metadata.namespace, s.metadata.name);
      if (s.spec?.clusterIP) this.serviceIps.observe(key, s.spec.clusterIP);
      ctx.enqueue(this.name, key);
    };
    ctx.informers.services.on({
      onAdd: changed,
      onUpdate: changed,
      onDelete: (s) => {
        this.serviceIps.release(objectRef(s.metadata.namespace, s.metadata.name));
      },
    });
  }

  async reconcile(ref: string): Promise<void> {
    const { ctx } = this;
    const { namespace: ns, name } = splitNamespacedName(ref) ?? { namespace: '', name: ref };
    const svc = ctx.fresh.services.get(ns, name);
    if (!svc || svc.spec?.type === 'ExternalName') return;
    const spec = svc.spec ?? {};
    const given = [spec.clusterIP, spec.clusterIPs?.[0]].find((x) => x !== undefined && x !== '');
    const ip = given ?? this.serviceIps.assign(ref);
    const clusterIPs = spec.clusterIPs?.[0] === ip ? spec.clusterIPs : [ip];
    if (spec.clusterIP === ip && spec.clusterIPs === clusterIPs) return;
    const stored = await ctx.store.update<Service>({ ...svc, spec: { ...spec, clusterIP: ip, clusterIPs } });
    countWrite('Service', 'update');
    ctx.fresh.services.wrote(stored);
  }
}
