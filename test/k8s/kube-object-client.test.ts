/**
 * KubeObjectClient against a real kube-apiserver (one per file; a namespace per test): the ObjectStore's reads and
 * writes with its error classes, strict field validation, resourceVersion preconditions and retryOnConflict,
 * server-side apply and field ownership, a manifest applied whole or not at all, and RBAC refusals.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { AlreadyExistsError, ConflictError, InvalidObjectsError, NotFoundError } from '../../src/k8s/errors.js';
import {
  ApplyConflictError,
  ForbiddenError,
  KubeApiError,
  ObjectsRejectedError,
  ResourceNotServedError,
} from '../../src/k8s/kube-errors.js';
import { KubeObjectClient } from '../../src/k8s/kube-object-client.js';
import { loadKubeconfig } from '../../src/k8s/kubeconfig.js';
import { parseManifest } from '../../src/k8s/manifest.js';
import type { ObjectClient } from '../../src/k8s/object-client.js';
import { ObjectStore } from '../../src/k8s/object-store.js';
import { RETRY_ON_CONFLICT_ATTEMPTS, retryOnConflict } from '../../src/k8s/retry-on-conflict.js';
import type { CiliumEndpoint, Service } from '../../src/k8s/types.js';
import { ValidationError } from '../../src/k8s/validation-error.js';
import { startTestControlPlane, type TestControlPlane } from '../harness/kube.js';
import { crdFor } from './kube-crds.js';

function svc(namespace: string, name: string, labels: Record<string, string> = {}, port = 80): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace, labels },
    spec: { ports: [{ port, protocol: 'TCP' }] },
  };
}

describe('KubeObjectClient against kube-apiserver', () => {
  let cp: TestControlPlane;
  let kc: KubeConfig;
  let client: KubeObjectClient;
  let n = 0;

  before(async () => {
    cp = await startTestControlPlane({ name: 'kubesrc', apiserverOnly: true });
    kc = loadKubeconfig({ kubeconfig: cp.kubeconfig }).kubeConfig;
    client = new KubeObjectClient(kc, { fieldManager: 'cmesh-test' });
  });
  after(async () => {
    await cp.stop();
  });

  async function namespace(): Promise<string> {
    const ns = `o${++n}`;
    await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    return ns;
  }

  it('is an ObjectClient, as ObjectStore is', () => {
    const clients: ObjectClient[] = [client, new ObjectStore({} as never)];
    assert.equal(clients.length, 2);
  });

  it('creates, reads, lists, replaces and deletes with the object store error classes', async () => {
    const ns = await namespace();
    const a = await client.create(svc(ns, 'a', { app: 'web' }));
    assert.ok(a.metadata.uid && a.metadata.resourceVersion, 'the created object as stored');
    assert.match(a.spec?.clusterIP ?? '', /^127\./, 'the API server filled in defaults');
    assert.equal(typeof a.metadata.creationTimestamp, 'string', 'timestamps stay strings (no Date objects)');
    await client.create(svc(ns, 'b', { app: 'db' }));
    await assert.rejects(client.create(svc(ns, 'a')), (err: unknown) => {
      assert.ok(err instanceof AlreadyExistsError, String(err));
      assert.ok(err.cause instanceof KubeApiError);
      assert.equal(err.message, `Service ${ns}/a already exists`);
      return true;
    });
    assert.deepEqual(await client.get('Service', ns, 'a'), a);
    assert.equal(await client.get('Service', ns, 'nope'), undefined);

    const listed = await client.list('Service', { namespace: ns, labelSelector: 'app=web' });
    assert.deepEqual(
      listed.items.map((o) => `${o.kind} ${o.metadata.name}`),
      ['Service a'],
    );
    assert.match(listed.resourceVersion, /^\d+$/);
    const structured = await client.list('Service', {
      namespace: ns,
      labelSelector: { matchExpressions: [{ key: 'app', operator: 'Exists' }] },
    });
    assert.deepEqual(structured.items.map((o) => o.metadata.name).sort(), ['a', 'b']);

    const a2 = await client.update<Service>({ ...a, metadata: { ...a.metadata, labels: { app: 'web2' } } });
    assert.notEqual(a2.metadata.resourceVersion, a.metadata.resourceVersion);
    assert.equal(a2.metadata.labels?.app, 'web2');
    await assert.rejects(client.update(svc(ns, 'nope')), NotFoundError);

    const gone = await client.delete('Service', ns, 'a');
    assert.equal(gone?.metadata.name, 'a');
    assert.equal(await client.delete('Service', ns, 'a'), undefined);
    assert.deepEqual(await client.deleteAll([svc(ns, 'b'), svc(ns, 'never')]), [true, false]);
    assert.deepEqual((await client.list('Service', { namespace: ns })).items, []);
  });

  it('refuses a stale resourceVersion with ConflictError; retryOnConflict re-reads and retries, a bounded number of times', async () => {
    const ns = await namespace();
    const a = await client.create(svc(ns, 'a'));
    const newer = await client.update({ ...a, metadata: { ...a.metadata, labels: { v: '2' } } });
    await assert.rejects(
      client.update({ ...a, metadata: { ...a.metadata, labels: { v: 'stale' } } }),
      (err: unknown) => {
        assert.ok(err instanceof ConflictError, String(err));
        assert.equal(err.expectedResourceVersion, a.metadata.resourceVersion);
        assert.equal(err.actualResourceVersion, newer.metadata.resourceVersion);
        assert.ok(err.cause instanceof KubeApiError);
        assert.match(err.message, /modified concurrently/);
        return true;
      },
    );
    await assert.rejects(
      client.delete('Service', ns, 'a', { resourceVersion: a.metadata.resourceVersion! }),
      (err: unknown) => err instanceof ConflictError && err.actualResourceVersion === newer.metadata.resourceVersion,
    );
    assert.equal((await client.get('Service', ns, 'a'))?.metadata.labels?.v, '2', 'nothing was written');

    // Another writer gets in between the first read and write; the second round wins.
    let calls = 0;
    const result = await retryOnConflict(async () => {
      calls++;
      const cur = (await client.get('Service', ns, 'a'))!;
      if (calls === 1) await client.update({ ...cur, metadata: { ...cur.metadata, labels: { v: 'other' } } });
      const labels = { ...cur.metadata.labels, mine: 'yes' };
      return client.update({ ...cur, metadata: { ...cur.metadata, labels } });
    });
    assert.equal(calls, 2);
    assert.deepEqual(result.metadata.labels, { v: 'other', mine: 'yes' });

    let attempts = 0;
    await assert.rejects(
      retryOnConflict(async () => {
        attempts++;
        return client.update({ ...a, metadata: { ...a.metadata, labels: { v: 'always stale' } } });
      }),
      ConflictError,
    );
    assert.equal(attempts, RETRY_ON_CONFLICT_ATTEMPTS);
    // Other errors are not retried.
    attempts = 0;
    await assert.rejects(
      retryOnConflict(async () => {
        attempts++;
        return client.update(svc(ns, 'missing'));
      }),
      NotFoundError,
    );
    assert.equal(attempts, 1);

    const ok = await client.delete('Service', ns, 'a', { resourceVersion: result.metadata.resourceVersion! });
    assert.equal(ok?.metadata.name, 'a');
  });

  it('replaces the status alone with updateStatus; update keeps the status', async () => {
    const ns = await namespace();
    const a = await client.create({ ...svc(ns, 'a'), spec: { type: 'LoadBalancer', ports: [{ port: 80 }] } });
    const withStatus = await client.updateStatus<Service>({
      ...a,
      status: { loadBalancer: { ingress: [{ ip: '127.0.0.9' }] } },
    });
    assert.equal(withStatus.status?.loadBalancer?.ingress?.[0]?.ip, '127.0.0.9');
    const { status: _s, ...noStatus } = withStatus;
    const relabelled = await client.update<Service>({
      ...noStatus,
      metadata: { ...noStatus.metadata, labels: { x: 'y' } },
    });
    assert.equal(relabelled.status?.loadBalancer?.ingress?.[0]?.ip, '127.0.0.9');
    await assert.rejects(
      client.updateStatus({ ...a, metadata: { ...a.metadata, resourceVersion: a.metadata.resourceVersion! } }),
      ConflictError,
    );
  });

  it('rejects unknown fields (strict field validation) and invalid values with ValidationError naming the field', async () => {
    const ns = await namespace();
    const bogus = { ...svc(ns, 'a'), spec: { ports: [{ port: 80 }], bogusField: 1 } } as Service;
    await assert.rejects(client.create(bogus), (err: unknown) => {
      assert.ok(err instanceof ValidationError, String(err));
      assert.deepEqual(
        err.issues.map((i) => i.path),
        ['spec.bogusField'],
      );
      assert.ok(err.cause instanceof KubeApiError);
      return true;
    });
    await assert.rejects(client.create(svc(ns, 'b', {}, 99999)), (err: unknown) => {
      assert.ok(err instanceof ValidationError, String(err));
      assert.ok(
        err.issues.some((i) => i.path === 'spec.ports[0].port' && i.message.includes('between 1 and 65535')),
        JSON.stringify(err.issues),
      );
      assert.match(err.message, new RegExp(`Service ${ns}/b is invalid: spec\\.ports\\[0\\]\\.port`));
      return true;
    });
    await assert.rejects(
      client.create({ ...svc(ns, 'c'), metadata: { name: 'c' } }),
      (err: unknown) => err instanceof ValidationError && err.issues[0]?.path === 'metadata.namespace',
    );
    assert.equal(await client.get('Service', ns, 'a'), undefined);
  });

  it("applies server-side: created, configured, unchanged; another manager's fields conflict unless forced", async () => {
    const ns = await namespace();
    const first = await client.apply(svc(ns, 'a', { app: 'web' }));
    assert.equal(first.action, 'created');
    const again = await client.apply(svc(ns, 'a', { app: 'web' }));
    assert.equal(again.action, 'unchanged');
    assert.equal(again.object.metadata.resourceVersion, first.object.metadata.resourceVersion);
    const changed = await client.apply(svc(ns, 'a', { app: 'web', tier: 'front' }));
    assert.equal(changed.action, 'configured');
    assert.equal(changed.object.metadata.labels?.tier, 'front');
    const managers = (changed.object.metadata.managedFields as { manager?: string; operation?: string }[]).map(
      (m) => `${m.manager ?? ''}/${m.operation ?? ''}`,
    );
    assert.ok(managers.includes('cmesh-test/Apply'), managers.join(', '));

    const other = new KubeObjectClient(kc, { fieldManager: 'someone-else' });
    await assert.rejects(other.apply(svc(ns, 'a', { app: 'api' })), (err: unknown) => {
      assert.ok(err instanceof ObjectsRejectedError, String(err));
      const inner = err.errors[0]?.error;
      assert.ok(inner instanceof ApplyConflictError, String(inner));
      assert.deepEqual(inner.conflicts, [{ manager: 'cmesh-test', field: '.metadata.labels.app' }]);
      assert.match(err.message, /apply with force/);
      return true;
    });
    const forced = new KubeObjectClient(kc, { fieldManager: 'someone-else', force: true });
    const taken = await forced.apply(svc(ns, 'a', { app: 'api' }));
    assert.equal(taken.action, 'configured');
    assert.equal(taken.object.metadata.labels?.app, 'api');
  });

  it('applies a manifest whole: one bad object and nothing is written, each error at its location', async () => {
    const ns = `o${++n}`;
    const text = [
      stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }),
      stringify(svc(ns, 'good')),
      stringify({ ...svc(ns, 'typo'), spec: { ports: [{ port: 80, prot: 'TCP' }] } }),
      stringify(svc(ns, 'bad', {}, 0)),
    ].join('---\n');
    const docs = parseManifest(text, 'app.yaml');
    const objects = docs.map((d) => d.object);
    const locations = docs.map((d) => d.location);
    // Objects in a namespace the file creates cannot be dry-run; put the namespace first for real.
    await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    await assert.rejects(client.applyAll(objects, { locations }), (err: unknown) => {
      assert.ok(err instanceof InvalidObjectsError, String(err));
      assert.deepEqual(
        err.errors.map((e) => e.location),
        ['app.yaml: document 3 (line 17)', 'app.yaml: document 4 (line 28)'],
      );
      assert.match(
        err.message,
        /document 3 \(line 17\): Service o\d+\/typo is invalid: spec\.ports\[0\]\.prot: unknown field/,
      );
      assert.match(err.message, /document 4 \(line 28\): Service o\d+\/bad is invalid: spec\.ports\[0\]\.port/);
      return true;
    });
    assert.deepEqual((await client.list('Service', { namespace: ns })).items, [], 'nothing was written');

    // Locally detectable problems are reported before anything reaches the server.
    await assert.rejects(
      client.applyAll([svc(ns, 'x'), { apiVersion: 'v1', kind: 'Deployment', metadata: { name: 'd' } }, svc(ns, 'x')]),
      (err: unknown) =>
        err instanceof InvalidObjectsError &&
        err.message.includes('object 2: Deployment d is invalid: kind: unsupported kind') &&
        /object 3: Service o\d+\/x is invalid: appears twice \(also at object 1\)/.test(err.message),
    );

    // The same file without its bad objects applies whole, Namespace first.
    const ns2 = `o${++n}`;
    const good = [svc(ns2, 'one'), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns2 } }, svc(ns2, 'two')];
    const results = await client.applyAll(good);
    assert.deepEqual(
      results.map((r) => `${r.object.kind} ${r.object.metadata.name} ${r.action}`),
      [`Service one created`, `Namespace ${ns2} created`, `Service two created`],
    );
    // kube-apiserver creates a Namespace by apply without managedFields and adds them (`before-first-apply`) on
    // the next apply: that one write is the server's, not a change of the manifest.
    const again = await client.applyAll(good);
    assert.deepEqual(
      again.map((r) => r.action),
      ['unchanged', 'configured', 'unchanged'],
    );
    const third = await client.applyAll(good);
    assert.deepEqual(
      third.map((r) => r.action),
      ['unchanged', 'unchanged', 'unchanged'],
    );
  });

  it('reports a kind the API server does not serve (CRD not installed) as such', async () => {
    await assert.rejects(client.get('CiliumIdentity', undefined, '1234'), (err: unknown) => {
      assert.ok(err instanceof ResourceNotServedError, String(err));
      assert.match(
        err.message,
        /does not serve CiliumIdentity \(cilium\.io\/v2\): is its CustomResourceDefinition installed\?/,
      );
      return true;
    });
    await assert.rejects(client.list('CiliumIdentity'), ResourceNotServedError);
  });

  it('says so when a kind has no status subresource', async () => {
    await cp.kubectlIn(stringify(crdFor('CiliumEndpoint')), 'apply', '-f', '-');
    await cp.kubectl('wait', '--for=condition=Established', '--timeout=60s', 'crd/ciliumendpoints.cilium.io');
    const ns = await namespace();
    const cep = await client.create<CiliumEndpoint>({
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumEndpoint',
      metadata: { name: 'pod-a', namespace: ns },
      status: { id: 1 },
    });
    assert.equal(cep.status?.id, 1);
    await assert.rejects(
      client.updateStatus({ ...cep, status: { id: 2 } }),
      (err: unknown) => err instanceof KubeApiError && err.message.includes('no status subresource'),
    );
    // Without a status subresource, the status is part of the object: update replaces it.
    const updated = await client.update<CiliumEndpoint>({ ...cep, status: { id: 2 } });
    assert.equal(updated.status?.id, 2);
  });

  it('gives an identity without RBAC rights a Forbidden error naming the user and the verb', async () => {
    const ns = await namespace();
    const nobody = new KubeObjectClient(
      loadKubeconfig({ kubeconfig: await cp.userKubeconfig('cmesh:nobody') }).kubeConfig,
      {
        fieldManager: 'cmesh-test',
      },
    );
    await assert.rejects(nobody.list('Service', { namespace: ns }), (err: unknown) => {
      assert.ok(err instanceof ForbiddenError, String(err));
      assert.equal(err.user, 'cmesh:nobody');
      assert.equal(err.verb, 'list');
      assert.equal(err.resource, 'services');
      assert.match(err.message, /User "cmesh:nobody" cannot list resource "services".*through RBAC/);
      return true;
    });
    await assert.rejects(
      nobody.create(svc(ns, 'a')),
      (err: unknown) => err instanceof ForbiddenError && err.verb === 'create',
    );
    await assert.rejects(nobody.applyAll([svc(ns, 'a')]), (err: unknown) => {
      assert.ok(err instanceof ObjectsRejectedError, String(err));
      assert.ok(err.cause instanceof ForbiddenError);
      assert.match(err.message, /^object 1: .*User "cmesh:nobody" cannot patch/);
      return true;
    });
    assert.equal(await client.get('Service', ns, 'a'), undefined);
  });
});
