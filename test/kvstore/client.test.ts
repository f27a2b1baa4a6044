import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TestEtcd } from '../harness/etcd.js';
import { checkEtcdConnection, createEtcdClient, loadEtcdConfigFile } from '../../src/kvstore/client.js';
import { EtcdConfigError } from '../../src/kvstore/errors.js';

describe('etcd client and config file', () => {
  let etcd: TestEtcd;
  let dir: string;
  before(async () => {
    etcd = await TestEtcd.start({ tls: true });
    dir = await mkdtemp(path.join(tmpdir(), 'cmesh-kvcfg-'));
  });
  after(async () => {
    await etcd.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('loads a Cilium etcd config with paths relative to the file and connects over mutual TLS', async () => {
    const tls = etcd.tls!;
    const sub = path.join(dir, 'cfg');
    await import('node:fs/promises').then((fs) => fs.mkdir(sub));
    await import('node:fs/promises').then((fs) => fs.copyFile(tls.caFile, path.join(sub, 'ca.crt')));
    const file = path.join(sub, 'etcd-config.yml');
    await writeFile(
      file,
      [
        `endpoints:`,
        `- ${etcd.endpoint}`,
        `trusted-ca-file: ca.crt`,
        `cert-file: ${tls.clientCertFile}`,
        `key-file: ${tls.clientKeyFile}`,
        `dial-timeout: 5s`,
      ].join('\n'),
    );
    const opts = await loadEtcdConfigFile(file);
    assert.deepEqual(opts.endpoints, [etcd.endpoint]);
    assert.equal(opts.dialTimeoutMs, 5_000);
    const client = createEtcdClient(opts);
    try {
      await checkEtcdConnection(client, 5_000);
      await client.put('tls-key').value('ok');
      assert.equal(await client.get('tls-key').string(), 'ok');
    } finally {
      client.close();
    }
  });

  it('reports the file, the field and the fix for bad configs', async () => {
    const cases: [string, RegExp][] = [
      ['trusted-ca-file: x\n', /field 'endpoints'.*non-empty list/],
      ['endpoints: [ftp://x]\n', /field 'endpoints'.*http\(s\):\/\/host:port/],
      [
        `endpoints: [${etcd.endpoint}]\ntrusted-ca-file: missing.crt\n`,
        /field 'trusted-ca-file'.*cannot read .*missing\.crt/,
      ],
      [`endpoints: [${etcd.endpoint}]\ncert-file: ${etcd.tls!.clientCertFile}\n`, /field 'key-file'.*together/],
      [`endpoints: [${etcd.endpoint}]\nusername: u\n`, /field 'password'/],
      ['endpoints: [\n', /not valid YAML/],
    ];
    for (const [i, [text, re]] of cases.entries()) {
      const file = path.join(dir, `bad-${i}.yml`);
      await writeFile(file, text);
      await assert.rejects(loadEtcdConfigFile(file), (err: unknown) => {
        assert.ok(err instanceof EtcdConfigError);
        assert.ok(err.message.startsWith(file), err.message);
        assert.match(err.message, re);
        return true;
      });
    }
    await assert.rejects(loadEtcdConfigFile(path.join(dir, 'nope.yml')), /cannot read the etcd config file/);
  });
});
