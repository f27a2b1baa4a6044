/**
 * Issue 25, hole 4: no request, however malformed, ends a daemon. Every HTTP server of the project (the health
 * endpoints of apiserver/kvstoremesh/operator/agent, the agent's API socket) gets 10,000 random and malformed requests
 * over raw sockets; every answer must be a 4xx or 5xx with a body, and the server must still answer a valid request.
 *
 * What counts as an answer: the first non-1xx status line and its body. A response to HEAD carries no body (HTTP
 * forbids one), so HEAD answers are only required to be 4xx. Every generated input holds at least one byte that is
 * not CR/LF, i.e. starts a request: a connection closed with no answer is a failure (Node answers nothing to bytes
 * that never start a request, e.g. a lone CRLF, and the generator does not send those).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { Agent } from '../../src/agent/agent.js';
import { AgentApiServer } from '../../src/agent/api/api-server.js';
import { LocalClusterSource } from '../../src/k8s/local-source.js';
import { freePort } from '../../src/mesh/etcd-process.js';
import { HealthServer } from '../../src/observe/health-server.js';
import { createSafeHttpServer, HttpRequestError } from '../../src/observe/http-safe-server.js';
import { spawnDaemon } from '../harness/daemon.js';
import { TestEtcd } from '../harness/etcd.js';
import { eventually } from '../harness/eventually.js';

const FUZZ_COUNT = 10_000;
const CONCURRENCY = 32;
const REQUEST_TIMEOUT_MS = 5_000;
const FUZZ_BUDGET_MS = 120_000;

type Target = { port: number } | { socketPath: string };

interface Answer {
  status?: number;
  body: string;
  closedWithoutAnswer: boolean;
}

/** Sends `bytes`, half-closes, and reads the first final (non-1xx) response. */
function rawRequest(target: Target, bytes: Buffer): Promise<Answer> {
  return new Promise((resolve) => {
    const sock = 'port' in target ? net.connect(target.port, '127.0.0.1') : net.connect(target.socketPath);
    let buf = Buffer.alloc(0);
    let settled = false;
    const finish = (a: Answer): void => {
      if (settled) return;
      settled = true;
      sock.destroy();
      resolve(a);
    };
    const parse = (eof: boolean): void => {
      let rest = buf;
      for (;;) {
        const end = rest.indexOf('\r\n\r\n');
        if (end < 0) break;
        const head = rest.subarray(0, end).toString('latin1');
        const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]);
        const body = rest.subarray(end + 4);
        if (status >= 100 && status < 200) {
          rest = body;
          continue;
        }
        const len = /\r\ncontent-length: *(\d+)/i.exec(head)?.[1];
        if (len !== undefined && body.length >= Number(len)) {
          finish({ status, body: body.subarray(0, Number(len)).toString(), closedWithoutAnswer: false });
        } else if (eof) {
          finish({ status, body: body.toString(), closedWithoutAnswer: false });
        }
        return;
      }
      if (eof) finish({ body: '', closedWithoutAnswer: true });
    };
    sock.setTimeout(REQUEST_TIMEOUT_MS, () => {
      finish({ body: '', closedWithoutAnswer: true });
    });
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      parse(false);
    });
    sock.on('close', () => {
      parse(true);
    });
    sock.on('error', () => undefined);
    sock.on('connect', () => {
      sock.end(bytes);
    });
  });
}

/** A small seeded PRNG (mulberry32): a failing input can be reproduced from the seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Malformed or refused requests. Each one is wrong in a way that must end in a 4xx/5xx, whatever the parser's
 * leniency: a request the parser might accept is sent to an unknown path or with a method the server does not serve.
 */
