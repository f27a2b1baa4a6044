import { after, before } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { ObjectStore } from '../../src/k8s/object-store.js';
import { createEtcdClient } from '../../src/kvstore/client.js';
import type { Pod, Service } from '../../src/k8s/types.js';
import type { OperatorCluster } from '../../src/k8s/cluster-layout.js';
import { Operator, type OperatorOptions } from '../../src/operator/operator.js';
import { TestEtcd } from '../harness/etcd.js';

export const EVENTUALLY_TIMEOUT_MS = 15_000;

export const CLUSTER: OperatorCluster = {
  name: 'east',
  id: 7,
  maxConnectedClusters: 255,
  podCidr: '10.7.0.0/16',
  serviceCidr: '10.96.0.0/16',
  nodes: 3,
};

/** Polls `check` until it returns without throwing; rethrows its last failure after the timeout. */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = EVENTUALLY_TIMEOUT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

export function pod(
  namespace: string,
  name: string,
  labels: Record<string, string>,
  extra: { spec?: Pod['spec']; status?: Pod['status'] } = {},
): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels },
    spec: { containers: [{ name: 'main', image: 'nginx' }], ...extra.spec },
    ...(extra.status ? { status: extra.status } : {}),
  };
}

export function service(namespace: string, name: string, spec: Service['spec']): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec };
}

/** An operator over a fresh registry prefix of a shared etcd, so that tests do not see each other's objects. */
export class Fixture {
  readonly store: ObjectStore;
  private readonly operators: Operator[] = [];

  constructor(
    readonly client: Etcd3,
    readonly prefix: string,
    readonly cluster: OperatorCluster = CLUSTER,
  ) {
    this.store = new ObjectStore(client, { prefix });
  }

  async startOperator(opts: Partial<OperatorOptions> = {}): Promise<Operator> {
    const op = new Operator({ client: this.client, cluster: this.cluster, prefix: this.prefix, ...opts });
    this.operators.push(op);
    await op.start();
    await op.synced();
    return op;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.operators.map((o) => o.stop()));
    this.client.close();
  }
}

let n = 0;
export function freshPrefix(): string {
  n++;
  return `/t${process.pid}-${n}/registry/`;
}

/**
 * One etcd for a whole suite (started in before(), stopped in after() with every fixture's operators); returns the
 * factory of fixtures, each with its own client and key prefix so that tests do not see each other's objects.
 */
export function useSuiteEtcd(): { fixture: (cluster?: OperatorCluster) => Fixture; etcd: () => TestEtcd } {
  let etcd: TestEtcd;
  const fixtures: Fixture[] = [];
  before(async () => {
    etcd = await TestEtcd.start();
  });
  after(async () => {
    await Promise.all(fixtures.map((f) => f.stopAll()));
    await etcd.stop();
  });
  return {
    fixture: (cluster = CLUSTER) => {
      const f = new Fixture(createEtcdClient({ endpoints: [etcd.endpoint] }), freshPrefix(), cluster);
      fixtures.push(f);
      return f;
    },
    etcd: () => etcd,
  };
}
