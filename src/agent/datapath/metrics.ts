import { Counter, metric } from '../../observe/metrics.js';

/** Cilium's `cilium_forward_count_total`: connections the service proxy forwarded. */
export const forwardCounter = (): Counter<'direction'> =>
  metric(
    'cilium_forward_count_total',
    (registers) =>
      new Counter({
        name: 'cilium_forward_count_total',
        help: 'Total forwarded packets (cmesh: connections), tagged by ingress/egress direction',
        labelNames: ['direction'] as const,
        registers,
      }),
  );

/** Cilium's `cilium_drop_count_total` with its drop reasons ("Policy denied", "No service backend"...). */
export const dropCounter = (): Counter<'reason' | 'direction'> =>
  metric(
    'cilium_drop_count_total',
    (registers) =>
      new Counter({
        name: 'cilium_drop_count_total',
        help: 'Total dropped packets (cmesh: connections), tagged by drop reason and ingress/egress direction',
        labelNames: ['reason', 'direction'] as const,
        registers,
      }),
  );
