// The lifecycle with real extension processes (the recorder fixture): init records, environment
// variables, the invocation's event order and its report after every extension's next, the trace
// header the function gets, real freezing, text and JSON log records, and a clean spin-down.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createOptDir, readJsonLines, recorderLauncher } from '../support/simulator/opt-dir.js';
import { readFreezeState } from '../../tools/simulator/resources.js';
import { LambdaSimulator } from '../../tools/simulator/simulator.js';
import type { TelemetryEnvelope } from '../../tools/simulator/types.js';

const SCENARIO = 'test/fixtures/functions/scenario.mjs';
const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

interface RecorderLine {
  at: number;
  name: string;
  kind: string;
  event?: Record<string, unknown>;
  records?: TelemetryEnvelope[];
  env?: Record<string, string>;
  status?: number;
  body?: unknown;
}

function recorders(names: string[], config: Record<string, unknown>) {
  const opt = createOptDir(Object.fromEntries(names.map((n) => [n, recorderLauncher()])));
  cleanups.push(() => opt.remove());
  const out = opt.file('{name}.jsonl');
  const read = (name: string) => readJsonLines<RecorderLine>(opt.file(`${name}.jsonl`));
  const received = (name: string) =>
    read(name).flatMap((l) => (l.kind === 'telemetry' ? (l.records ?? []) : []));
  return {
    opt,
    env: { RECORDER_CONFIG: JSON.stringify({ ...config, '*': { out, ...(config['*'] ?? {}) } }) },
    read,
    received,
  };
}

const record = (env: TelemetryEnvelope | undefined) => env?.record as Record<string, unknown>;

