// A network namespace per environment: two environments bind the same fixed port without clashing,
// the Runtime API is at 127.0.0.1:9001 inside, Telemetry pushes reach listeners on the
// environment's own loopback (sandbox.localdomain), and a listed host port is reachable from inside.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { createOptDir, readJsonLines, recorderLauncher } from '../support/simulator/opt-dir.js';
import { LambdaSimulator } from '../../tools/simulator/simulator.js';

const SCENARIO = 'test/fixtures/functions/scenario.mjs';
const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function canMakeNamespaces(): true | string {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
    return true;
  } catch {
    return 'no ip netns here';
  }
}
const skip = canMakeNamespaces() === true ? false : String(canMakeNamespaces());

test('two environments, the same fixed listener port, each on its own loopback', { skip }, async () => {
  const backend = createServer((_req, res) => res.end('from the host'));
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => backend.close(() => resolve())));
  const hostPort = (backend.address() as AddressInfo).port;

  const opt = createOptDir({ recorder: recorderLauncher() });
  cleanups.push(() => opt.remove());
  const sims = [0, 1].map((i) => {
    const sim = new LambdaSimulator({
      optDir: opt.dir,
      handler: SCENARIO,
      unthrottled: true,
      memorySizeMB: 256,
      network: { private: true, hostPorts: [hostPort] },
      env: {
        // Both listen on sandbox.localdomain:4243: it would clash on one shared loopback.
        RECORDER_CONFIG: JSON.stringify({
          '*': { out: opt.file(`env${i}.jsonl`), listenPort: 4243, listenHost: 'sandbox.localdomain' },
        }),
      },
    });
    cleanups.push(() => sim.close());
    return sim;
  });
  const inits = await Promise.all(sims.map((s) => s.start()));
  for (const init of inits) {
    assert.equal(init.status, 'success', init.errorType);
    assert.equal(init.network.mode, 'private');
    assert.equal(init.network.runtimeApi, '127.0.0.1:9001');
  }
  assert.notEqual(inits[0]?.network.namespace, inits[1]?.network.namespace);

  for (const [i, sim] of sims.entries()) {
    const res = await sim.invoke({ env: true, fetch: `http://127.0.0.1:${hostPort}/` });
    assert.equal(res.status, 'success');
    const response = res.response as { env: Record<string, string>; fetched: string };
    assert.equal(response.env.AWS_LAMBDA_RUNTIME_API, '127.0.0.1:9001');
    assert.equal(response.fetched, 'from the host', 'a listed host port is reachable from inside');
    await sim.shutdown();
    // The Telemetry API's pushes reached the listener inside this environment.
    const seen = readJsonLines<{ kind: string; type?: string }>(opt.file(`env${i}.jsonl`));
    assert.ok(
      seen.some((r) => JSON.stringify(r).includes('platform.runtimeDone')),
      `environment ${i} received runtimeDone: ${seen.map((r) => r.kind).join(',')}`,
    );
  }
  // The namespaces go with their environments.
  const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  for (const init of inits)
    assert.ok(!left.includes(init.network.namespace!), `${init.network.namespace} removed`);
});
