/**
 * The identity controller: follows the CiliumIdentities into the allocator (which allocates them for the
 * CiliumEndpoint controller). An identity deleted while in use sends its users back to the pod controller.
 * Unused identities are collected by IdentityGc (identity-gc.ts).
 */
import type { ControllerContext } from './context.js';

export function followIdentities(ctx: ControllerContext): void {
  const { identities } = ctx;
  ctx.informers.identities.on({
    onAdd: (i) => {
      identities.observe(i);
    },
    onUpdate: (i) => {
      identities.observe(i);
    },
    onDelete: (i) => {
      // Deleted while in use (by hand, or a lost race with the GC): its users need an identity again.
      for (const user of identities.forget(i)) ctx.enqueue('pod', user.slice(2));
    },
  });
}