test('on-demand: init, invocations, report after the slowest extension, freezing, spin-down', async () => {
  const ext = recorders(['fast', 'slow'], { slow: { nextDelayMs: 300 } });
  const sim = new LambdaSimulator({
    optDir: ext.opt.dir,
    unthrottled: true,
    handler: SCENARIO,
    functionName: 'checkout',
    memorySizeMB: 256,
    env: { ...ext.env, CUSTOM_SETTING: 'shared' },
  });
  cleanups.push(() => sim.close());

  const init = await sim.start();
  assert.equal(init.status, 'success');
  assert.equal(init.phase, 'init');
  assert.deepEqual(
    init.extensions.map((e) => e.name),
    ['fast', 'slow'],
  );
  for (const e of init.extensions)
    assert.ok(
      e.startToFirstNextMs! > 0 && e.registeredAtMs! < e.firstNextAtMs!,
      'e.startToFirstNextMs! > 0 && e.registeredAtMs! < e.firstNextAtMs!',
    );

  const initTypes = sim.records().map((r) => r.type);
  assert.equal(initTypes[0], 'platform.initStart');
  assert.equal(initTypes.at(-1), 'platform.initReport');
  assert.ok(
    initTypes.indexOf('platform.initRuntimeDone') < initTypes.indexOf('platform.initReport'),
    "initTypes.indexOf('platform.initRuntimeDone') < initTypes.indexOf('platform.initReport')",
  );
  assert.equal(initTypes.filter((t) => t === 'platform.telemetrySubscription').length, 2);
  assert.equal(initTypes.filter((t) => t === 'platform.extension').length, 2);
  const initStart = record(sim.records('platform.initStart')[0]);
  assert.equal(initStart.initializationType, 'on-demand');
  assert.equal(initStart.phase, 'init');
  assert.equal(initStart.functionName, 'checkout');
  const initReport = record(sim.records('platform.initReport')[0]);
  assert.equal(initReport.status, 'success');
  assert.ok(
    Math.abs((initReport.metrics as { durationMs: number }).durationMs - init.durationMs) < 0.01,
    'Math.abs((initReport.metrics as { durationMs: number }).durationMs - init.durationMs) < 0.01',
  );

  // Frozen after init: every process of the environment is stopped.
  const pids = sim.pids();
  const all = [pids.function!, ...Object.values(pids.extensions)];
  assert.equal(all.length, 3);
  assert.ok(sim.isFrozen, 'sim.isFrozen');
  // By the freezer cgroup where the environment has one, else by SIGSTOP.
  const stopped = sim.resources?.freezer === 'cgroup' ? 'frozen' : 'stopped';
  for (const pid of all) assert.equal(readFreezeState(pid), stopped, `pid ${pid} stopped`);

  // Environment variables: extensions do not see the runtime-only ones; the caller's are shared.
  const extEnv = ext.read('fast').find((l) => l.kind === 'register')!.env!;
  assert.equal(extEnv.AWS_LAMBDA_FUNCTION_NAME, 'checkout');
  assert.equal(extEnv.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, '256');
  assert.equal(extEnv.AWS_LAMBDA_INITIALIZATION_TYPE, 'on-demand');
  assert.equal(extEnv.AWS_LAMBDA_RUNTIME_API, sim.runtimeApiAddress);
  assert.equal(extEnv.AWS_REGION, 'us-east-1');
  assert.equal(extEnv.CUSTOM_SETTING, 'shared');
  for (const name of ['AWS_LAMBDA_LOG_GROUP_NAME', '_HANDLER', 'LAMBDA_TASK_ROOT'])
    assert.equal(extEnv[name], undefined);

  const given = 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1';
  const first = await sim.invoke({ env: true, log: ['from the handler'] }, { tracing: given });
  assert.equal(first.status, 'success');
  assert.equal(first.coldStart, true);
  const fnEnv = (first.response as { env: Record<string, string> }).env;
  assert.equal(fnEnv.AWS_LAMBDA_LOG_GROUP_NAME, '/aws/lambda/checkout');
  assert.equal(fnEnv._HANDLER, 'scenario.handler');
  assert.equal(fnEnv.CUSTOM_SETTING, 'shared');

  // Trace: the function's parent is the platform invocation span.
  const start = record(sim.records('platform.start')[0]);
  const tracing = start.tracing as { spanId: string; type: string; value: string };
  assert.equal(tracing.value, given);
  assert.equal(tracing.type, 'X-Amzn-Trace-Id');
  assert.match(tracing.spanId, /^[0-9a-f]{16}$/);
  assert.equal(
    (first.response as { traceHeader: string }).traceHeader,
    `Root=1-5759e988-bd862e3fe1be46a994272793;Parent=${tracing.spanId};Sampled=1`,
  );

  // Order: start, the function's line, runtimeDone, report; the report waits for the slow extension.
  const ofFirst = sim
    .records()
    .filter(
      (r) =>
        (record(r)?.requestId === first.requestId && r.type.startsWith('platform.')) ||
        (r.type === 'function' && String(r.record).endsWith('from the handler')),
    )
    .map((r) => r.type);
  assert.deepEqual(ofFirst, ['platform.start', 'function', 'platform.runtimeDone', 'platform.report']);
  const slowNext = first.extensionNextMs.slow!;
  assert.ok(slowNext > first.extensionNextMs.fast!, 'slowNext > first.extensionNextMs.fast!');
  assert.ok(first.timestamps.reportMs >= slowNext, 'first.timestamps.reportMs >= slowNext');
  const postRuntime = first.postRuntimeExtensionsDurationMs!;
  assert.ok(
    Math.abs(postRuntime - (slowNext - first.timestamps.runtimeResponseMs!)) < 0.01,
    'Math.abs(postRuntime - (slowNext - first.timestamps.runtimeResponseMs!)) < 0.01',
  );
  assert.ok(postRuntime > 0, `post-runtime ${postRuntime} ms`);
  const runtimeDone = record(sim.records('platform.runtimeDone')[0]);
  assert.equal(runtimeDone.status, 'success');
  assert.deepEqual(
    (runtimeDone.spans as Array<{ name: string }>).map((s) => s.name),
    ['responseLatency', 'responseDuration'],
  );
  assert.ok(
    (runtimeDone.metrics as { producedBytes: number }).producedBytes > 0,
    '(runtimeDone.metrics as { producedBytes: number }).producedBytes > 0',
  );
  const report = record(sim.records('platform.report')[0]);
  const metrics = report.metrics as Record<string, number>;
  assert.equal(report.status, 'success');
  assert.equal(metrics.memorySizeMB, 256);
  assert.ok(metrics.maxMemoryUsedMB! > 10, 'metrics.maxMemoryUsedMB! > 10');
  assert.ok(
    Math.abs(metrics.initDurationMs! - init.durationMs) < 0.01,
    'Math.abs(metrics.initDurationMs! - init.durationMs) < 0.01',
  );
  assert.ok(
    metrics.durationMs! >= (runtimeDone.metrics as { durationMs: number }).durationMs + postRuntime - 0.01,
    'metrics.durationMs! >= (runtimeDone.metrics as { durationMs: number }).durationMs + postRuntime -...',
  );
  assert.equal(metrics.billedDurationMs, Math.ceil(metrics.durationMs!));
  const overhead = (report.spans as Array<{ name: string; durationMs: number }>)[0]!;
  assert.equal(overhead.name, 'extensionOverhead');
  assert.ok(
    Math.abs(overhead.durationMs - postRuntime) < 0.01,
    'Math.abs(overhead.durationMs - postRuntime) < 0.01',
  );
  assert.deepEqual(report.tracing, tracing);

  // Frozen between invocations, for real.
  await sim.idle(60);
  assert.ok(sim.timeline.of('idle').at(-1)!.frozen, "sim.timeline.of('idle').at(-1)!.frozen");
  for (const pid of all) assert.equal(readFreezeState(pid), stopped);

  const second = await sim.invoke({});
  assert.equal(second.coldStart, false);
  assert.equal(
    record(sim.records('platform.report')[1]).metrics &&
      'initDurationMs' in (record(sim.records('platform.report')[1]).metrics as object),
    false,
  );
  const thawedAt = sim.timeline.of('thaw').at(-1)!.atMs;
  assert.ok(thawedAt >= first.timestamps.reportMs + 60, 'thawedAt >= first.timestamps.reportMs + 60');

  // The first report reached the extensions only after the thaw (it was emitted just before the freeze).
  const delivered = sim.timeline
    .of('telemetry-delivery')
    .find(
      (d) =>
        d.subscriber === 'fast' &&
        d.records?.some((r) => record(r).requestId === first.requestId && r.type === 'platform.report'),
    );
  assert.ok(delivered && delivered.atMs >= thawedAt, 'delivered && delivered.atMs >= thawedAt');

  // What the extension received: INVOKE events and telemetry (function and extension lines included).
  const invokes = ext
    .read('fast')
    .filter((l) => l.kind === 'event')
    .map((l) => l.event!);
  assert.deepEqual(
    invokes.map((e) => e.requestId),
    [first.requestId, second.requestId],
  );
  const received = ext.received('fast');
  assert.ok(
    received.some((r) => r.type === 'extension' && r.record === `fast: INVOKE ${first.requestId}`),
    'the extension received its own log line',
  );
  assert.ok(
    received.some(
      (r) => r.type === 'function' && /^\S+Z\t[0-9a-f-]{36}\tINFO\tfrom the handler$/.test(String(r.record)),
    ),
    "received.some( (r) => r.type === 'function' && /^\\S+Z\\t[0-9a-f-]{36}\\tINFO\\tfrom the handler$/.te...",
  );

  const down = await sim.shutdown();
  assert.equal(down.reason, 'spindown');
  for (const e of down.extensions) {
    assert.equal(e.receivedShutdown, true);
    assert.equal(e.exitedBeforeDeadline, true);
    assert.equal(e.exitCode, 0);
  }
  const shutdownEvent = ext.read('slow').find((l) => l.event?.eventType === 'SHUTDOWN')!.event!;
  assert.equal(shutdownEvent.shutdownReason, 'spindown');
  assert.equal(shutdownEvent.deadlineMs, Math.round(down.deadlineMs));
  assert.ok(down.deadlineMs - down.startedAtMs === 2000, 'down.deadlineMs - down.startedAtMs === 2000');
  assert.ok(
    sim.extensionLogs.some((l) => l.name === 'slow' && l.line === 'slow: SHUTDOWN spindown'),
    "sim.extensionLogs.some((l) => l.name === 'slow' && l.line === 'slow: SHUTDOWN spindown')",
  );
});

