/**
 * An informer's cache overlaid with the operator's own recent writes. The informer learns of a write only when
 * its watch event arrives; a reconcile that runs before that would see the old object and write again with a stale
 * resourceVersion (a conflict) or create it twice. Entries are dropped as soon as the informer catches up.
 */
import { objectRef } from '../wire/object-ref.js';
import type { Informer } from '../k8s/source.js';
import type { K8sObject } from '../k8s/types.js';

interface Overlay<T> {
  /** undefined: deleted by us. */
  obj: T | undefined;
  /** The revision the informer must reach (or pass) for the overlay to be stale. */
  revision: bigint;
}

function rev(obj: K8sObject | undefined): bigint {
  const v = obj?.metadata.resourceVersion;
  return v && /^\d+$/.test(v) ? BigInt(v) : 0n;
}

export class FreshCache<T extends K8sObject> {
  private readonly overlay = new Map<string, Overlay<T>>();

  /** Register before any other handler of `informer`, so they all see the caught-up state. */
  constructor(private readonly informer: Informer<T>) {
    informer.on({
      onAdd: (o) => {
        this.catchUp(o);
      },
      onUpdate: (o) => {
        this.catchUp(o);
      },
      onDelete: (o) => {
        const ref = objectRef(o.metadata.namespace, o.metadata.name);
        const ov = this.overlay.get(ref);
        // Our delete (or an older write) was observed; anything newer than what the informer knew stays.
        if (ov && (ov.obj === undefined || ov.revision <= rev(o))) this.overlay.delete(ref);
      },
    });
  }

  get(namespace: string | undefined, name: string): T | undefined {
    const ov = this.overlay.get(objectRef(namespace, name));
    const cached = this.informer.get(namespace, name);
    if (!ov) return cached;
    if (cached && rev(cached) > ov.revision) return cached;
    return ov.obj;
  }

  /** Records an object the store returned from a write (it carries the new resourceVersion). */
  wrote(obj: T): void {
    this.overlay.set(objectRef(obj.metadata.namespace, obj.metadata.name), { obj, revision: rev(obj) });
  }

  /** Records that we deleted the object last seen as `last`. */
  deleted(last: T): void {
    this.overlay.set(objectRef(last.metadata.namespace, last.metadata.name), { obj: undefined, revision: rev(last) });
  }

  get overlaySize(): number {
    return this.overlay.size;
  }

  private catchUp(o: T): void {
    const ref = objectRef(o.metadata.namespace, o.metadata.name);
    const ov = this.overlay.get(ref);
    if (!ov) return;
    // For a tombstone the revision is the deleted object's; a newer object is a re-creation: the tombstone is moot.
    if (ov.obj === undefined ? rev(o) > ov.revision : rev(o) >= ov.revision) this.overlay.delete(ref);
  }
}