function fuzzInputs(count: number, knownPaths: readonly string[], seed: number): { kind: string; bytes: Buffer }[] {
  const r = prng(seed);
  const int = (n: number): number => Math.floor(r() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const randBytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)));
  const hex = (): string => '0123456789ABCDEFGZ%'[int(19)]!;
  const known = (): string => pick(knownPaths);
  const unknown = (): string => `/fuzz-${int(1e6)}/${encodeURIComponent(String.fromCharCode(0x20 + int(0x3000)))}`;
  const line = (m: string, target: string, extra = ''): string => `${m} ${target} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;
  const unservedMethods = [
    'POST',
    'PUT',
    'DELETE',
    'PATCH',
    'OPTIONS',
    'TRACE',
    'HEAD',
    'PROPFIND',
    'MKCOL',
    'LOCK',
    'PURGE',
    'FOO',
    'BREW',
    'QUERY',
  ];
  const kinds: Record<string, () => string | Buffer> = {
    'bad percent-encoding': () =>
      line(
        'GET',
        pick(['/%E0%A4%A', '/%', '/%Z', '/%C3%28', '/v1/policy/endpoints/%E0%A4%A/x']) +
          `/%${hex()}${hex()}`.repeat(int(3)),
      ),
    'bad percent-encoding (fixed)': () => line('GET', '/%E0%A4%A'),
    'absolute-form / bracket URL': () =>
      line(
        pick(['GET', 'GET', 'POST']),
        pick([
          'http://[::1',
          'http://[::1]/healthz',
          'http://[::1]:80/v1/status',
          'http://agent/v1/status',
          'http://x' + known(),
          'https://[' + 'f'.repeat(int(40)),
          '//evil' + known(),
          '*',
          'localhost:80',
          '[::1]',
        ]),
      ),
    'huge header': () => line('GET', known(), `X-Big: ${'a'.repeat(17_000 + int(60_000))}\r\n`),
    'many headers': () =>
      line('GET', known(), Array.from({ length: 2_000 + int(2_000) }, (_, i) => `X-H${i}: v\r\n`).join('')),
    'invalid method': () =>
      `${pick(['G@T', 'GET\0', 'G ET', 'get?', '{}', '\x7fGET', 'GÉT', '(', 'GET/'])} ${known()} HTTP/1.1\r\n\r\n`,
    'binary garbage': () => {
      const b = randBytes(1 + int(512));
      b[0] = 0x80 + int(0x7f); // never a blank line only, never a method
      return b;
    },
    'truncated request': () => {
      const full = line(pick(['GET', 'POST']), pick([known(), unknown()]), 'X-A: b\r\n');
      let cut = full.slice(0, 1 + int(full.length - 3));
      if (/^[\r\n]*$/.test(cut)) cut = 'G';
      return cut;
    },
    'unknown method on a known path': () => line(pick(unservedMethods), known()),
    CONNECT: () => line('CONNECT', pick(['127.0.0.1:22', '[::1]:443', 'example.com:443', known()])),
    'header injection': () =>
      line(
        pick(['GET', 'POST']),
        pick([unknown(), known()]) + pick(['', '%0d%0aSet-Cookie:%20x=y', '\rX: y']),
        pick([
          'X-A: a\rInjected: b\r\n',
          'X-A: a\nInjected: b\r\n',
          'X-A: a\0b\r\n',
          'NoColon\r\n',
          'Bad Name: v\r\n',
          ' folded: v\r\n',
          'Content-Length: 5\r\nContent-Length: 6\r\n',
          'Content-Length: -1\r\n',
          'Transfer-Encoding: chunked\r\nContent-Length: 3\r\n',
          'Transfer-Encoding: chunked, gzip\r\n',
          'Expect: wishes\r\n',
          'Connection: Upgrade\r\nUpgrade: websocket\r\n',
        ]),
      ).replace(/^GET (\/(?!fuzz))/, 'POST $1'), // a known path: never GET, whichever header the parser forgives
    'bad version': () =>
      `GET ${unknown()} ${pick(['HTTP/9.9', 'HTTP/1', 'HTTP/1.1x', 'HTTPS/1.1', 'http/1.1', 'HTTP/1.1 extra'])}\r\n\r\n`,
    'bad chunked body': () =>
      `POST ${known()} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${pick(['zz', 'fffffffffffffffffff', '-1', '3\r\nabcdef'])}\r\n`,
    'unknown path': () => line('GET', unknown()),
    'random mutation': () => {
      const base = Buffer.from(line(pick(unservedMethods.filter((m) => m !== 'HEAD')), known()));
      for (let i = 0; i < 1 + int(4); i++) base[int(base.length)] = int(256);
      if (/^[\r\n]*$/.test(base.toString('latin1'))) base[0] = 0x80;
      return base;
    },
  };
  const names = Object.keys(kinds);
  return Array.from({ length: count }, (_, i) => {
    const kind = names[i % names.length]!;
    const v = kinds[kind]!();
    return { kind, bytes: typeof v === 'string' ? Buffer.from(v, 'latin1') : v };
  });
}

interface FuzzResult {
  sent: number;
  refused: number;
  failures: string[];
}

async function fuzz(target: Target, knownPaths: readonly string[], seed: number): Promise<FuzzResult> {
  const inputs = fuzzInputs(FUZZ_COUNT, knownPaths, seed);
  const failures: string[] = [];
  let refused = 0;
  let next = 0;
  const deadline = Date.now() + FUZZ_BUDGET_MS;
  const worker = async (): Promise<void> => {
    while (next < inputs.length && Date.now() < deadline) {
      const input = inputs[next++]!;
      const a = await rawRequest(target, input.bytes);
      const isHead = input.bytes.subarray(0, 5).toString('latin1') === 'HEAD ';
      const ok = a.status !== undefined && a.status >= 400 && a.status <= 599 && (a.body.length > 0 || isHead);
      if (ok) refused++;
      else if (failures.length < 20) {
        const shown = JSON.stringify(input.bytes.subarray(0, 120).toString('latin1'));
        failures.push(
          `${input.kind}: ${shown} -> ${a.closedWithoutAnswer ? 'closed without an answer' : `${a.status} "${a.body.slice(0, 80)}"`}`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { sent: next, refused, failures };
}

async function validAnswer(target: Target, p: string): Promise<Answer> {
  return rawRequest(target, Buffer.from(`GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`));
}

describe('HTTP servers answer malformed requests with 4xx/5xx and stay up (issue 25, hole 4)', () => {
  it('the request-safety layer: a handler error is a 500 with a body; HttpRequestError keeps its status', async () => {
    const server = createSafeHttpServer(
      async (req) => {
        await Promise.resolve();
        if (req.pathname === '/sync') throw new Error('boom');
        if (req.pathname === '/teapot') throw new HttpRequestError(418, 'short and stout');
        throw new TypeError('async boom');
      },
      { name: 'test' },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      for (const [p, status, body] of [
        ['/sync', 500, /boom/],
        ['/async', 500, /async boom/],
        ['/teapot', 418, /short and stout/],
      ] as const) {
        const a = await validAnswer({ port }, p);
        assert.equal(a.status, status, `GET ${p}: ${a.body}`);
        assert.match(a.body, body, `GET ${p} has a body saying what failed`);
      }
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it(`the health server: ${FUZZ_COUNT} malformed requests, every answer 4xx/5xx, still serving`, async () => {
    let detailThrows = false;
    const health = new HealthServer({
      healthy: () => true,
      ready: () => true,
      detail: () => {
        if (detailThrows) throw new Error('detail failed');
        return { synced: true };
      },
    });
    const port = await health.listen(0);
    try {
      const target = { port };
      const post = await rawRequest(
        target,
        Buffer.from('POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n'),
      );
      assert.equal(post.status, 405, `POST /healthz is refused: ${post.body}`);
      assert.ok(post.body.length > 0, 'the 405 has a body');
      detailThrows = true;
      const broken = await validAnswer(target, '/readyz');
      assert.equal(broken.status, 500, `a throwing check is a 500: ${broken.body}`);
      assert.match(broken.body, /detail failed/, 'the 500 says what failed');
      detailThrows = false;

      const res = await fuzz(target, ['/healthz', '/readyz', '/metrics'], 25_4);
      console.log(`http-fuzz: health server: ${res.sent} requests, ${res.refused} answered 4xx/5xx`);
      assert.equal(res.sent, FUZZ_COUNT, 'every request was sent within the time budget');
      assert.deepEqual(res.failures, [], 'every answer is a 4xx/5xx with a body');
      assert.equal(res.refused, FUZZ_COUNT, 'every request refused');
      for (const p of ['/healthz', '/readyz', '/metrics']) {
        const ok = await validAnswer(target, p);
        assert.equal(ok.status, 200, `GET ${p} still answers after the fuzz: ${ok.body}`);
      }
    } finally {
      await health.close();
    }
  });

  describe('the agent API socket (a real agent on a real state etcd)', () => {
    let etcd: TestEtcd;
    let reader: Etcd3;
    let source: LocalClusterSource;
    let agent: Agent;
    let api: AgentApiServer;
    let dir: string;

    before(async () => {
      etcd = await TestEtcd.start();
      reader = await etcd.client();
      source = new LocalClusterSource(reader);
      agent = new Agent({ clusterName: 'c1', clusterId: 1, nodeName: 'fuzz-node', source, sampleServers: false });
      dir = await mkdtemp(path.join(tmpdir(), 'cmesh-test-fuzz-'));
      api = new AgentApiServer(agent, path.join(dir, 'agent.sock'));
      agent.start();
      await api.listen();
      await agent.synced();
    });

    after(async () => {
      await api.close();
      await agent.stop();
      await source.close();
      await etcd.stop();
      await rm(dir, { recursive: true, force: true });
    });

    it(`${FUZZ_COUNT} malformed requests, every answer 4xx/5xx, still serving`, async () => {
      const target = { socketPath: api.socketPath };
      for (const bad of ['GET /%E0%A4%A HTTP/1.1\r\n\r\n', 'GET http://[::1 HTTP/1.1\r\n\r\n']) {
        const a = await rawRequest(target, Buffer.from(bad));
        assert.equal(a.status, 400, `${JSON.stringify(bad)} is a 400: ${a.body}`);
        assert.match(a.body, /"error"/, 'the 400 has a JSON body');
      }
      const known = ['/v1/healthz', '/v1/status', '/v1/services', '/v1/policy/trace', '/v1/policy/endpoints/a/b'];
      const res = await fuzz(target, known, 25_40);
      console.log(`http-fuzz: agent API: ${res.sent} requests, ${res.refused} answered 4xx/5xx`);
      assert.equal(res.sent, FUZZ_COUNT, 'every request was sent within the time budget');
      assert.deepEqual(res.failures, [], 'every answer is a 4xx/5xx with a body');
      assert.equal(res.refused, FUZZ_COUNT, 'every request refused');
      const ok = await validAnswer(target, '/v1/healthz');
      assert.equal(ok.status, 200, `GET /v1/healthz still answers after the fuzz: ${ok.body}`);
    });
  });

  it('an agent daemon survives the two requests that used to end it', async () => {
    const etcdD = await TestEtcd.start();
    const d = await mkdtemp(path.join(tmpdir(), 'cmesh-test-fuzz-daemon-'));
    const socketPath = path.join(d, 'agent.sock');
    const healthPort = await freePort();
    const daemon = spawnDaemon('./src/cli/agent-command.ts', 'agentCommand', [
      'agent',
      '--cluster-name',
      'c1',
      '--cluster-id',
      '1',
      '--node',
      'fuzz-node',
      '--state-etcd',
      etcdD.endpoint,
      '--api-socket',
      socketPath,
      '--health-port',
      String(healthPort),
    ]);
    try {
      const target = { socketPath };
      await eventually(
        async () => (await validAnswer(target, '/v1/healthz')).status,
        (s) => s === 200,
        'agent API up',
      );
      for (const t of [target, { port: healthPort }]) {
        for (const bad of ['GET /%E0%A4%A HTTP/1.1\r\n\r\n', 'GET http://[::1 HTTP/1.1\r\n\r\n']) {
          const a = await rawRequest(t, Buffer.from(bad));
          assert.equal(a.status, 400, `${JSON.stringify(bad)}: 400, got ${a.status} ${a.body}`);
        }
      }
      const post = await rawRequest({ port: healthPort }, Buffer.from('POST /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
      assert.equal(post.status, 405, 'POST /healthz is a 405');
      assert.equal((await validAnswer(target, '/v1/healthz')).status, 200, 'the agent still answers');
      assert.equal((await validAnswer({ port: healthPort }, '/healthz')).status, 200, 'its health port too');
      const exited = await Promise.race([daemon.exited.then(() => true), Promise.resolve(false)]);
      assert.ok(!exited, `the agent is alive:\n${daemon.stderr()}`);
      daemon.signal('SIGTERM');
      assert.equal(await daemon.exited, 0, `clean exit on SIGTERM:\n${daemon.stderr()}`);
    } finally {
      await daemon.kill();
      await etcdD.stop();
      await rm(d, { recursive: true, force: true });
    }
  });
});
