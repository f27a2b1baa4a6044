/**
 * The manifests every cmesh cluster gets at creation, and the one way to install them: Cilium's and the MCS API's
 * CRDs (src/k8s/crds/), the admission policies for Cilium's annotations, and the components' RBAC.
 *
 * installClusterManifests() applies them server-side (field manager `cmesh`, forced: cmesh owns these objects), then
 * waits until every CRD is Established and every admission policy refuses what it should. Applying the same
 * manifests again changes nothing.
 *
 * Each object goes through its kind's typed patch endpoint, whose body is sent as given: the generic object API
 * would pass it through the client's model serializer, which drops the `x-kubernetes-…` and `enum` fields of a
 * schema written with their wire names.
 */
import {
  AdmissionregistrationV1Api,
  ApiException,
  ApiextensionsV1Api,
  KubernetesObjectApi,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
  type KubeConfig,
} from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { POLICY_PROBES, annotationPolicies } from './annotation-policies.js';
import { componentRbac, type RbacOptions } from './component-rbac.js';
import { CLUSTER_CRDS } from './crds/index.js';
import type { K8sObject } from './types.js';

export type { ComponentIdentities } from './component-rbac.js';

export const FIELD_MANAGER = 'cmesh';
/** Marks every object installed here, so that they can be listed (and one day pruned) together. */
export const PART_OF_LABEL = 'app.kubernetes.io/part-of';
export const PART_OF_VALUE = 'cmesh';
/** CRDs turn Established within a second or two; admission policies are in force a second after that. */
export const DEFAULT_INSTALL_TIMEOUT_MS = 60_000;
const POLL_INTERVAL_MS = 250;
/** The names the in-force probes would create (they are dry runs: nothing is created). */
const PROBE_NAME = 'cmesh-admission-probe';
const PROBE_NAMESPACE = 'default';
const PROBE_VALUE = 'cmesh-probe-not-a-valid-value';

export type ClusterManifestOptions = RbacOptions;

/** Every manifest, in the order they are applied. */
export function clusterManifests(opts: ClusterManifestOptions): K8sObject[] {
  return [...CLUSTER_CRDS, ...annotationPolicies(), ...componentRbac(opts)].map((o) => ({
    ...o,
    metadata: { ...o.metadata, labels: { ...o.metadata.labels, [PART_OF_LABEL]: PART_OF_VALUE } },
  }));
}

