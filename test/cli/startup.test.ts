/**
 * CLI start-up (issue 17): building the command tree loads commander and light helpers only; a component's modules
 * (etcd client, gRPC, schemas, logger, metrics) load when its command runs. Runs the built CLI (`npm run build`).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';

const CMESH_ENTRY = path.resolve('dist/cli/main.js');
/** Packages that `--version` and `--help` must not load (each costs tens to hundreds of milliseconds). */
const HEAVY = ['etcd3', '@grpc/grpc-js', 'protobufjs', 'zod', 'pino', 'prom-client', '@peculiar/x509', 'ora', 'yaml'];

describe('cmesh start-up', () => {
  let dir = '';
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** The module URLs that `cmesh <args>` loads, recorded by a module loader hook. */
  async function loaded(args: string[]): Promise<string[]> {
    dir ||= await mkdtemp(path.join(tmpdir(), 'cmesh-startup-'));
    const trace = path.join(dir, `trace-${args.join('-')}.txt`);
    const hooks = path.join(dir, 'hooks.mjs');
    await writeFile(
      hooks,
      "import { appendFileSync } from 'node:fs';\n" +
        'export async function load(url, context, next) {\n' +
        '  appendFileSync(process.env.CMESH_TRACE, url + "\\n");\n' +
        '  return next(url, context);\n' +
        '}\n',
    );
    const register = path.join(dir, 'register.mjs');
    await writeFile(
      register,
      `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`,
    );
    execFileSync(process.execPath, ['--import', pathToFileURL(register).href, CMESH_ENTRY, ...args], {
      env: { ...process.env, CMESH_TRACE: trace, CMESH_HOME: path.join(dir, 'home') },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    return (await readFile(trace, 'utf8')).split('\n').filter((l) => l !== '');
  }

  for (const args of [['--version'], ['--help'], ['cluster', 'create', '--help']]) {
    it(`cmesh ${args.join(' ')} loads no component code`, async () => {
      const urls = await loaded(args);
      assert.ok(
        urls.some((u) => u.endsWith('/dist/cli/program.js')),
        `the trace records the modules loaded (${urls.length} urls)`,
      );
      const heavy = urls.filter((u) => HEAVY.some((p) => u.includes(`/node_modules/${p}/`)));
      const components = urls.filter((u) => /\/dist\/(agent|apiserver|kvstoremesh|operator)\/main\.js$/.test(u));
      assert.deepEqual([...heavy, ...components], [], 'modules that should load only when a command runs');
    });
  }
});