test('JSON log format: objects with timestamp, level, requestId, message; strings for schema 2022-07-01', async () => {
  const ext = recorders(['modern', 'legacy'], { legacy: { schemaVersion: '2022-07-01' } });
  const sim = new LambdaSimulator({
    optDir: ext.opt.dir,
    unthrottled: true,
    handler: SCENARIO,
    logFormat: 'json',
    env: ext.env,
    freeze: false,
  });
  cleanups.push(() => sim.close());
  await sim.start();
  const result = await sim.invoke({ log: ['structured'], raw: ['plain line'], stderr: ['on stderr'] });
  for (const name of ['modern', 'legacy']) {
    await sim.waitFor(
      'telemetry-delivery',
      (d) =>
        d.subscriber === name &&
        d.status === 200 &&
        (d.records ?? []).some((r) => r.type === 'platform.report'),
    );
  }
  await sim.shutdown();

  const fn = sim.records('function').map((r) => r.record as Record<string, unknown>);
  const byMessage = (m: string) => fn.find((r) => r.message === m)!;
  for (const [message, level] of [
    ['structured', 'INFO'],
    ['plain line', 'INFO'],
    ['on stderr', 'ERROR'],
  ] as const) {
    const r = byMessage(message);
    assert.equal(r.level, level, message);
    assert.equal(r.requestId, result.requestId, message);
    assert.match(String(r.timestamp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  }
  const extensionRecord = sim
    .records('extension')
    .find((r) => (r.record as { message?: string }).message === `modern: INVOKE ${result.requestId}`);
  assert.ok(extensionRecord, 'extensionRecord');

  const modern = ext.received('modern').filter((r) => r.type === 'function');
  const legacy = ext.received('legacy').filter((r) => r.type === 'function');
  assert.ok(
    modern.length >= 3 && modern.every((r) => typeof r.record === 'object'),
    "modern.length >= 3 && modern.every((r) => typeof r.record === 'object')",
  );
  assert.equal(legacy.length, modern.length);
  assert.ok(
    legacy.every((r) => typeof r.record === 'string'),
    "legacy.every((r) => typeof r.record === 'string')",
  );
  assert.equal(
    JSON.parse(String(legacy[0]!.record)).message,
    (modern[0]!.record as { message: string }).message,
  );
});
