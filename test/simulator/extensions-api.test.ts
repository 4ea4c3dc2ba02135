// Extensions API contract: registration rules, INVOKE/SHUTDOWN event shapes, init/error, and the
// SIGKILL at the end of the SHUTDOWN budget. The test drives the API itself under the name of a
// sleeping placeholder process.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { ManualExtension } from '../support/simulator/manual-extension.js';
import { createOptDir, sleeperLauncher } from '../support/simulator/opt-dir.js';
import { LambdaSimulator } from '../../tools/simulator/simulator.js';

const ECHO = 'test/fixtures/functions/echo.mjs';
const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function setup(options: Partial<ConstructorParameters<typeof LambdaSimulator>[0]> = {}) {
  const opt = createOptDir({ manual: sleeperLauncher() });
  const sim = new LambdaSimulator({
    optDir: opt.dir,
    handler: ECHO,
    shutdownBudgetMs: 300,
    unthrottled: true,
    ...options,
  });
  cleanups.push(
    () => opt.remove(),
    () => sim.close(),
  );
  return sim;
}

test('register: name must be a launched executable, events are validated, accountId on request', async () => {
  const sim = setup({ functionName: 'orders', accountId: '210987654321' });
  await sim.listen();
  const started = sim.start();
  await sim.waitFor('process-start', (e) => e.name === 'manual');
  const ext = new ManualExtension(sim.runtimeApiAddress, 'manual');

  const wrongName = await ext.register(['INVOKE'], { name: 'not-in-opt' });
  assert.equal(wrongName.status, 403);
  assert.equal((wrongName.body as { errorType: string }).errorType, 'Extension.UnknownExtension');

  const badEvents = await ext.register(['INVOKE', 'RESTART']);
  assert.equal(badEvents.status, 400);

  const ok = await ext.register(['INVOKE', 'SHUTDOWN'], { acceptFeature: 'accountId' });
  assert.equal(ok.status, 200);
  assert.match(ext.identifier, /^[0-9a-f-]{36}$/);
  assert.deepEqual(ok.body, {
    functionName: 'orders',
    functionVersion: '$LATEST',
    handler: 'echo.handler',
    accountId: '210987654321',
  });

  const twice = await ext.register(['INVOKE']);
  assert.equal(twice.status, 403);

  const first = ext.next();
  const init = await started;
  assert.equal(init.status, 'success');
  assert.equal(init.extensions[0]?.name, 'manual');
  assert.ok(
    (init.extensions[0]?.startToFirstNextMs ?? -1) >= 0,
    '(init.extensions[0]?.startToFirstNextMs ?? -1) >= 0',
  );

  const late = await new ManualExtension(sim.runtimeApiAddress, 'manual').register(['SHUTDOWN']);
  assert.equal(late.status, 403);
  assert.equal((late.body as { errorType: string }).errorType, 'Extension.RegisterAfterInit');

  // INVOKE: the shape, and the invocation is not over until the extension is back on next.
  const invocation = sim.invoke(
    { n: 1 },
    { tracing: 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1' },
  );
  const invoke = await first;
  assert.equal(invoke.status, 200);
  const event = invoke.body as Record<string, unknown>;
  assert.deepEqual(Object.keys(event).sort(), [
    'deadlineMs',
    'eventType',
    'invokedFunctionArn',
    'requestId',
    'tracing',
  ]);
  assert.equal(event.eventType, 'INVOKE');
  assert.equal(event.invokedFunctionArn, 'arn:aws:lambda:us-east-1:210987654321:function:orders');
  assert.deepEqual(event.tracing, {
    type: 'X-Amzn-Trace-Id',
    value: 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1',
  });
  await sim.waitFor('runtime-response', (r) => r.requestId === event.requestId);
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(sim.records('platform.report').length, 0, 'no report while the extension is busy');
  const nextAtMs = performance.timeOrigin + performance.now();
  const second = ext.next();
  const result = await invocation;
  assert.equal(result.requestId, event.requestId);
  assert.equal(result.status, 'success');
  assert.ok(
    Math.abs((event.deadlineMs as number) - (result.timestamps.startMs + 3000)) <= 1,
    'Math.abs((event.deadlineMs as number) - (result.timestamps.startMs + 3000)) <= 1',
  );
  assert.ok(result.timestamps.reportMs >= nextAtMs, 'result.timestamps.reportMs >= nextAtMs');
  assert.ok(
    (result.postRuntimeExtensionsDurationMs ?? 0) >= 115,
    `post-runtime ${result.postRuntimeExtensionsDurationMs} ms`,
  );

  // SHUTDOWN: the shape, then SIGKILL at the deadline for a process that never exits.
  const shutdown = sim.shutdown('spindown');
  const shutdownEvent = (await second).body as Record<string, unknown>;
  assert.equal(shutdownEvent.eventType, 'SHUTDOWN');
  assert.equal(shutdownEvent.shutdownReason, 'spindown');
  const down = await shutdown;
  assert.ok(
    Math.abs((shutdownEvent.deadlineMs as number) - down.deadlineMs) <= 1,
    'Math.abs((shutdownEvent.deadlineMs as number) - down.deadlineMs) <= 1',
  );
  assert.ok(down.deadlineMs - down.startedAtMs === 300, 'down.deadlineMs - down.startedAtMs === 300');
  const manual = down.extensions[0]!;
  assert.equal(manual.receivedShutdown, true);
  assert.equal(manual.exitedBeforeDeadline, false);
  assert.equal(manual.signal, 'SIGKILL');
  assert.ok(manual.exitAtMs! >= down.deadlineMs, 'manual.exitAtMs! >= down.deadlineMs');
  assert.ok(
    sim.timeline.of('kill').some((k) => k.name === 'manual' && k.signal === 'SIGKILL'),
    "sim.timeline.of('kill').some((k) => k.name === 'manual' && k.signal === 'SIGKILL')",
  );
});

test('init/error is answered 202, recorded with its Category.Reason, and fails init', async () => {
  const sim = setup();
  await sim.listen();
  const started = sim.start();
  await sim.waitFor('process-start', (e) => e.name === 'manual');
  const ext = new ManualExtension(sim.runtimeApiAddress, 'manual');
  assert.equal((await ext.register(['SHUTDOWN'])).status, 200);
  const answer = await ext.reportError('init', 'Extension.ConfigInvalid');
  assert.equal(answer.status, 202);

  const init = await started;
  assert.equal(init.status, 'error');
  assert.equal(init.errorType, 'Extension.ConfigInvalid');
  const recorded = sim.timeline.of('extension-error');
  assert.equal(recorded.length, 1);
  assert.equal(recorded[0]?.errorType, 'Extension.ConfigInvalid');
  assert.equal(recorded[0]?.which, 'init');
  const report = sim.records('platform.initReport')[0]?.record as Record<string, unknown>;
  assert.equal(report.status, 'error');
  assert.equal(report.errorType, 'Extension.ConfigInvalid');
  // The environment is gone: the placeholder process was killed.
  assert.deepEqual(sim.pids().extensions, {});
  assert.ok(
    sim.timeline.of('process-exit').some((e) => e.name === 'manual'),
    "sim.timeline.of('process-exit').some((e) => e.name === 'manual')",
  );
});
