// sandbox.localdomain resolves to the environment for its processes, from a private /etc/hosts:
// no DNS query leaves the machine, and the machine's own /etc/hosts is untouched.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { LambdaSimulator } from '../../tools/simulator/simulator.js';

const SCENARIO = 'test/fixtures/functions/scenario.mjs';
const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

test('sandbox.localdomain resolves inside the environment, from its own /etc/hosts', async (t) => {
  const systemHosts = readFileSync('/etc/hosts', 'utf8');
  const sim = new LambdaSimulator({ handler: SCENARIO, unthrottled: true });
  cleanups.push(() => sim.close());
  const init = await sim.start();
  if (init.sandboxHosts.mode !== 'private-mount') {
    t.skip(`no private mount namespace here: ${init.sandboxHosts.reason}`);
    return;
  }
  const res = await sim.invoke({ lookup: 'sandbox.localdomain' });
  assert.equal((res.response as { resolved: string }).resolved, '127.0.0.1');
  const local = await sim.invoke({ lookup: 'localhost' });
  assert.match((local.response as { resolved: string }).resolved, /^(127\.0\.0\.1|::1)$/);
  assert.equal(readFileSync('/etc/hosts', 'utf8'), systemHosts, "the machine's /etc/hosts is unchanged");
});
