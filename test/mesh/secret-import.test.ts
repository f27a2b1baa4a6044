/**
 * Secrets and prerequisites, in-process: cluster folders with records and certificates but no processes (the
 * access check is skipped; the end-to-end test covers it).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeClusterRecord, type ClusterRecord } from '../../src/k8s/local-cluster-record.js';
import { createCertificateAuthority, issueCertificate } from '../../src/mesh/certificates.js';
import { ensureClusterCertificates, rotateCertificates, userCertFiles } from '../../src/mesh/certificates-store.js';
import { importSecrets } from '../../src/mesh/connect.js';
import { clusterPaths } from '../../src/mesh/home.js';
import { PrerequisiteError, checkConnectPrerequisites, type MeshClusterInfo } from '../../src/mesh/prerequisites.js';
import { listInstalledRemotes } from '../../src/mesh/remotes.js';
import { extractSecret, parseSecret, SecretError, type ClusterMeshSecret } from '../../src/mesh/secret.js';
import { loadEtcdConfigFile } from '../../src/kvstore/client.js';

let home: string;

async function fakeCluster(
  name: string,
  id: number,
  podCidr: string,
  opts: { kvstoremesh?: boolean } = {},
): Promise<void> {
  const paths = clusterPaths(name, home);
  for (const d of [paths.dir, paths.certs, paths.clustermeshConfig]) await mkdir(d, { recursive: true });
  const record: ClusterRecord = {
    name,
    id,
    maxConnectedClusters: 255,
    podCidr,
    serviceCidr: '10.96.0.0/16',
    nodes: 1,
    createdAt: new Date().toISOString(),
    ports: {
      stateEtcdClient: 1,
      stateEtcdPeer: 2,
      stateEtcdMetrics: 3,
      operatorHealth: 4,
      kubeApiserver: 5,
      clustermeshEtcdClient: 20000 + id,
    },
    clustermesh: {
      enabled: true,
      kvstoremesh: opts.kvstoremesh ?? false,
      tls: true,
      serviceExports: false,
      defaultGlobalNamespace: true,
    },
  };
  await writeClusterRecord(paths.record, record);
  await ensureClusterCertificates(record, paths);
}

async function snapshot(name: string): Promise<string[]> {
  const paths = clusterPaths(name, home);
  const walk = async (d: string): Promise<string[]> => {
    if (!existsSync(d)) return [];
    const out: string[] = [];
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) out.push(...(await walk(p)));
      else out.push(`${path.relative(paths.dir, p)}:${(await readFile(p, 'utf8')).length}`);
    }
    return out.sort();
  };
  return walk(paths.dir);
}

async function secretFile(s: unknown, name: string): Promise<string> {
  const f = path.join(home, `${name}.json`);
  await writeFile(f, typeof s === 'string' ? s : JSON.stringify(s));
  return f;
}

describe('clustermesh secrets and prerequisites', () => {
  before(async () => {
    home = await mkdtemp(path.join(tmpdir(), 'cmesh-test-home-'));
    await fakeCluster('east', 1, '10.1.0.0/16');
    await fakeCluster('west', 2, '10.2.0.0/16');
    await fakeCluster('north', 3, '10.3.0.0/16', { kvstoremesh: true });
    await fakeCluster('clash', 2, '10.4.0.0/16');
    await fakeCluster('overlap', 5, '10.1.128.0/17');
  });
  after(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('extracts a secret that validates, with the remote-<cluster> certificate and an https endpoint', async () => {
    const s = await extractSecret('west', home);
    assert.equal(s.kind, 'ClusterMeshSecret');
    assert.deepEqual(s.cluster, { name: 'west', id: 2, maxConnectedClusters: 255, podCidr: '10.2.0.0/16' });
    assert.deepEqual(s.endpoints, ['https://127.0.0.1:20002']);
    assert.equal(s.cert, await readFile(userCertFiles(clusterPaths('west', home), 'remote-west').cert, 'utf8'));
    await parseSecret(JSON.stringify(s), 'west.json');
  });

  it('imports a secret: remote material and a Cilium-format config file in the agents config dir', async () => {
    const f = await secretFile(await extractSecret('west', home), 'west');
    const names = await importSecrets(
      'east',
      [await parseSecret(await readFile(f, 'utf8'), f)],
      { skipAccessCheck: true },
      home,
    );
    assert.deepEqual(names, ['west']);
    const paths = clusterPaths('east', home);
    const cfg = await loadEtcdConfigFile(path.join(paths.clustermeshConfig, 'west'));
    assert.deepEqual(cfg.endpoints, ['https://127.0.0.1:20002']);
    assert.equal(cfg.tls?.cert?.toString(), (await extractSecret('west', home)).cert);
    assert.equal(String(cfg.tls.ca), (await extractSecret('west', home)).ca);
    assert.deepEqual(
      (await listInstalledRemotes(paths)).map((r) => r.cluster.name),
      ['west'],
    );
  });

  it('with kvstoremesh, agents read the local etcd with local-<cluster> and kvstoremesh reads the remote', async () => {
    await importSecrets('north', [await extractSecret('west', home)], { skipAccessCheck: true }, home);
    const paths = clusterPaths('north', home);
    const agentCfg = await loadEtcdConfigFile(path.join(paths.clustermeshConfig, 'west'));
    assert.deepEqual(agentCfg.endpoints, ['https://127.0.0.1:20003']);
    assert.equal(agentCfg.tls?.cert?.toString(), await readFile(userCertFiles(paths, 'local-north').cert, 'utf8'));
    const kvsmCfg = await loadEtcdConfigFile(path.join(paths.dir, 'kvstoremesh', 'west'));
    assert.deepEqual(kvsmCfg.endpoints, ['https://127.0.0.1:20002']);
  });

  it('refuses bad imports with a clear message and changes nothing', async () => {
    const good = await extractSecret('west', home);
    const other = await createCertificateAuthority('evil');
    const foreign = await issueCertificate(other, { commonName: 'remote-west' });
    const wrongCn = await issueCertificate(
      {
        commonName: 'x',
        certPem: good.ca,
        keyPem: await readFile(path.join(clusterPaths('west', home).certs, 'ca.key'), 'utf8'),
      },
      { commonName: 'admin-west' },
    );
    const expired = await issueCertificate(
      {
        commonName: 'x',
        certPem: good.ca,
        keyPem: await readFile(path.join(clusterPaths('west', home).certs, 'ca.key'), 'utf8'),
      },
      {
        commonName: 'remote-west',
        notBefore: new Date(Date.now() - 86_400_000 * 2),
        notAfter: new Date(Date.now() - 86_400_000),
      },
    );
    const tamperedCert = good.cert.replace(
      /^(-----BEGIN CERTIFICATE-----\n)(.{20})(.)/m,
      (_m, a: string, b: string, c: string) => a + b + (c === 'A' ? 'B' : 'A'),
    );
    const cases: [string, unknown, RegExp][] = [
      ['malformed JSON', '{"apiVersion": ', /not valid JSON/],
      ['wrong kind', { ...good, kind: 'Secret' }, /not a ClusterMeshSecret.*kind/],
      ['missing key', { ...good, key: undefined }, /key/],
      ['http endpoint', { ...good, endpoints: ['http://127.0.0.1:1'] }, /endpoints.*https/],
      ['garbage ca', { ...good, ca: 'not a pem' }, /"ca" is not a PEM certificate/],
      ['tampered cert', { ...good, cert: tamperedCert }, /not signed by the CA|not a PEM/],
      ['cert from another CA', { ...good, cert: foreign.certPem, key: foreign.keyPem }, /not signed by the CA/],
      ['key of another cert', { ...good, key: foreign.keyPem }, /private key does not belong/],
      [
        'wrong CN',
        { ...good, cert: wrongCn.certPem, key: wrongCn.keyPem },
        /etcd user "admin-west", expected "remote-west"/,
      ],
      [
        'expired cert',
        { ...good, cert: expired.certPem, key: expired.keyPem },
        /expired on .*rotate-certs --context west/,
      ],
    ];
    const before = await snapshot('east');
    for (const [what, doc, re] of cases) {
      const f = await secretFile(doc, 'bad');
      await assert.rejects(parseSecret(await readFile(f, 'utf8'), f), (err: Error) => {
        assert.ok(err instanceof SecretError, `${what}: ${err.name}`);
        assert.match(err.message, re, what);
        assert.ok(err.message.startsWith(f), `${what}: names the file`);
        return true;
      });
    }
    const prereq: [string, ClusterMeshSecret[], RegExp][] = [
      ['itself', [await extractSecret('east', home)], /cannot connect cluster "east" to itself/],
      [
        'duplicate ID',
        [await extractSecret('clash', home)],
        /cluster ID 2 of cluster "clash" is already used by already connected cluster "west"/,
      ],
      [
        'overlapping pod CIDR',
        [await extractSecret('overlap', home)],
        /pod CIDR 10\.1\.128\.0\/17 of cluster "overlap" overlaps pod CIDR 10\.1\.0\.0\/16 of local cluster "east"/,
      ],
      // All or nothing: a valid secret next to a clashing one installs neither.
      ['one bad of two', [await extractSecret('north', home), await extractSecret('clash', home)], /cluster ID 2/],
      [
        'ID 0',
        [{ ...good, cluster: { ...good.cluster, name: 'zero', id: 0 } }],
        /remote cluster "zero": cluster ID 0 is reserved/,
      ],
      [
        'ID 256',
        [{ ...good, cluster: { ...good.cluster, name: 'big', id: 256 } }],
        /remote cluster "big": cluster ID 256/,
      ],
      [
        'invalid name',
        [{ ...good, cluster: { ...good.cluster, name: 'Bad_Name', id: 9 } }],
        /remote cluster "Bad_Name"/,
      ],
    ];
    for (const [what, secrets, re] of prereq) {
      await assert.rejects(importSecrets('east', secrets, { skipAccessCheck: true }, home), (err: Error) => {
        assert.ok(err instanceof PrerequisiteError, `${what}: ${err.name}: ${err.message}`);
        assert.match(err.message, re, what);
        return true;
      });
    }
    assert.deepEqual(await snapshot('east'), before, 'nothing changed');
  });

  it('checks prerequisites: ID 512 with 511, MaxConnectedClusters mismatch, duplicates among imports', () => {
    const c = (name: string, id: number, podCidr: string, max: 255 | 511 = 255): MeshClusterInfo => ({
      name,
      id,
      maxConnectedClusters: max,
      podCidr,
    });
    const local = c('a', 1, '10.1.0.0/16', 511);
    checkConnectPrerequisites(local, [c('b', 300, '10.2.0.0/16', 511)]);
    assert.throws(() => {
      checkConnectPrerequisites(local, [c('b', 512, '10.2.0.0/16', 511)]);
    }, /cluster ID 512/);
    assert.throws(() => {
      checkConnectPrerequisites(local, [c('b', 2, '10.2.0.0/16', 255)]);
    }, /"a" has MaxConnectedClusters 511 but cluster "b" has 255/);
    assert.throws(() => {
      checkConnectPrerequisites(local, [c('b', 2, '10.2.0.0/16', 511), c('c', 2, '10.3.0.0/16', 511)]);
    }, /cluster ID 2 of cluster "c" is already used by also imported cluster "b"/);
    // Re-importing a connected remote replaces it instead of clashing with itself.
    checkConnectPrerequisites(local, [c('b', 2, '10.2.0.0/16', 511)], [c('b', 2, '10.2.0.0/16', 511)]);
  });

  it('rotated certificates keep the CA, and the old secret stops matching the new files', async () => {
    const paths = clusterPaths('west', home);
    const old = await extractSecret('west', home);
    const { caRenewed } = await rotateCertificates(
      {
        name: 'west',
        id: 2,
        maxConnectedClusters: 255,
        podCidr: '10.2.0.0/16',
        serviceCidr: '',
        nodes: 1,
        createdAt: '',
        ports: { stateEtcdClient: 1, stateEtcdPeer: 2, stateEtcdMetrics: 3, operatorHealth: 4, kubeApiserver: 5 },
      },
      paths,
    );
    assert.equal(caRenewed, false);
    const fresh = await extractSecret('west', home);
    assert.equal(fresh.ca, old.ca);
    assert.notEqual(fresh.cert, old.cert);
    await parseSecret(JSON.stringify(old), 'old.json');
  });
});
