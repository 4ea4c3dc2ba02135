// Lambda Managed Instances (concurrent invocations, SHUTDOWN-only extensions, reduced reports) and
// SnapStart (restore records instead of init records).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { ManualExtension } from '../support/simulator/manual-extension.js';
import {
  createOptDir,
  readJsonLines,
  recorderLauncher,
  sleeperLauncher,
} from '../support/simulator/opt-dir.js';
import { readFreezeState } from '../../tools/simulator/resources.js';
import { LambdaSimulator } from '../../tools/simulator/simulator.js';
import type { TelemetryEnvelope } from '../../tools/simulator/types.js';

const SCENARIO = 'test/fixtures/functions/scenario.mjs';
const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

const requestIdOf = (r: TelemetryEnvelope) => (r.record as { requestId?: string }).requestId;

test('Managed Instances: SHUTDOWN only, schema 2025-01-29, concurrent invocations interleave', async () => {
  const opt = createOptDir({ manual: sleeperLauncher() });
  const sim = new LambdaSimulator({
    optDir: opt.dir,
    unthrottled: true,
    handler: SCENARIO,
    mode: 'managed-instances',
    maxConcurrency: 3,
    shutdownBudgetMs: 200,
  });
  cleanups.push(
    () => opt.remove(),
    () => sim.close(),
  );
  await sim.listen();
  const started = sim.start();
  await sim.waitFor('process-start', (e) => e.name === 'manual');
  const ext = new ManualExtension(sim.runtimeApiAddress, 'manual');
  cleanups.push(() => ext.close());
  await ext.listen();

  assert.equal((await ext.register(['INVOKE', 'SHUTDOWN'])).status, 403);
  assert.equal((await ext.register(['SHUTDOWN'])).status, 200);
  assert.equal((await ext.subscribe(ext.subscription({ schemaVersion: '2022-12-13' }))).status, 400);
  assert.equal((await ext.subscribe(ext.subscription())).status, 200);
  const shutdown = ext.next();
  const init = await started;
  assert.equal(init.initializationType, 'lambda-managed-instances');
  assert.equal(
    (sim.records('platform.initStart')[0]!.record as { initializationType: string }).initializationType,
    'lambda-managed-instances',
  );

  // Three at once: the shortest finishes first; nothing waits for the others.
  const [slow, fast, medium] = await Promise.all([
    sim.invoke({ sleepMs: 300 }),
    sim.invoke({ sleepMs: 50 }),
    sim.invoke({ sleepMs: 150 }),
  ]);
  const lastStart = Math.max(slow.timestamps.startMs, fast.timestamps.startMs, medium.timestamps.startMs);
  assert.ok(lastStart < fast.timestamps.reportMs, 'all three were in flight together');
  for (const r of [slow, fast, medium]) assert.equal(r.status, 'success');
  assert.ok(
    fast.timestamps.reportMs < medium.timestamps.reportMs,
    'fast.timestamps.reportMs < medium.timestamps.reportMs',
  );
  assert.ok(
    medium.timestamps.reportMs < slow.timestamps.reportMs,
    'medium.timestamps.reportMs < slow.timestamps.reportMs',
  );

  const platformOrder = sim
    .records()
    .filter((r) => r.type === 'platform.start' || r.type === 'platform.report')
    .map(
      (r) => `${r.type.slice(9)}:${[slow, fast, medium].findIndex((x) => x.requestId === requestIdOf(r))}`,
    );
  assert.deepEqual(platformOrder, ['start:0', 'start:1', 'start:2', 'report:1', 'report:2', 'report:0']);
  assert.equal(sim.records('platform.runtimeDone').length, 0);

  const report = sim.records('platform.report')[0]!.record as Record<string, unknown>;
  assert.deepEqual(Object.keys(report.metrics as object), ['durationMs']);
  assert.deepEqual(
    (report.spans as Array<{ name: string }>).map((s) => s.name),
    ['responseLatency', 'responseDuration'],
  );
  // Never frozen.
  assert.equal(sim.isFrozen, false);
  assert.equal(readFreezeState(sim.pids().function!), 'running');

  const down = sim.shutdown();
  assert.equal(((await shutdown).body as { eventType: string }).eventType, 'SHUTDOWN');
  await down;
  assert.ok(
    ext.records.filter((r) => r.type === 'platform.report').length >= 2,
    "ext.records.filter((r) => r.type === 'platform.report').length >= 2",
  );
});

test('SnapStart: restore records instead of init records, restoreDurationMs on the first report', async () => {
  const opt = createOptDir({ recorder: recorderLauncher() });
  const out = opt.file('recorder.jsonl');
  const sim = new LambdaSimulator({
    optDir: opt.dir,
    unthrottled: true,
    handler: SCENARIO,
    mode: 'snap-start',
    env: { RECORDER_CONFIG: JSON.stringify({ '*': { out } }) },
  });
  cleanups.push(
    () => opt.remove(),
    () => sim.close(),
  );
  const init = await sim.start();
  assert.equal(init.status, 'success');
  assert.equal(init.initializationType, 'snap-start');
  const first = await sim.invoke({});
  const second = await sim.invoke({});
  await sim.shutdown();

  const types = sim.records().map((r) => r.type);
  assert.equal(types.filter((t) => t.startsWith('platform.init')).length, 0);
  const restore = types.filter((t) => t.startsWith('platform.restore'));
  assert.deepEqual(restore, [
    'platform.restoreStart',
    'platform.restoreRuntimeDone',
    'platform.restoreReport',
  ]);
  assert.ok(
    types.indexOf('platform.restoreReport') < types.indexOf('platform.start'),
    "types.indexOf('platform.restoreReport') < types.indexOf('platform.start')",
  );
  const reports = sim
    .records('platform.report')
    .map((r) => (r.record as { metrics: Record<string, number> }).metrics);
  assert.ok(reports[0]!.restoreDurationMs! >= 0, 'reports[0]!.restoreDurationMs! >= 0');
  assert.equal(reports[0]!.initDurationMs, undefined);
  assert.equal(reports[1]!.restoreDurationMs, undefined);
  assert.equal(first.coldStart && !second.coldStart, true);

  const lines = readJsonLines<{ kind: string; env?: Record<string, string>; records?: TelemetryEnvelope[] }>(
    out,
  );
  assert.equal(lines.find((l) => l.kind === 'register')?.env?.AWS_LAMBDA_INITIALIZATION_TYPE, 'snap-start');
  const received = lines.flatMap((l) => l.records ?? []).map((r) => r.type);
  assert.ok(received.includes('platform.restoreStart'), "received.includes('platform.restoreStart')");
});
