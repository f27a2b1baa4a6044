/**
 * Loading a kubeconfig and selecting a context: precedence (--kubeconfig, $KUBECONFIG, ~/.kube/config), kubectl's
 * merge of several files, errors a person can act on, and the loopback-only rule. No connection is made.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { KubeApi } from '../../src/k8s/kube-api.js';
import { isLoopbackHost, KubeconfigError, loadKubeconfig, NonLoopbackServerError } from '../../src/k8s/kubeconfig.js';

interface Ctx {
  name: string;
  server: string;
  proxy?: string;
}

function kubeconfig(contexts: Ctx[], current?: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: contexts.map((c) => ({
      name: `${c.name}-cluster`,
      cluster: { server: c.server, ...(c.proxy ? { 'proxy-url': c.proxy } : {}) },
    })),
    users: contexts.map((c) => ({ name: `${c.name}-user`, user: { token: 'not-a-secret' } })),
    contexts: contexts.map((c) => ({
      name: c.name,
      context: { cluster: `${c.name}-cluster`, user: `${c.name}-user` },
    })),
    ...(current ? { 'current-context': current } : {}),
  });
}

describe('loadKubeconfig', () => {
  let dir: string;
  let home: string;
  const file = (name: string): string => path.join(dir, name);

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'cmesh-test-home-kubeconfig-'));
    home = path.join(dir, 'home');
    await mkdir(path.join(home, '.kube'), { recursive: true });
    await writeFile(
      file('a.yaml'),
      kubeconfig(
        [
          { name: 'a', server: 'https://127.0.0.1:6443' },
          { name: 'shared', server: 'https://127.0.0.2:6443' },
        ],
        'a',
      ),
    );
    await writeFile(
      file('b.yaml'),
      kubeconfig(
        [
          { name: 'b', server: 'https://[::1]:6443' },
          { name: 'shared', server: 'https://127.0.0.3:6443' },
        ],
        'b',
      ),
    );
    await writeFile(
      file('remote.yaml'),
      kubeconfig(
        [
          { name: 'remote', server: 'https://10.1.2.3:6443' },
          { name: 'named', server: 'https://kube.example.com' },
          { name: 'proxied', server: 'https://localhost:6443', proxy: 'http://192.168.1.1:3128' },
          { name: 'local', server: 'https://localhost:6443' },
        ],
        'remote',
      ),
    );
    await writeFile(file('no-current.yaml'), kubeconfig([{ name: 'x', server: 'https://127.0.0.1:1' }]));
    await writeFile(
      path.join(home, '.kube', 'config'),
      kubeconfig([{ name: 'home', server: 'https://127.0.0.1:2' }], 'home'),
    );
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('takes --kubeconfig over $KUBECONFIG over ~/.kube/config, and the current context unless --context', () => {
    const env = { KUBECONFIG: file('b.yaml') };
    const explicit = loadKubeconfig({ kubeconfig: file('a.yaml') }, env, home);
    assert.equal(explicit.context, 'a');
    assert.equal(explicit.server, 'https://127.0.0.1:6443');
    assert.equal(explicit.user, 'a-user');
    assert.deepEqual(explicit.files, [file('a.yaml')]);
    assert.equal(explicit.kubeConfig.getCurrentContext(), 'a');
    assert.equal(loadKubeconfig({}, env, home).context, 'b');
    assert.equal(loadKubeconfig({}, {}, home).context, 'home');
    const chosen = loadKubeconfig({ kubeconfig: file('a.yaml'), context: 'shared' }, {}, home);
    assert.equal(chosen.context, 'shared');
    assert.equal(chosen.kubeConfig.getCurrentCluster()?.server, 'https://127.0.0.2:6443');
  });

  it('merges the files of $KUBECONFIG as kubectl does: the first definition of a name wins, missing files skipped', () => {
    const env = { KUBECONFIG: [file('missing.yaml'), file('a.yaml'), file('b.yaml')].join(path.delimiter) };
    const merged = loadKubeconfig({}, env, home);
    assert.equal(merged.context, 'a', 'current-context from the first file that sets one');
    assert.deepEqual(merged.files, [file('a.yaml'), file('b.yaml')]);
    assert.equal(loadKubeconfig({ context: 'b' }, env, home).server, 'https://[::1]:6443');
    assert.equal(loadKubeconfig({ context: 'shared' }, env, home).server, 'https://127.0.0.2:6443');
  });

  it('says which file is missing, and which contexts exist when the one asked for does not', () => {
    assert.throws(
      () => loadKubeconfig({ kubeconfig: file('nope.yaml') }, {}, home),
      (err: unknown) =>
        err instanceof KubeconfigError && err.message.includes(`${file('nope.yaml')} (--kubeconfig) does not exist`),
    );
    assert.throws(
      () => loadKubeconfig({}, { KUBECONFIG: file('nope.yaml') }, home),
      /none of the kubeconfig files in \$KUBECONFIG exists/,
    );
    assert.throws(
      () => loadKubeconfig({}, {}, path.join(dir, 'empty-home')),
      /no kubeconfig: pass --kubeconfig, set \$KUBECONFIG, or create/,
    );
    assert.throws(
      () => loadKubeconfig({ kubeconfig: file('a.yaml'), context: 'prod' }, {}, home),
      /context "prod" \(--context\) is not in .*a\.yaml; known contexts: a, shared/,
    );
    assert.throws(
      () => loadKubeconfig({ kubeconfig: file('no-current.yaml') }, {}, home),
      /sets no current-context; pass --context \(known contexts: x\)/,
    );
  });

  it('refuses a server or a proxy that is not on loopback, before any connection', () => {
    assert.throws(
      () => loadKubeconfig({ kubeconfig: file('remote.yaml') }, {}, home),
      (err: unknown) =>
        err instanceof NonLoopbackServerError &&
        err.message.includes('context "remote": server https://10.1.2.3:6443 is not a loopback address'),
    );
    assert.throws(
      () => loadKubeconfig({ kubeconfig: file('remote.yaml'), context: 'named' }, {}, home),
      NonLoopbackServerError,
    );
    assert.throws(
      () => loadKubeconfig({ kubeconfig: file('remote.yaml'), context: 'proxied' }, {}, home),
      /proxy-url http:\/\/192\.168\.1\.1:3128 is not a loopback address/,
    );
    const local = loadKubeconfig({ kubeconfig: file('remote.yaml'), context: 'local' }, {}, home);
    assert.equal(local.server, 'https://localhost:6443');
    // A KubeConfig that did not come through loadKubeconfig is checked as well.
    const remote = loadKubeconfig({ kubeconfig: file('remote.yaml'), context: 'local' }, {}, home).kubeConfig;
    remote.setCurrentContext('remote');
    assert.throws(() => new KubeApi(remote), NonLoopbackServerError);
  });

  it('knows loopback hosts', () => {
    for (const h of ['127.0.0.1', '127.255.3.4', 'localhost', 'LOCALHOST', '[::1]', '::1', '[::ffff:127.0.0.1]']) {
      assert.equal(isLoopbackHost(h), true, h);
    }
    for (const h of ['10.0.0.1', '128.0.0.1', '0.0.0.0', '[::]', '[::2]', 'example.com', 'localhost.example.com', '']) {
      assert.equal(isLoopbackHost(h), false, h);
    }
  });
});
