/**
 * The CRDs a cluster gets, checked without a control plane: they agree with cmesh's kind registry (group, version,
 * plural, scope, short names), their schemas are closed where a misspelt field must be refused, and the manifests
 * carry the label and names the installer relies on.
 */
import { KubeConfig } from '@kubernetes/client-node';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  clusterManifests,
  installClusterManifests,
  ManifestApplyError,
  PART_OF_LABEL,
  PART_OF_VALUE,
} from '../../src/k8s/cluster-manifests.js';
import { CLUSTER_CRDS, type JsonSchema } from '../../src/k8s/crds/index.js';
import { KINDS, isKindName } from '../../src/k8s/types.js';
import { freePort } from '../../src/mesh/etcd-process.js';
import { AGENT_GROUP, CLUSTERMESH_APISERVER_USER, OPERATOR_USER } from '../../src/mesh/kube-pki.js';

const IDENTITIES = {
  clustermeshApiserverUser: CLUSTERMESH_APISERVER_USER,
  operatorUser: OPERATOR_USER,
  agentGroup: AGENT_GROUP,
};

/** Paths of schema nodes that keep unknown fields. */
function openNodes(s: JsonSchema, path: string): string[] {
  const here = s['x-kubernetes-preserve-unknown-fields'] ? [path] : [];
  const children = [
    ...Object.entries(s.properties ?? {}).map(([k, v]) => openNodes(v, `${path}.${k}`)),
    ...(s.items ? [openNodes(s.items, `${path}[]`)] : []),
    ...(s.additionalProperties ? [openNodes(s.additionalProperties, `${path}{}`)] : []),
  ];
  return [...here, ...children.flat()];
}

describe('cluster CRDs', () => {
  it('define every Cilium and MCS kind of the kind registry as the registry names it', () => {
    const defined = new Set<string>();
    for (const crd of CLUSTER_CRDS) {
      const { names, group, scope, versions } = crd.spec;
      const [version] = versions;
      assert.equal(versions.length, 1, `${crd.metadata.name}: one version`);
      assert.equal(crd.metadata.name, `${names.plural}.${group}`);
      if (!isKindName(names.kind)) {
        assert.equal(names.kind, 'ServiceImport', 'the only CRD kind cmesh does not keep objects of');
        continue;
      }
      defined.add(names.kind);
      const info = KINDS[names.kind];
      assert.equal(info.group, group, names.kind);
      assert.equal(info.apiVersion, `${group}/${version?.name}`, names.kind);
      assert.equal(info.resource, names.plural, names.kind);
      assert.equal(info.namespaced, scope === 'Namespaced', names.kind);
      for (const alias of [names.singular, ...(names.shortNames ?? [])]) {
        assert.ok(info.aliases.includes(alias), `${names.kind}: KINDS lacks the CRD's name ${alias}`);
      }
    }
    const crdKinds = Object.values(KINDS).filter((k) => k.group === 'cilium.io' || k.group === 'multicluster.x-k8s.io');
    assert.deepEqual([...defined].sort(), crdKinds.map((k) => k.kind).sort());
  });

  it('keep unknown fields only in CiliumNode’s cloud-provider sections', () => {
    const open = CLUSTER_CRDS.flatMap((crd) =>
      openNodes(crd.spec.versions[0]!.schema.openAPIV3Schema, crd.spec.names.kind),
    );
    assert.deepEqual(open.sort(), [
      'CiliumNode.spec.alibaba-cloud',
      'CiliumNode.spec.azure',
      'CiliumNode.spec.eni',
      'CiliumNode.status.alibaba-cloud',
      'CiliumNode.status.azure',
      'CiliumNode.status.eni',
    ]);
  });

  it('every manifest carries the part-of label, and names are unique per kind', () => {
    const all = clusterManifests({ identities: IDENTITIES, externalWorkloads: true });
    const seen = new Set<string>();
    for (const o of all) {
      assert.equal(o.metadata.labels?.[PART_OF_LABEL], PART_OF_VALUE, `${o.kind} ${o.metadata.name}`);
      const key = `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
      assert.ok(!seen.has(key), `duplicate ${key}`);
      seen.add(key);
    }
  });

  it('binds the external-workload writes only when asked to', () => {
    const names = (ew: boolean): string[] =>
      clusterManifests({ identities: IDENTITIES, externalWorkloads: ew })
        .filter((o) => o.kind === 'ClusterRoleBinding')
        .map((o) => o.metadata.name);
    assert.ok(!names(false).some((n) => n.includes('external-workloads')));
    assert.ok(names(true).some((n) => n.includes('external-workloads')));
  });
});

describe('installClusterManifests against an unreachable API server', () => {
  it('fails with ManifestApplyError naming the manifest', async () => {
    const port = await freePort();
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `https://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 'none' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    await assert.rejects(installClusterManifests(kc, { identities: IDENTITIES, timeoutMs: 2_000 }), (err: unknown) => {
      assert.ok(err instanceof ManifestApplyError, String(err));
      assert.match(err.message, /^applying \S+ \S+ failed: /);
      assert.ok(err.cause !== undefined);
      return true;
    });
  });
});
