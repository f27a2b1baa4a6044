import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import {
  ETCD_VERSION,
  KUBE_BINARY_NAMES,
  KUBE_VERSION,
  KubeBinariesMissingError,
  kubeBinaryPaths,
  resolveKubeBinaries,
  type KubeBinaries,
} from '../../src/mesh/kube-binaries.js';

const run = promisify(execFile);

describe('the pinned Kubernetes and etcd binaries that setup builds', () => {
  let bins: KubeBinaries;

  before(async () => {
    // Throws KubeBinariesMissingError (which says to run scripts/setup.sh) when any of the five is missing.
    bins = await resolveKubeBinaries();
  });

  for (const name of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const) {
    it(`${name} --version reports Kubernetes ${KUBE_VERSION}`, async () => {
      const { stdout } = await run(bins[name], ['--version']);
      assert.equal(stdout.trim(), `Kubernetes ${KUBE_VERSION}`, `${bins[name]} --version printed ${stdout}`);
    });
  }

  it(`kubectl version --client -o json reports ${KUBE_VERSION}`, async () => {
    const { stdout } = await run(bins.kubectl, ['version', '--client', '-o', 'json']);
    const v = JSON.parse(stdout) as { clientVersion?: { gitVersion?: string; major?: string; minor?: string } };
    const [major, minor] = KUBE_VERSION.slice(1).split('.');
    assert.equal(v.clientVersion?.gitVersion, KUBE_VERSION, `kubectl printed ${stdout}`);
    assert.equal(v.clientVersion.major, major, `kubectl major version: ${stdout}`);
    assert.equal(v.clientVersion.minor, minor, `kubectl minor version: ${stdout}`);
  });

  it(`etcd --version reports ${ETCD_VERSION}`, async () => {
    const { stdout } = await run(bins.etcd, ['--version']);
    assert.match(stdout, new RegExp(`^etcd Version: ${ETCD_VERSION.slice(1).replaceAll('.', '\\.')}$`, 'm'), stdout);
  });
});

describe('resolving the binaries', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'cmesh-test-kubebin-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('defaults to version-keyed folders under $XDG_CACHE_HOME/cmesh', () => {
    const { binaries, fromEnv } = kubeBinaryPaths({ XDG_CACHE_HOME: '/c', HOME: '/h' });
    assert.equal(fromEnv, false);
    assert.equal(binaries['kube-apiserver'], `/c/cmesh/kube-${KUBE_VERSION}/bin/kube-apiserver`);
    assert.equal(binaries.etcd, `/c/cmesh/etcd-${ETCD_VERSION}/bin/etcd`);
    assert.equal(kubeBinaryPaths({ HOME: '/h' }).binaries.kubectl, `/h/.cache/cmesh/kube-${KUBE_VERSION}/bin/kubectl`);
  });

  it('takes all five from CMESH_KUBE_BIN_DIR, and names the missing ones and the setup command', async () => {
    for (const name of [...KUBE_BINARY_NAMES, 'etcd']) {
      if (name === 'kubectl') continue;
      await writeFile(path.join(dir, name), '#!/bin/sh\n');
      await chmod(path.join(dir, name), 0o755);
    }
    await assert.rejects(resolveKubeBinaries({ CMESH_KUBE_BIN_DIR: dir }), (err: unknown) => {
      assert.ok(err instanceof KubeBinariesMissingError, `expected KubeBinariesMissingError, got ${String(err)}`);
      assert.deepEqual(err.missing, [path.join(dir, 'kubectl')]);
      assert.match(err.message, /bash scripts\/setup\.sh/);
      assert.match(err.message, /CMESH_KUBE_BIN_DIR/);
      return true;
    });
    await writeFile(path.join(dir, 'kubectl'), '#!/bin/sh\n');
    await chmod(path.join(dir, 'kubectl'), 0o755);
    const bins = await resolveKubeBinaries({ CMESH_KUBE_BIN_DIR: dir });
    assert.equal(bins.etcd, path.join(dir, 'etcd'));
    assert.equal(bins['kube-scheduler'], path.join(dir, 'kube-scheduler'));
  });
});
