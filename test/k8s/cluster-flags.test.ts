import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { missingFlagsMessage, resolveClusterFlags } from '../../src/k8s/cluster-flags.js';
import { ClusterRecordError } from '../../src/k8s/local-cluster-record.js';
import { writeTestClusterRecord } from '../harness/cluster-record.js';

describe('daemon cluster flags', () => {
  const dirs: string[] = [];
  after(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });
  const clusterDir = async (): Promise<string> => {
    const d = await mkdtemp(path.join(tmpdir(), 'cmesh-test-flags-'));
    dirs.push(d);
    return d;
  };

  it('takes each unset flag from --cluster-dir, and a flag given wins over the record', async () => {
    const dir = await clusterDir();
    await writeTestClusterRecord(dir, { name: 'east', id: 7, maxConnectedClusters: 511 });
    const fromRecord = await resolveClusterFlags({ clusterDir: dir });
    assert.equal(fromRecord.name, 'east');
    assert.equal(fromRecord.id, 7);
    assert.equal(fromRecord.maxConnectedClusters, 511);
    assert.equal(fromRecord.record?.podCidr, '10.1.0.0/16');
    const overridden = await resolveClusterFlags({ clusterDir: dir, clusterName: 'west', clusterId: 9 });
    assert.deepEqual([overridden.name, overridden.id, overridden.maxConnectedClusters], ['west', 9, 511]);
  });

  it('without --cluster-dir, only the flags count', async () => {
    const r = await resolveClusterFlags({ clusterName: 'solo' });
    assert.deepEqual(r, { name: 'solo', id: undefined, maxConnectedClusters: undefined, record: undefined });
  });

  it('a --cluster-dir without a usable record is an error naming the file', async () => {
    const dir = await clusterDir();
    const file = path.join(dir, 'cluster.json');
    const expect = (what: RegExp) => (err: unknown) => {
      assert.ok(err instanceof ClusterRecordError, `a ClusterRecordError, got ${String(err)}`);
      assert.ok(err.message.includes(file), `names ${file}: ${err.message}`);
      assert.match(err.message, what);
      return true;
    };
    await assert.rejects(resolveClusterFlags({ clusterDir: dir }), expect(/cannot read/));
    await writeFile(file, '{"name": "east",');
    await assert.rejects(resolveClusterFlags({ clusterDir: dir }), expect(/not valid JSON/));
    await writeFile(file, '{"name": "east"}');
    await assert.rejects(resolveClusterFlags({ clusterDir: dir }), expect(/not a valid cluster record/));
  });

  it('names every missing flag, in order, and nothing when all are set', () => {
    assert.equal(
      missingFlagsMessage(
        [
          ['--a', undefined],
          ['--b', 0],
          ['--c', undefined],
        ],
        'pass --cluster-dir',
      ),
      'missing --a, --c (or pass --cluster-dir)',
    );
    assert.equal(
      missingFlagsMessage(
        [
          ['--a', ''],
          ['--b', false],
        ],
        'x',
      ),
      undefined,
    );
  });
});
