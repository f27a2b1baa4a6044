/**
 * Userspace datapath and policy engine:
 *   (a) policy verdict lookups/s on an engine with 10k identities, 200 endpoints and 50 policies
 *   (b) proxied TCP throughput through the ServiceProxy vs a direct loopback TCP copy to the same echo pod
 *   (c) time to absorb 10k remote identities incrementally vs a full recompute of the same state
 * Run: npm run bench:datapath   (MB=64 VERDICTS=2000000 to change the sizes)
 */
import net from 'node:net';

process.env.CMESH_LOG_LEVEL ??= 'warn';
const { PolicyEngine } = await import('../src/agent/policy/index.js');
const { PodServer, ServiceProxy, requireHostAddress } = await import('../src/agent/datapath/index.js');
const { ClusterDirectory } = await import('../src/agent/tables/cluster-directory.js');
const { Ipcache } = await import('../src/agent/tables/ipcache.js');
type CNP = import('../src/k8s/types.js').CiliumNetworkPolicy;
type MergedService = import('../src/agent/tables/service-merger.js').MergedService;

const MB = Number(process.env.MB ?? 64);
const VERDICTS = Number(process.env.VERDICTS ?? 2_000_000);
const REMOTE_IDENTITIES = 10_000;
const ENDPOINTS = 200;
const POLICIES = 50;
const APPS = 20;

function labels(cluster: string, app: string): string[] {
  return [`k8s:app=${app}`, 'k8s:io.kubernetes.pod.namespace=default', `k8s:io.cilium.k8s.policy.cluster=${cluster}`];
}

function policy(i: number): CNP {
  const peerCluster = i % 2 === 0 ? { 'io.cilium.k8s.policy.cluster': 'c2' } : {};
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumNetworkPolicy',
    metadata: { name: `p${i}`, namespace: 'default' },
    spec: {
      endpointSelector: { matchLabels: { app: `app${i % APPS}` } },
      ingress: [
        {
          fromEndpoints: [{ matchLabels: { app: `app${(i + 1) % APPS}`, ...peerCluster } }],
          toPorts: [{ ports: [{ port: String(8000 + i), protocol: 'TCP' }] }],
        },
        { fromEntities: ['cluster'], toPorts: [{ ports: [{ port: '9000', endPort: 9100, protocol: 'TCP' }] }] },
      ],
      ingressDeny: [
        { fromEndpoints: [{ matchLabels: { app: `app${(i + 2) % APPS}` } }], toPorts: [{ ports: [{ port: '22' }] }] },
      ],
      egress: [{ toEndpoints: [{ matchLabels: { app: `app${(i + 3) % APPS}` } }] }, { toCIDR: ['203.0.113.0/24'] }],
    },
  };
}

