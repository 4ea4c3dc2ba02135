// Errors and resets: a handled function error, a timeout (SHUTDOWN reason timeout, then a re-init
// in phase invoke), out of memory, a crashing runtime, a failing init, and an extension that ignores
// SHUTDOWN and is killed at the deadline.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { createOptDir, readJsonLines, recorderLauncher } from '../support/simulator/opt-dir.js';
import { LambdaSimulator } from '../../tools/simulator/simulator.js';
import type { TelemetryEnvelope } from '../../tools/simulator/types.js';

const SCENARIO = 'test/fixtures/functions/scenario.mjs';
const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

interface RecorderLine {
  kind: string;
  event?: { eventType: string; shutdownReason?: string; requestId?: string };
}

const recordOf = (records: TelemetryEnvelope[], type: string, requestId: string) =>
  records.find((r) => r.type === type && (r.record as { requestId?: string }).requestId === requestId)
    ?.record as Record<string, unknown> | undefined;

test('function error, timeout with reset and re-init, out of memory, crash', async () => {
  const opt = createOptDir({ recorder: recorderLauncher() });
  const out = opt.file('recorder.jsonl');
  const trigger = opt.file('trigger');
  const sim = new LambdaSimulator({
    optDir: opt.dir,
    unthrottled: true,
    handler: SCENARIO,
    timeoutMs: 400,
    memorySizeMB: 512,
    shutdownBudgetMs: 500,
    env: { RECORDER_CONFIG: JSON.stringify({ '*': { out, trigger } }) },
  });
  cleanups.push(
    () => opt.remove(),
    () => sim.close(),
  );
  await sim.start();
  const shutdownReasons = () =>
    readJsonLines<RecorderLine>(out)
      .filter((l) => l.event?.eventType === 'SHUTDOWN')
      .map((l) => l.event!.shutdownReason);

  // A handled error: error status and type, no reset.
  const failed = await sim.invoke({ throw: { name: 'ValidationError', message: 'bad order' } });
  assert.equal(failed.status, 'error');
  assert.equal(failed.errorType, 'ValidationError');
  assert.equal((failed.response as { errorMessage: string }).errorMessage, 'bad order');
  assert.equal(failed.reset, undefined);
  for (const type of ['platform.runtimeDone', 'platform.report']) {
    const r = recordOf(sim.records(), type, failed.requestId)!;
    assert.equal(r.status, 'error', type);
    assert.equal(r.errorType, 'ValidationError', type);
  }
  const pidsBefore = sim.pids();

  // Timeout: status timeout, SHUTDOWN reason timeout, processes gone.
  const timedOut = await sim.invoke({ sleepMs: 5000 });
  assert.equal(timedOut.status, 'timeout');
  assert.ok(timedOut.durationMs >= 395 && timedOut.durationMs < 2500, `duration ${timedOut.durationMs}`);
  assert.equal(recordOf(sim.records(), 'platform.runtimeDone', timedOut.requestId)?.status, 'timeout');
  assert.equal(recordOf(sim.records(), 'platform.report', timedOut.requestId)?.status, 'timeout');
  assert.equal(timedOut.reset?.reason, 'timeout');
  assert.equal(timedOut.reset?.extensions[0]?.exitedBeforeDeadline, true);
  assert.deepEqual(shutdownReasons(), ['timeout']);
  assert.deepEqual(sim.pids().extensions, {});

  // The next invocation re-initialises, in phase invoke, with new processes.
  const recovered = await sim.invoke({});
  assert.equal(recovered.status, 'success');
  assert.equal(recovered.coldStart, true);
  assert.equal(recovered.init?.phase, 'invoke');
  const initStarts = sim.records('platform.initStart').map((r) => (r.record as { phase: string }).phase);
  assert.deepEqual(initStarts, ['init', 'invoke']);
  assert.notEqual(sim.pids().function, pidsBefore.function);
  assert.notEqual(sim.pids().extensions.recorder, pidsBefore.extensions.recorder);
  assert.ok(
    (recordOf(sim.records(), 'platform.report', recovered.requestId)?.metrics as object) &&
      'initDurationMs' in
        (recordOf(sim.records(), 'platform.report', recovered.requestId)!.metrics as object),
    "(recordOf(sim.records(), 'platform.report', recovered.requestId)?.metrics as object) && 'initDura...",
  );

  // Out of memory: error, Runtime.OutOfMemory, memory used = memory size, then a reset.
  const oom = await sim.invoke({ sleepMs: 100 }, { outOfMemory: true });
  assert.equal(oom.status, 'error');
  assert.equal(oom.errorType, 'Runtime.OutOfMemory');
  const oomReport = recordOf(sim.records(), 'platform.report', oom.requestId)!;
  assert.equal(oomReport.errorType, 'Runtime.OutOfMemory');
  assert.equal((oomReport.metrics as { maxMemoryUsedMB: number }).maxMemoryUsedMB, 512);
  assert.equal(
    recordOf(sim.records(), 'platform.runtimeDone', oom.requestId)?.errorType,
    'Runtime.OutOfMemory',
  );
  assert.equal(oom.reset?.reason, 'failure');

  // A runtime that exits mid-invocation: Runtime.ExitError and a reset.
  const crashed = await sim.invoke({ exit: 7 });
  assert.equal(crashed.status, 'error');
  assert.equal(crashed.errorType, 'Runtime.ExitError');
  assert.equal(crashed.coldStart, true, 're-initialised after the out-of-memory reset');
  assert.equal(crashed.reset?.reason, 'failure');
  assert.ok(
    sim.timeline.of('process-exit').some((e) => e.role === 'function' && e.code === 7),
    "sim.timeline.of('process-exit').some((e) => e.role === 'function' && e.code === 7)",
  );
  assert.deepEqual(shutdownReasons(), ['timeout', 'failure', 'failure']);

  // An extension that dies during the invocation, and one that reports /exit/error first.
  writeFileSync(trigger, 'crash');
  const extensionCrash = await sim.invoke({});
  assert.equal(extensionCrash.status, 'error');
  assert.equal(extensionCrash.errorType, 'Extension.Crash');
  assert.equal(
    recordOf(sim.records(), 'platform.report', extensionCrash.requestId)?.errorType,
    'Extension.Crash',
  );
  assert.equal(extensionCrash.reset?.reason, 'failure');
  writeFileSync(trigger, 'Extension.Unrecoverable');
  const exitError = await sim.invoke({});
  assert.equal(
    exitError.errorType,
    'Extension.Unrecoverable',
    JSON.stringify({ ...exitError, init: undefined }),
  );
  const reported = sim.timeline.of('extension-error').at(-1);
  assert.equal(reported?.which, 'exit');
  assert.equal(reported?.status, 202);
  rmSync(trigger);
  assert.equal((await sim.invoke({})).status, 'success');
});

