/**
 * ObjectClient over a Kubernetes API server: the reads and writes components make today through ObjectStore, with
 * the same signatures and error classes, through @kubernetes/client-node's HTTP layer (kube-api.ts). Writes use
 * strict field validation (an unknown field is an error, not silently dropped), updates carry the object's
 * resourceVersion as precondition, apply is server-side apply under this client's field manager, and applyAll
 * dry-runs a whole manifest on the server before writing any of it.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { InvalidObjectsError, NotFoundError } from './errors.js';
import { APPLY_PATCH, KubeApi } from './kube-api.js';
import {
  ApplyInterruptedError,
  ExpiredError,
  indexListPaths,
  KubeApiError,
  ObjectsRejectedError,
  objectError,
  ResourceNotServedError,
} from './kube-errors.js';
import { resourcePath } from './kube-paths.js';
import { formatSelector, parseSelector } from './label-selector.js';
import type {
  ApplyAllOptions,
  ApplyResult,
  DeleteOptions,
  ListOptions,
  ListResult,
  ObjectClient,
} from './object-client.js';
import { isKindName, KINDS, type AnyObject, type K8sObject, type KindName, type ObjectOf } from './types.js';
import { ValidationError, type ObjectIdentity } from './validation-error.js';

/** Objects per page of a list (client-go's default chunk size). */
export const LIST_PAGE_SIZE = 500;
/** Lists started over when their continue token expires midway (a list racing a compaction); then it fails. */
const LIST_ATTEMPTS = 3;
/** Metadata the API server owns: never sent on create or apply (apply refuses managedFields, create refuses a resourceVersion). */
const SERVER_OWNED_METADATA = [
  'resourceVersion',
  'uid',
  'creationTimestamp',
  'generation',
  'managedFields',
  'selfLink',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
] as const;

export interface KubeObjectClientOptions {
  /** Who owns the fields this client writes (managedFields): `cmesh-operator`, `cmesh-apiserver`, `cmesh`. */
  fieldManager: string;
  /**
   * Server-side apply takes over fields another manager owns (a controller applying its own objects). Without,
   * such an apply fails with ApplyConflictError naming the fields and their managers, as `kubectl apply
   * --server-side` does.
   */
  force?: boolean;
}

/** A checked object to write: its kind and identity, and where it came from. */
interface Target {
  kind: KindName;
  ident: ObjectIdentity & { name: string };
  obj: AnyObject;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function identOf(kind: string, namespace: string | undefined, name: string): ObjectIdentity & { name: string } {
  return { kind, name, ...(namespace ? { namespace } : {}) };
}

/**
 * Checks what the API server needs to route an object (the server validates the rest): a supported kind at its
 * apiVersion, a name, a namespace exactly when the kind is namespaced. Throws ValidationError.
 */
function target(raw: unknown): Target {
  const o = isRecord(raw) ? raw : {};
  const meta = isRecord(o.metadata) ? o.metadata : {};
  const kind = typeof o.kind === 'string' ? o.kind : undefined;
  const name = typeof meta.name === 'string' ? meta.name : undefined;
  const namespace = typeof meta.namespace === 'string' && meta.namespace !== '' ? meta.namespace : undefined;
  const ident = { ...(kind ? { kind } : {}), ...(name ? { name } : {}), ...(namespace ? { namespace } : {}) };
  const issues: { path: string; message: string }[] = [];
  if (!isRecord(raw)) issues.push({ path: '', message: 'must be an object with apiVersion, kind and metadata' });
  else if (kind === undefined) issues.push({ path: 'kind', message: 'is required' });
  else if (!isKindName(kind)) issues.push({ path: 'kind', message: 'unsupported kind' });
  else {
    const info = KINDS[kind];
    if (o.apiVersion !== info.apiVersion) {
      issues.push({ path: 'apiVersion', message: `must be ${info.apiVersion} for ${kind}` });
    }
    if (name === undefined || name === '') issues.push({ path: 'metadata.name', message: 'is required' });
    if (namespace === undefined && info.namespaced) {
      issues.push({ path: 'metadata.namespace', message: `is required: ${kind} is namespaced` });
    }
    if (namespace !== undefined && !info.namespaced) {
      issues.push({ path: 'metadata.namespace', message: `must not be set: ${kind} is cluster-scoped` });
    }
  }
  if (issues.length > 0) throw new ValidationError(ident, issues);
  const k = kind as KindName;
  return { kind: k, ident: identOf(k, namespace, name!), obj: raw as AnyObject };
}

/** `obj` without the metadata the API server owns. */
function withoutServerMetadata(obj: AnyObject): AnyObject {
  const owned = new Set<string>(SERVER_OWNED_METADATA);
  const metadata = Object.fromEntries(Object.entries(obj.metadata).filter(([k]) => !owned.has(k)));
  return { ...obj, metadata } as AnyObject;
}

export class KubeObjectClient implements ObjectClient {
  private readonly api: KubeApi;
  private readonly fieldManager: string;
  private readonly force: boolean;

