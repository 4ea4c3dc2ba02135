// The otel-lambda-sim command as users run it (the bundle in build/tools/, plain node): N
// invocations and a shutdown against the minimal layer, summarised.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { before, test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SIM = 'build/tools/otel-lambda-sim.mjs';

before(async () => {
  await run(process.execPath, ['tools/build.mjs']);
});

test('cli: runs the invocations and a shutdown, prints a JSON summary', async () => {
  const { stdout } = await run(process.execPath, [
    SIM,
    '--opt',
    'test/fixtures/extensions/opt-minimal',
    '--handler',
    'test/fixtures/functions/echo.mjs',
    '--invokes',
    '2',
    '--payload',
    '{"order":42}',
    '--log-format',
    'json',
    '--json',
  ]);
  const summary = JSON.parse(stdout);
  assert.equal(summary.init.status, 'success');
  assert.equal(summary.init.extensions[0].name, 'recorder');
  // The default is Lambda's model at 128 MB: 128 / 1769 of one CPU and a 128 MB limit.
  const resources = summary.init.resources;
  if (resources.mechanism !== 'signals') {
    assert.equal(resources.memoryLimitMB, 128);
    assert.ok(Math.abs(resources.cpuShare - 128 / 1769) < 1e-9, `cpu share ${resources.cpuShare}`);
  }
  assert.equal(summary.invocations.length, 2);
  for (const inv of summary.invocations) {
    assert.equal(inv.status, 'success');
    assert.deepEqual(inv.response.event, { order: 42 });
  }
  assert.equal(summary.shutdown.reason, 'spindown');
  assert.equal(summary.shutdown.extensions[0].exitedBeforeDeadline, true);
  assert.ok(
    summary.deliveries.some((d: { status: number }) => d.status === 200),
    'summary.deliveries.some((d: { status: number }) => d.status === 200)',
  );
});

test('cli: bad arguments are refused with a usage message', async () => {
  await assert.rejects(
    run(process.execPath, [SIM, '--handler', 'x.mjs', '--mode', 'hybrid']),
    (error: { code: number; stderr: string }) =>
      error.code === 2 && /unknown --mode hybrid/.test(error.stderr),
  );
});
