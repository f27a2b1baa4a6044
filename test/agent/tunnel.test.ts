import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { PodServer } from '../../src/agent/datapath/pod-server.js';
import {
  encodeTunnelHeader,
  parseTunnelHeader,
  parseTunnelReply,
  readLine,
  TunnelListener,
  TunnelProtocolError,
} from '../../src/agent/datapath/tunnel.js';
import { PolicyEngine } from '../../src/agent/policy/index.js';

const NET = 100 + (process.pid % 100);
/** The tunnel listens on a loopback address; the header carries pod IPs (10/8, served on 127/8). */
const TUNNEL_IP = `127.40.${NET}.1`;
const ECHO_IP = `10.40.${NET}.20`;
const CLIENT_IP = `10.41.${NET}.10`;
/** An endpoint whose IP has no socket on this machine. */
const FAR_IP = `192.168.${NET}.20`;
const PORT = 18000 + (process.pid % 1000);
const ECHO_PORT = 7070;
const ID = { echo: 65538, client: 131073, other: 131074 };

function labels(cluster: string, app: string): string[] {
  return [`k8s:app=${app}`, 'k8s:io.kubernetes.pod.namespace=test', `k8s:io.cilium.k8s.policy.cluster=${cluster}`];
}

/** Sends a header (and extra bytes in the same write), returns the reply and what followed it. */
function exchange(header: string, extra = ''): Promise<{ reply: string; rest: string }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: TUNNEL_IP, port: PORT, allowHalfOpen: true });
    let data = '';
    sock.on('connect', () => sock.end(header + extra));
    sock.on('data', (c: Buffer) => (data += c.toString()));
    sock.on('error', reject);
    sock.on('close', () => {
      const nl = data.indexOf('\n');
      resolve({ reply: data.slice(0, nl), rest: data.slice(nl + 1) });
    });
  });
}

describe('tunnel protocol and listener', () => {
  const engine = new PolicyEngine({ clusterName: 'c1' });
  const tunnel = new TunnelListener({ address: TUNNEL_IP, port: PORT, policy: engine });
  const echo = new PodServer({ ip: ECHO_IP, port: ECHO_PORT, cluster: 'c1', pod: 'test/echo', mode: 'echo' });

  before(async () => {
    engine.upsertIdentity(ID.echo, labels('c1', 'echo'));
    engine.upsertIdentity(ID.client, labels('c2', 'client'));
    engine.upsertIdentity(ID.other, labels('c2', 'other'));
    engine.upsertEndpoint({
      id: 'test/echo',
      namespace: 'test',
      identity: ID.echo,
      labels: labels('c1', 'echo'),
      ips: [ECHO_IP],
    });
    engine.upsertEndpoint({
      id: 'test/far',
      namespace: 'test',
      identity: ID.echo,
      labels: labels('c1', 'echo'),
      ips: [FAR_IP],
    });
    engine.upsertPolicy({
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNetworkPolicy',
      metadata: { name: 'p', namespace: 'test' },
      spec: {
        endpointSelector: { matchLabels: { app: 'echo' } },
        ingress: [{ fromEndpoints: [{ matchLabels: { app: 'client', 'io.cilium.k8s.policy.cluster': 'c2' } }] }],
      },
    });
    await echo.start();
    await tunnel.listen();
  });

  after(async () => {
    await tunnel.close();
    await echo.close();
  });

  it('validates headers', () => {
    const h = encodeTunnelHeader({ srcIdentity: 1, srcIp: '127.0.0.1', dstIp: '127.0.0.2', dstPort: 80, proto: 'TCP' });
    assert.deepEqual(parseTunnelHeader(h.trim()), {
      v: 1,
      srcIdentity: 1,
      srcIp: '127.0.0.1',
      dstIp: '127.0.0.2',
      dstPort: 80,
      proto: 'TCP',
    });
    for (const bad of ['nope', '[]', '{"v":2}', h.replace('"dstPort":80', '"dstPort":0'), h.replace('"TCP"', '"UDP"')])
      assert.throws(() => parseTunnelHeader(bad.trim()), TunnelProtocolError, bad);
    assert.throws(() => parseTunnelReply('{"ok":1}'), TunnelProtocolError);
  });

  it('forwards an allowed identity to the endpoint, with the bytes that followed the header intact', async () => {
    const header = encodeTunnelHeader({
      srcIdentity: ID.client,
      srcIp: CLIENT_IP,
      dstIp: ECHO_IP,
      dstPort: ECHO_PORT,
      proto: 'TCP',
    });
    const { reply, rest } = await exchange(header, 'hello\nworld');
    assert.equal(parseTunnelReply(reply).verdict, 'forwarded');
    assert.equal(rest, 'hello\nworld');
  });

  it('refuses a denied identity, an address that is no endpoint, and a bad header; counting each', async () => {
    const before = tunnel.counters();
    const denied = await exchange(
      encodeTunnelHeader({ srcIdentity: ID.other, srcIp: CLIENT_IP, dstIp: ECHO_IP, dstPort: ECHO_PORT, proto: 'TCP' }),
      'x',
    );
    const r = parseTunnelReply(denied.reply);
    assert.equal(r.verdict, 'policy-denied');
    assert.equal(r.ingress?.reason.kind, 'default-deny');
    assert.equal(denied.rest, '', 'nothing reached the endpoint');
    const relay = await exchange(
      encodeTunnelHeader({ srcIdentity: ID.client, srcIp: CLIENT_IP, dstIp: '127.0.0.1', dstPort: 22, proto: 'TCP' }),
    );
    assert.equal(parseTunnelReply(relay.reply).verdict, 'no-endpoint');
    const far = await exchange(
      encodeTunnelHeader({ srcIdentity: ID.client, srcIp: CLIENT_IP, dstIp: FAR_IP, dstPort: ECHO_PORT, proto: 'TCP' }),
    );
    assert.equal(parseTunnelReply(far.reply).verdict, 'no-endpoint', 'an endpoint without a loopback address');
    assert.equal(parseTunnelReply((await exchange('{"v":1}\n')).reply).verdict, 'bad-header');
    const after = tunnel.counters();
    assert.equal(after['policy-denied'] - before['policy-denied'], 1);
    assert.equal(after['no-endpoint'] - before['no-endpoint'], 2);
    assert.equal(after['bad-header'] - before['bad-header'], 1);
  });

  it('readLine refuses an endless line', async () => {
    const server = net.createServer((s) => {
      s.end('x'.repeat(5000));
    });
    await new Promise<void>((resolve) => server.listen(0, TUNNEL_IP, resolve));
    const addr = server.address() as net.AddressInfo;
    const sock = net.connect({ host: TUNNEL_IP, port: addr.port });
    await assert.rejects(readLine(sock, 1024), /no line end within 1024 bytes/);
    sock.destroy();
    await new Promise<void>((resolve) =>
      server.close(() => {
        resolve();
      }),
    );
  });
});