  /** `kubeConfig` with the context to use as its current one (loadKubeconfig returns it so). */
  constructor(kubeConfig: KubeConfig | KubeApi, opts: KubeObjectClientOptions) {
    this.api = kubeConfig instanceof KubeApi ? kubeConfig : new KubeApi(kubeConfig);
    this.fieldManager = opts.fieldManager;
    this.force = opts.force ?? false;
  }

  async get<K extends KindName>(
    kind: K,
    namespace: string | undefined,
    name: string,
  ): Promise<ObjectOf<K> | undefined> {
    const ns = KINDS[kind].namespaced ? namespace : undefined;
    try {
      const res = await this.api.request<ObjectOf<K>>({ method: 'GET', path: resourcePath(kind, ns, name), kind });
      return res.body;
    } catch (err) {
      if (err instanceof KubeApiError && err.statusCode === 404 && !(err instanceof ResourceNotServedError)) {
        return undefined;
      }
      throw err;
    }
  }

  /**
   * Lists in pages of LIST_PAGE_SIZE, all read at the first page's resourceVersion; when the server has compacted
   * that version before the last page (410 on a continue token), lists again from the start, at most
   * LIST_ATTEMPTS times.
   */
  async list<K extends KindName>(kind: K, opts: ListOptions = {}): Promise<ListResult<ObjectOf<K>>> {
    const sel = opts.labelSelector;
    const selector =
      sel === undefined ? undefined : formatSelector(typeof sel === 'string' ? parseSelector(sel) : sel) || undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.listPages(kind, KINDS[kind].namespaced ? opts.namespace : undefined, selector);
      } catch (err) {
        if (!(err instanceof ExpiredError) || attempt >= LIST_ATTEMPTS) throw err;
      }
    }
  }

  private async listPages<K extends KindName>(
    kind: K,
    namespace: string | undefined,
    selector: string | undefined,
  ): Promise<ListResult<ObjectOf<K>>> {
    const apiVersion = KINDS[kind].apiVersion;
    const items: ObjectOf<K>[] = [];
    let resourceVersion: string | undefined;
    let cont: string | undefined;
    do {
      const res = await this.api.request<{
        metadata?: { resourceVersion?: string; continue?: string };
        items?: Record<string, unknown>[];
      }>({
        method: 'GET',
        path: resourcePath(kind, namespace),
        query: { limit: LIST_PAGE_SIZE, continue: cont, labelSelector: selector },
        kind,
      });
      resourceVersion ??= res.body.metadata?.resourceVersion;
      // List items carry no apiVersion and kind.
      for (const it of res.body.items ?? []) {
        items.push({ apiVersion, kind, ...it } as unknown as ObjectOf<K>);
      }
      cont = res.body.metadata?.continue;
      if (cont === '') cont = undefined;
    } while (cont);
    return { items, resourceVersion: resourceVersion ?? '' };
  }

  async create<T extends AnyObject>(obj: T): Promise<T> {
    const t = target(obj);
    try {
      const res = await this.api.request<T>({
        method: 'POST',
        path: resourcePath(t.kind, t.ident.namespace),
        query: this.writeQuery(),
        body: withoutServerMetadata(t.obj),
        kind: t.kind,
      });
      return res.body;
    } catch (err) {
      throw objectError(err, t.ident);
    }
  }

  /**
   * Replaces the object (PUT). With metadata.resourceVersion set, the API server writes only if the object is
   * still at that version: ConflictError otherwise, with the version found. Without, the write is unconditional.
   * As on any Kubernetes server, a kind with a status subresource keeps its stored status here. An absent object
   * is NotFoundError, also for a kind whose strategy would create it (see undoCreateOnUpdate).
   */
  async update<T extends AnyObject>(obj: T): Promise<T> {
    return this.put(obj, undefined);
  }

  /** Replaces the status only (PUT of the status subresource); same concurrency rules as update. */
  async updateStatus<T extends AnyObject>(obj: T): Promise<T> {
    return this.put(obj, 'status');
  }

  async apply<T extends AnyObject>(obj: T): Promise<ApplyResult<T>> {
    const [result] = await this.applyAll([obj]);
    return result as ApplyResult<T>;
  }

  /**
   * Server-side applies the objects of one manifest, all or nothing as far as the API server's checks go: every
   * object is checked locally, then applied as a server-side dry run (schema, strict field validation, admission,
   * RBAC, field ownership); if any fails, nothing is written and the error names each failing object with its
   * location (InvalidObjectsError when all failures are invalid content, ObjectsRejectedError otherwise). Then
   * the objects are applied for real, Namespaces first. Limits: Kubernetes has no multi-object transaction, so a
   * write can still fail after others succeeded (ApplyInterruptedError says how far it got); an object in a
   * Namespace the same manifest creates cannot be dry-run (its namespace does not exist yet) and is only checked
   * when written.
   */
  async applyAll(objects: readonly unknown[], opts: ApplyAllOptions = {}): Promise<ApplyResult[]> {
    const where = (i: number): string => opts.locations?.[i] ?? `object ${i + 1}`;
    const targets = this.checkAll(objects, where);

    // Namespaces first (the others may live in them), then in the manifest's order: the dry run and the writes.
    const order = [...targets.keys()].sort(
      (a, b) => Number(targets[b]!.kind === 'Namespace') - Number(targets[a]!.kind === 'Namespace'),
    );

    // Dry run: every object, before anything is written.
    const dryRun: (string | undefined)[] = [];
    const failures: { i: number; error: Error }[] = [];
    const newNamespaces = new Set<string>();
    for (const i of order) {
      const t = targets[i]!;
      try {
        const res = await this.applyRequest(t, true);
        dryRun[i] = res.statusCode === 201 ? undefined : res.body.metadata.resourceVersion;
        if (t.kind === 'Namespace' && res.statusCode === 201) newNamespaces.add(t.ident.name);
      } catch (err) {
        const ns = t.ident.namespace;
        if (ns !== undefined && newNamespaces.has(ns) && isNamespaceNotFound(err, ns)) continue;
        failures.push({ i, error: withIndexedPaths(toError(objectError(err, t.ident)), t.obj) });
      }
    }
    failures.sort((a, b) => a.i - b.i);
    if (failures.length > 0) {
      const invalid = failures.flatMap((f) => (f.error instanceof ValidationError ? [f.error.at(where(f.i))] : []));
      if (invalid.length === failures.length) throw new InvalidObjectsError(invalid);
      throw new ObjectsRejectedError(
        failures.map((f) => ({ location: where(f.i), error: f.error })),
        { cause: failures.find((f) => !(f.error instanceof ValidationError))?.error },
      );
    }

    // The writes.
    const results: ApplyResult[] = new Array<ApplyResult>(targets.length);
    let applied = 0;
    for (const i of order) {
      const t = targets[i]!;
      let res: { statusCode: number; body: AnyObject };
      try {
        res = await this.applyRequest(t, false);
      } catch (err) {
        const error = toError(objectError(err, t.ident));
        throw new ApplyInterruptedError(where(i), applied, targets.length, { cause: error });
      }
      const rv = res.body.metadata.resourceVersion;
      const action =
        res.statusCode === 201 ? 'created' : dryRun[i] !== undefined && rv === dryRun[i] ? 'unchanged' : 'configured';
      results[i] = { object: res.body, action };
      applied++;
    }
    return results;
  }

  /**
   * Deletes the object. With `resourceVersion`, only that version (ConflictError otherwise). Returns the object as
   * the API server last had it (for a kind deleted gracefully, such as a Pod on a node, that is the object marked
   * for deletion, which stays until its finalizers and grace period are done), or undefined when it did not exist.
   */
  async delete<K extends KindName>(
    kind: K,
    namespace: string | undefined,
    name: string,
    opts: DeleteOptions = {},
  ): Promise<ObjectOf<K> | undefined> {
    const ns = KINDS[kind].namespaced ? namespace : undefined;
    const ident = identOf(kind, ns, name);
    const path = resourcePath(kind, ns, name);
    try {
      const res = await this.api.request<Record<string, unknown> | undefined>({
        method: 'DELETE',
        path,
        kind,
        ...(opts.resourceVersion !== undefined
          ? {
              body: {
                apiVersion: 'v1',
                kind: 'DeleteOptions',
                preconditions: { resourceVersion: opts.resourceVersion },
              },
            }
          : {}),
      });
      // Some kinds answer with a Status instead of the object: then all that is known is who it was.
      if (res.body?.kind === 'Status' || !isRecord(res.body?.metadata)) {
        return {
          apiVersion: KINDS[kind].apiVersion,
          kind,
          metadata: { name, ...(ns ? { namespace: ns } : {}) },
        } as ObjectOf<K>;
      }
      return res.body as unknown as ObjectOf<K>;
    } catch (err) {
      if (err instanceof KubeApiError && err.statusCode === 404 && err.reason === 'NotFound') return undefined;
      if (err instanceof KubeApiError && err.statusCode === 409) {
        throw objectError(err, ident, opts.resourceVersion, await this.currentVersion(kind, ns, name));
      }
      throw objectError(err, ident);
    }
  }

  /**
   * Deletes the objects a manifest names, one request each (Kubernetes has no multi-object delete), in order. Only
   * kind, namespace and name of each object are used. Returns, per object, whether it existed.
   */
  async deleteAll(objects: readonly K8sObject[]): Promise<boolean[]> {
    const idents = objects.map((o) => {
      if (!isKindName(o.kind)) {
        throw new ValidationError(identOf(o.kind, o.metadata.namespace, o.metadata.name), [
          { path: 'kind', message: 'unsupported kind' },
        ]);
      }
      return { kind: o.kind, namespace: o.metadata.namespace, name: o.metadata.name };
    });
    const existed: boolean[] = [];
    for (const o of idents) existed.push((await this.delete(o.kind, o.namespace, o.name)) !== undefined);
    return existed;
  }

  // ---- internals ----

  /** Query parameters of every write: who writes, and refuse unknown or duplicate fields instead of dropping them. */
  private writeQuery(): Record<string, string> {
    return { fieldManager: this.fieldManager, fieldValidation: 'Strict' };
  }

  private async put<T extends AnyObject>(obj: T, subresource: 'status' | undefined): Promise<T> {
    const t = target(obj);
    const { namespace, name } = t.ident;
    const expected = t.obj.metadata.resourceVersion;
    try {
      const res = await this.api.request<T>({
        method: 'PUT',
        path: resourcePath(t.kind, namespace, name, subresource),
        query: this.writeQuery(),
        body: t.obj,
        kind: t.kind,
      });
      if (res.statusCode === 201) await this.undoCreateOnUpdate(t, res.body);
      return res.body;
    } catch (err) {
      if (err instanceof NotFoundError) throw err;
      if (err instanceof KubeApiError && err.statusCode === 409 && err.reason === 'Conflict') {
        throw objectError(err, t.ident, expected, await this.currentVersion(t.kind, namespace, name));
      }
      if (subresource && err instanceof KubeApiError && err.statusCode === 404) {
        // A kind without a status subresource answers 404 for it even though the object exists.
        const exists = await this.currentVersion(t.kind, namespace, name);
        if (exists !== undefined) {
          throw new KubeApiError(
            404,
            { message: `${t.kind} has no status subresource on this API server: update the object whole instead` },
            `PUT ${resourcePath(t.kind, namespace, name, subresource)}`,
            { cause: err },
          );
        }
      }
      throw objectError(err, t.ident);
    }
  }

  /**
   * Some kinds' update strategy creates an object a PUT names when it does not exist (Service does, even when the
   * PUT carries a resourceVersion). ObjectClient.update only replaces: the object is deleted again (that version
   * only, so nobody else's write is lost) and the update fails with NotFoundError, as with ObjectStore.
   */
  private async undoCreateOnUpdate(t: Target, created: AnyObject): Promise<never> {
    const rv = created.metadata.resourceVersion;
    await this.delete(t.kind, t.ident.namespace, t.ident.name, rv !== undefined ? { resourceVersion: rv } : {}).catch(
      (err: unknown) => {
        throw new KubeApiError(
          201,
          { message: `update created ${t.kind} ${t.ident.name} instead of replacing it, and deleting it again failed` },
          `PUT ${resourcePath(t.kind, t.ident.namespace, t.ident.name)}`,
          { cause: err },
        );
      },
    );
    throw new NotFoundError(t.ident);
  }

  /** The object's current resourceVersion for a conflict's message, or undefined (gone, or unreadable). */
  private async currentVersion(
    kind: KindName,
    namespace: string | undefined,
    name: string,
  ): Promise<string | undefined> {
    try {
      return (await this.get(kind, namespace, name))?.metadata.resourceVersion;
    } catch {
      return undefined;
    }
  }

  private applyRequest(t: Target, dryRun: boolean): Promise<{ statusCode: number; body: AnyObject }> {
    return this.api.request<AnyObject>({
      method: 'PATCH',
      path: resourcePath(t.kind, t.ident.namespace, t.ident.name),
      query: { ...this.writeQuery(), force: this.force || undefined, dryRun: dryRun ? 'All' : undefined },
      body: withoutServerMetadata(t.obj),
      contentType: APPLY_PATCH,
      kind: t.kind,
    });
  }

  /** Checks every object locally: InvalidObjectsError naming each bad one (and duplicates) by location. */
  private checkAll(objects: readonly unknown[], where: (i: number) => string): Target[] {
    const errors: ValidationError[] = [];
    const targets: Target[] = [];
    const seen = new Map<string, number>();
    objects.forEach((o, i) => {
      try {
        const t = target(o);
        const key = `${t.kind}/${t.ident.namespace ?? ''}/${t.ident.name}`;
        const first = seen.get(key);
        if (first !== undefined) {
          errors.push(
            new ValidationError(t.ident, [{ path: '', message: `appears twice (also at ${where(first)})` }]).at(
              where(i),
            ),
          );
        }
        seen.set(key, i);
        targets.push(t);
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
        errors.push(err.at(where(i)));
      }
    });
    if (errors.length > 0) throw new InvalidObjectsError(errors);
    return targets;
  }
}

/** A ValidationError of a server-side apply with its keyed list paths turned into indices (indexListPaths). */
function withIndexedPaths(err: Error, obj: AnyObject): Error {
  if (!(err instanceof ValidationError)) return err;
  const issues = err.issues.map((i) => ({ ...i, path: indexListPaths(i.path, obj) }));
  return new ValidationError(err.object, issues, err.location, { cause: err.cause });
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** The 404 a dry run gets for an object whose namespace does not exist (yet). */
function isNamespaceNotFound(err: unknown, namespace: string): boolean {
  return (
    err instanceof KubeApiError &&
    err.statusCode === 404 &&
    err.status?.details?.kind === 'namespaces' &&
    err.status.details.name === namespace
  );
}
