import http from 'node:http';

const POLL_MS = 100;

export class WaitTimeoutError extends Error {
  override name = 'WaitTimeoutError';
}

function getStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => {
      resolve(0);
    });
    req.on('timeout', () => {
      req.destroy();
      resolve(0);
    });
  });
}

/** Polls a loopback HTTP endpoint until it answers 200; the error names what we waited for and where its log is. */
export async function waitForHttpOk(url: string, timeoutMs: number, what: string, log?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await getStatus(url)) === 200) return;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  throw new WaitTimeoutError(`${what} did not become ready within ${timeoutMs / 1000}s${log ? `; see ${log}` : ''}`);
}

function getSocketStatus(socketPath: string, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => {
      resolve(0);
    });
    req.on('timeout', () => {
      req.destroy();
      resolve(0);
    });
  });
}

/** Polls an HTTP endpoint on a unix socket (an agent's API) until it answers 200. */
export async function waitForSocketOk(
  socketPath: string,
  path: string,
  timeoutMs: number,
  what: string,
  log?: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await getSocketStatus(socketPath, path)) === 200) return;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  throw new WaitTimeoutError(`${what} did not become ready within ${timeoutMs / 1000}s${log ? `; see ${log}` : ''}`);
}
