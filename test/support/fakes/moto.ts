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

async function waitForHttp(url: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      await fetch(url);
      return;
    } catch (error) {
      if (Date.now() > end) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

export interface Moto {
  url: string;
  setup: MotoSetup;
  stop: () => void;
}

export async function startMoto(): Promise<Moto> {
  const python = pythonPath();
  const port = await freePort();
  const moto: ChildProcess = spawn(python, ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
    // The setup's requests are let through unauthenticated; every later one is checked by IAM.
    env: { ...process.env, INITIAL_NO_AUTH_ACTION_COUNT: '8' },
    stdio: 'ignore',
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/moto-api/`, 60_000);
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