test('a runtime that fails its init reports the error type, and init is retried on invoke', async () => {
  const sim = new LambdaSimulator({ handler: 'test/fixtures/functions/init-error.mjs', unthrottled: true });
  cleanups.push(() => sim.close());
  const init = await sim.start();
  assert.equal(init.status, 'error');
  assert.equal(init.errorType, 'TypeError');
  const report = sim.records('platform.initReport')[0]!.record as Record<string, unknown>;
  assert.equal(report.status, 'error');
  assert.equal(report.errorType, 'TypeError');
  assert.equal(sim.timeline.of('runtime-init-error')[0]?.errorType, 'TypeError');
  const result = await sim.invoke({});
  assert.equal(result.status, 'error');
  assert.equal(result.errorType, 'TypeError');
  assert.equal(result.init?.phase, 'invoke');
});

test('SHUTDOWN: an extension that never exits is SIGKILLed at the deadline; a polite one exits', async () => {
  const opt = createOptDir({ polite: recorderLauncher(), stubborn: recorderLauncher() });
  const sim = new LambdaSimulator({
    optDir: opt.dir,
    unthrottled: true,
    handler: SCENARIO,
    shutdownBudgetMs: 400,
    env: { RECORDER_CONFIG: JSON.stringify({ stubborn: { shutdown: 'hang' }, polite: { shutdown: 3 } }) },
  });
  cleanups.push(
    () => opt.remove(),
    () => sim.close(),
  );
  await sim.start();
  await sim.invoke({});
  const down = await sim.shutdown();
  const byName = Object.fromEntries(down.extensions.map((e) => [e.name, e]));
  assert.equal(byName.polite?.exitedBeforeDeadline, true);
  assert.equal(byName.polite?.exitCode, 3);
  assert.equal(byName.stubborn?.receivedShutdown, true);
  assert.equal(byName.stubborn?.exitedBeforeDeadline, false);
  assert.equal(byName.stubborn?.signal, 'SIGKILL');
  assert.ok(byName.stubborn!.exitAtMs! >= down.deadlineMs, 'byName.stubborn!.exitAtMs! >= down.deadlineMs');
  assert.ok(down.endedAtMs - down.startedAtMs >= 400, 'down.endedAtMs - down.startedAtMs >= 400');
  assert.ok(down.endedAtMs - down.startedAtMs < 2500, 'killed at the deadline, not long after');
  assert.deepEqual(sim.pids(), { function: undefined, extensions: {} });
});
