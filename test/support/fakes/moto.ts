// A moto server (AWS API emulator from PyPI) on loopback, with IAM enforcement on: it checks every
// request's SigV4 signature and the caller's permissions. test/support/python/aws_sigv4.py moto-setup creates
// the users, secrets and parameters the tests read.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { pythonPath } from '../python/python-env.js';

export interface MotoSetup {
  accessKeyId: string;
  secretAccessKey: string;
  deniedAccessKeyId: string;
  deniedSecretAccessKey: string;
  plainArn: string;
  jsonArn: string;
  missingArn: string;
  parameter: string;
}

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Waits until moto itself answers on `url`: its dashboard route, from a child still running. Another
 * process (a test running beside this one) may have taken the port between the probe and moto's
 * bind, in which case moto exits and whatever answers is not moto: undefined, try another port.
 */
async function waitForMoto(url: string, child: ChildProcess, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  let exited = child.exitCode !== null;
  child.once('exit', () => {
    exited = true;
  });
  for (;;) {
    if (exited) return false;
    try {
      const res = await fetch(`${url}/moto-api/`);
      const body = await res.text();
      if (res.ok && /moto/i.test(body) && !exited) return true;
    } catch {
      // not listening yet
    }
    if (Date.now() > end) throw new Error(`moto did not answer on ${url} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export interface Moto {
  url: string;
  setup: MotoSetup;
  stop: () => void;
}

export async function startMoto(): Promise<Moto> {
  const python = pythonPath();
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const moto: ChildProcess = spawn(python, ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
      // The setup's requests are let through unauthenticated; every later one is checked by IAM.
      env: { ...process.env, INITIAL_NO_AUTH_ACTION_COUNT: '8' },
      stdio: 'ignore',
    });
    const url = `http://127.0.0.1:${port}`;
    try {
      if (!(await waitForMoto(url, moto, 60_000))) {
        if (attempt < 3) continue;
        throw new Error(`moto could not listen on a free port (${attempt} tries)`);
      }
      const out = execFileSync(
        python,
        [join(import.meta.dirname, '../python/aws_sigv4.py'), 'moto-setup', url],
        {
          encoding: 'utf8',
        },
      );
      return { url, setup: JSON.parse(out) as MotoSetup, stop: () => moto.kill() };
    } catch (error) {
      moto.kill();
      throw error;
    }
  }
}