function buildEngine(withRemote: boolean): InstanceType<typeof PolicyEngine> {
  const e = new PolicyEngine({ clusterName: 'c1' });
  for (let i = 0; i < 500; i++) e.upsertIdentity(65536 + i, labels('c1', `app${i % APPS}`));
  for (let i = 0; i < ENDPOINTS; i++) {
    e.upsertEndpoint({
      id: `default/pod-${i}`,
      namespace: 'default',
      identity: 65536 + (i % 500),
      labels: labels('c1', `app${i % APPS}`),
    });
  }
  for (let i = 0; i < POLICIES; i++) e.upsertPolicy(policy(i));
  if (withRemote)
    for (let i = 0; i < REMOTE_IDENTITIES; i++) e.upsertIdentity(131072 + i, labels('c2', `app${i % APPS}`));
  return e;
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

// ---- (c) recompute when 10k remote identities arrive ----
const inc = buildEngine(false);
const s0 = inc.stats();
let t0 = performance.now();
for (let i = 0; i < REMOTE_IDENTITIES; i++) inc.upsertIdentity(131072 + i, labels('c2', `app${i % APPS}`));
const incMs = performance.now() - t0;
const s1 = inc.stats();
t0 = performance.now();
inc.recomputeAll();
const fullMs = performance.now() - t0;

// ---- (a) verdict lookups ----
const eng = inc;
const ports = [8000, 8001, 9050, 22, 443];
let allowed = 0;
t0 = performance.now();
for (let i = 0; i < VERDICTS; i++) {
  const v = eng.verdict({
    direction: i & 1 ? 'ingress' : 'egress',
    endpoint: `default/pod-${i % ENDPOINTS}`,
    peerIdentity: i & 2 ? 131072 + (i % REMOTE_IDENTITIES) : 65536 + (i % 500),
    port: ports[i % ports.length]!,
    protocol: 'TCP',
  });
  if (v.allowed) allowed++;
}
const verdictSecs = (performance.now() - t0) / 1000;

// ---- (b) throughput ----
const NET = 100 + (process.pid % 100);
// Pod IPs in 10/8, as local clusters get them; sockets use their loopback addresses (host-address.ts).
const POD_IP = `10.10.${NET}.2`;
const CLIENT_IP = `10.10.${NET}.1`;
const FE = `127.96.${NET}.20`;
const echo = new PodServer({ ip: POD_IP, port: 0, cluster: 'c1', pod: 'default/echo', mode: 'echo' });
await echo.start();
const ipcache = new Ipcache(new ClusterDirectory('c1', 1, 255));
const pair = (ip: string, id: number, pod: string) => ({
  IP: ip,
  HostIP: '',
  ID: id,
  Key: 0,
  Metadata: '',
  K8sNamespace: 'default',
  K8sPodName: pod,
});
ipcache.upsertLocal('default/echo', [pair(POD_IP, 65537, 'echo')]);
ipcache.upsertLocal('default/client', [pair(CLIENT_IP, 65536, 'client')]);
const pe = new PolicyEngine({ clusterName: 'c1' });
pe.upsertIdentity(65536, labels('c1', 'client'));
pe.upsertIdentity(65537, labels('c1', 'echo'));
pe.upsertEndpoint({ id: 'default/echo', namespace: 'default', identity: 65537, labels: labels('c1', 'echo') });
pe.upsertEndpoint({ id: 'default/client', namespace: 'default', identity: 65536, labels: labels('c1', 'client') });
pe.upsertPolicy({
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumNetworkPolicy',
  metadata: { name: 'echo', namespace: 'default' },
  spec: {
    endpointSelector: { matchLabels: { app: 'echo' } },
    ingress: [{ fromEndpoints: [{ matchLabels: { app: 'client' } }] }],
  },
});
const proxy = new ServiceProxy({ clusterName: 'c1', ipcache, policy: pe });
const svc: MergedService = {
  namespace: 'default',
  name: 'echo',
  global: false,
  affinity: 'none',
  remoteClusters: [],
  frontends: [
    {
      frontend: `${FE}:7000/TCP`,
      address: FE,
      port: 7000,
      protocol: 'TCP',
      portName: '',
      type: 'ClusterIP',
      backends: [
        {
          address: POD_IP,
          port: echo.port,
          protocol: 'TCP',
          cluster: 'c1',
          clusterID: 1,
          state: 'active',
          selected: true,
        },
      ],
    },
  ],
};
proxy.onServiceChange('default/echo', svc);
await proxy.ready();

async function copy(host: string, port: number): Promise<number> {
  const total = MB * 1024 * 1024;
  const chunk = Buffer.alloc(64 * 1024, 7);
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port, localAddress: requireHostAddress(CLIENT_IP, 'client pod IP') });
    let received = 0;
    const start = performance.now();
    sock.on('error', reject);
    sock.on('data', (d: Buffer) => {
      received += d.length;
      if (received >= total) {
        const secs = (performance.now() - start) / 1000;
        sock.destroy();
        resolve(total / secs / 1024 / 1024);
      }
    });
    sock.on('connect', () => {
      let sent = 0;
      const pump = (): void => {
        while (sent < total) {
          sent += chunk.length;
          if (!sock.write(chunk)) {
            sock.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
  });
}

const direct: number[] = [];
const proxied: number[] = [];
for (let r = 0; r < 3; r++) {
  direct.push(await copy(echo.socketAddress, echo.port));
  proxied.push(await copy(FE, 7000));
}
const best = (a: number[]): number => Math.max(...a);
await proxy.close();
await echo.close();

console.log('datapath bench');
console.log(
  `(a) policy verdicts: ${fmt(VERDICTS / verdictSecs)} lookups/s (${fmt(VERDICTS)} lookups, ${fmt((allowed / VERDICTS) * 100, 1)}% allowed; ${ENDPOINTS} endpoints, ${POLICIES} policies, ${fmt(s1.identities)} identities)`,
);
console.log(
  `(b) TCP copy of ${MB} MiB (echoed), best of 3: direct ${fmt(best(direct), 1)} MiB/s, proxied ${fmt(best(proxied), 1)} MiB/s, ratio ${fmt(best(proxied) / best(direct), 2)} (forwarded ${proxy.counters().forwarded})`,
);
console.log(
  `(c) ${fmt(REMOTE_IDENTITIES)} remote identities: incremental ${fmt(incMs, 1)} ms (${fmt(s1.selectorEvaluations - s0.selectorEvaluations)} selector tests, ${s1.endpointRebuilds - s0.endpointRebuilds} endpoint rebuilds, ${fmt(s1.incrementalUpdates - s0.incrementalUpdates)} map updates), i.e. ${fmt((incMs / REMOTE_IDENTITIES) * 1000, 1)} µs per arriving identity vs ${fmt(fullMs, 1)} ms for one full recompute of the same state`,
);