/** `ClusterRole cmesh:operator`, `Role kube-node-lease/cmesh:agent:node-lease`. */
export function describeManifest(o: K8sObject): string {
  return `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;
}

/** Applying one manifest failed (the API server refused it, or could not be reached). */
export class ManifestApplyError extends Error {
  override name = 'ManifestApplyError';
  constructor(
    readonly manifest: string,
    options?: ErrorOptions,
  ) {
    super(`applying ${manifest} failed: ${apiErrorText(options?.cause)}`, options);
  }
}

/** Applied, but not in force before the deadline; `pending` says what was still waited for. */
export class ManifestsNotReadyError extends Error {
  override name = 'ManifestsNotReadyError';
  constructor(
    readonly pending: readonly string[],
    readonly timeoutMs: number,
    options?: ErrorOptions,
  ) {
    super(`cluster manifests not in force after ${timeoutMs} ms: ${pending.join('; ')}`, options);
  }
}

/** The API server's own message for an ApiException (a Status body), else the error's message. */
export function apiErrorText(err: unknown): string {
  if (err instanceof ApiException) {
    const body: unknown = err.body;
    let parsed: unknown = body;
    if (typeof body === 'string') {
      try {
        parsed = JSON.parse(body);
      } catch {
        return `HTTP ${err.code}: ${body}`;
      }
    }
    const message = (parsed as { message?: unknown } | null)?.message;
    return `HTTP ${err.code}: ${typeof message === 'string' ? message : JSON.stringify(parsed)}`;
  }
  return err instanceof Error ? err.message : String(err);
}

export interface InstallOptions extends ClusterManifestOptions {
  timeoutMs?: number;
}

export interface InstalledManifest {
  manifest: string;
  resourceVersion: string;
}

interface Clients {
  apiext: ApiextensionsV1Api;
  admission: AdmissionregistrationV1Api;
  rbac: RbacAuthorizationV1Api;
  objects: KubernetesObjectApi;
}

/** Server-side apply: the body as given, field manager cmesh, conflicts resolved in cmesh's favour. */
const SSA = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);

/** One server-side apply through the kind's typed endpoint; resolves to the stored object's resourceVersion. */
async function applyOne(c: Clients, o: K8sObject): Promise<string> {
  const common = {
    name: o.metadata.name,
    body: o,
    fieldManager: FIELD_MANAGER,
    force: true,
    fieldValidation: 'Strict',
  };
  const namespace = o.metadata.namespace ?? '';
  let stored: { metadata?: { resourceVersion?: string } };
  switch (o.kind) {
    case 'CustomResourceDefinition':
      stored = await c.apiext.patchCustomResourceDefinition(common, SSA);
      break;
    case 'ValidatingAdmissionPolicy':
      stored = await c.admission.patchValidatingAdmissionPolicy(common, SSA);
      break;
    case 'ValidatingAdmissionPolicyBinding':
      stored = await c.admission.patchValidatingAdmissionPolicyBinding(common, SSA);
      break;
    case 'ClusterRole':
      stored = await c.rbac.patchClusterRole(common, SSA);
      break;
    case 'ClusterRoleBinding':
      stored = await c.rbac.patchClusterRoleBinding(common, SSA);
      break;
    case 'Role':
      stored = await c.rbac.patchNamespacedRole({ ...common, namespace }, SSA);
      break;
    case 'RoleBinding':
      stored = await c.rbac.patchNamespacedRoleBinding({ ...common, namespace }, SSA);
      break;
    default:
      throw new Error(`no apply endpoint for kind ${o.kind}`);
  }
  return stored.metadata?.resourceVersion ?? '';
}

/**
 * Polls `check` (what is still pending; empty when done) until done or the deadline. Errors of the API server are
 * retried (it may be busy installing what was just applied); a ManifestApplyError is final.
 */
async function waitFor(deadline: number, timeoutMs: number, check: () => Promise<string[]>): Promise<void> {
  let pending: string[] = [];
  let lastError: unknown;
  for (;;) {
    try {
      pending = await check();
      lastError = undefined;
    } catch (err) {
      if (err instanceof ManifestApplyError) throw err;
      lastError = err;
      pending = [`(${apiErrorText(err)})`];
    }
    if (pending.length === 0) return;
    if (Date.now() >= deadline) {
      throw new ManifestsNotReadyError(pending, timeoutMs, lastError === undefined ? undefined : { cause: lastError });
    }
    await sleep(POLL_INTERVAL_MS);
  }
}

/** A namespace a Role goes into may not exist yet right after the API server starts (kube-node-lease). */
function isNamespaceNotFound(err: unknown): boolean {
  return err instanceof ApiException && err.code === 404;
}

async function applyAll(c: Clients, objects: readonly K8sObject[], deadline: number): Promise<InstalledManifest[]> {
  return Promise.all(
    objects.map(async (o) => {
      for (;;) {
        try {
          return { manifest: describeManifest(o), resourceVersion: await applyOne(c, o) };
        } catch (err) {
          if (isNamespaceNotFound(err) && o.metadata.namespace && Date.now() < deadline) {
            await sleep(POLL_INTERVAL_MS);
            continue;
          }
          throw new ManifestApplyError(describeManifest(o), { cause: err });
        }
      }
    }),
  );
}

async function crdsNotEstablished(c: Clients, names: readonly string[]): Promise<string[]> {
  const pending: string[] = [];
  for (const name of names) {
    const crd = await c.apiext.readCustomResourceDefinition({ name });
    const is = (type: string): boolean =>
      (crd.status?.conditions ?? []).some((x) => x.type === type && x.status === 'True');
    if (!is('Established') || !is('NamesAccepted')) pending.push(`CustomResourceDefinition ${name} not Established`);
  }
  return pending;
}

/** A dry-run write with an annotation value the policy must refuse: refused = in force. */
async function policiesNotInForce(c: Clients): Promise<string[]> {
  const pending: string[] = [];
  for (const p of POLICY_PROBES) {
    const policy = await c.admission.readValidatingAdmissionPolicy({ name: p.policy });
    const warnings = policy.status?.typeChecking?.expressionWarnings ?? [];
    if (warnings.length > 0) {
      // A policy whose expressions do not type-check never gets in force: no use waiting.
      throw new ManifestApplyError(`ValidatingAdmissionPolicy ${p.policy}`, {
        cause: new Error(warnings.map((w) => `${w.fieldRef}: ${w.warning}`).join('; ')),
      });
    }
    const metadata = { name: PROBE_NAME, annotations: { [p.annotation]: PROBE_VALUE } };
    const probe =
      p.resource === 'services'
        ? {
            apiVersion: 'v1',
            kind: 'Service',
            metadata: { ...metadata, namespace: PROBE_NAMESPACE },
            spec: { ports: [{ port: 80 }] },
          }
        : { apiVersion: 'v1', kind: 'Namespace', metadata };
    try {
      await c.objects.create(probe, undefined, 'All');
      pending.push(`ValidatingAdmissionPolicy ${p.policy} not in force yet`);
    } catch (err) {
      if (!(err instanceof ApiException && apiErrorText(err).includes(p.annotation))) throw err;
    }
  }
  return pending;
}

/**
 * Applies every cluster manifest and waits until they are in force. Throws ManifestApplyError when the API server
 * refuses one, ManifestsNotReadyError when they are not in force within `timeoutMs`.
 */
export async function installClusterManifests(kc: KubeConfig, opts: InstallOptions): Promise<InstalledManifest[]> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_INSTALL_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const c: Clients = {
    apiext: kc.makeApiClient(ApiextensionsV1Api),
    admission: kc.makeApiClient(AdmissionregistrationV1Api),
    rbac: kc.makeApiClient(RbacAuthorizationV1Api),
    objects: KubernetesObjectApi.makeApiClient(kc),
  };
  const manifests = clusterManifests(opts);
  const installed = await applyAll(c, manifests, deadline);
  const crds = manifests.filter((o) => o.kind === 'CustomResourceDefinition').map((o) => o.metadata.name);
  await waitFor(deadline, timeoutMs, () => crdsNotEstablished(c, crds));
  await waitFor(deadline, timeoutMs, () => policiesNotInForce(c));
  return installed;
}
