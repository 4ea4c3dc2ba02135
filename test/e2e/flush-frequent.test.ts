// The flush manager in the built extension when invocations are frequent (adaptive mode leaves the
// invocation's path: /event/next at once, flushes in the background) and on Managed Instances
// (no INVOKE at all: a timer flushes while the environment runs).

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { startOtlpSink } from '../../tools/otlp/sink.js';
import type { InvocationResult } from '../../tools/simulator/index.js';
import {
  EXTENSION_NAME,
  eventually,
  invocationSpanIndex,
  invocationSpans,
  logRecordsFor,
  loggedDecisions,
  loggedFlushes,
  metricCount,
  pause,
  percentile,
  shutdownLine,
} from '../support/flush-sink.js';
import { ensureLayer, extensionEnvironment } from '../support/e2e-harness.js';

before(() => {
  ensureLayer();
});

const RATE_PER_S = 40;
const RUN_MS = 3000;
/** Invocations the adaptive estimator may take to see the pace (it starts out cautious). */
const LEARNING = 10;

test('frequent invocations: the adaptive mode switches to background and adds ~0 ms after the response', async () => {
  const sink = await startOtlpSink();
  const { sim, extensionLines } = await extensionEnvironment({
    handler: 'scenario.mjs',
    endpoint: sink.url,
    logLevel: 'debug',
  });
  try {
    await sim.start();
    const results: InvocationResult[] = [];
    const startedMs = Date.now();
    let dueMs = startedMs;
    while (Date.now() - startedMs < RUN_MS) {
      results.push(await sim.invoke({ log: [`frequent ${results.length}`] }));
      dueMs += 1000 / RATE_PER_S;
      const wait = dueMs - Date.now();
      if (wait > 0) await sim.idle(wait);
    }
    const elapsedS = (Date.now() - startedMs) / 1000;
    assert.ok(
      results.length / elapsedS >= 20,
      `only ${(results.length / elapsedS).toFixed(1)} invocations/s`,
    );
    for (const r of results) assert.equal(r.status, 'success');

    const decisions = loggedDecisions(extensionLines());
    assert.equal(decisions.length, results.length);
    assert.equal(`${decisions[0]?.mode}/${decisions[0]?.reason}`, 'blocking/cold-start');
    const switchAt = decisions.findIndex((d) => d.mode === 'background' && d.reason === 'frequent');
    assert.ok(switchAt > 0 && switchAt <= LEARNING, `switched to background at invocation ${switchAt}`);
    const afterLearning = decisions.slice(LEARNING);
    const background = afterLearning.filter((d) => d.mode === 'background').length;
    assert.ok(background >= afterLearning.length * 0.9, `${background}/${afterLearning.length} background`);

    const postRuntime = results.slice(LEARNING).map((r) => r.postRuntimeExtensionsDurationMs ?? Number.NaN);
    const median = percentile(postRuntime, 50);
    assert.ok(median <= 3, `median post-runtime ${median.toFixed(2)} ms after the switch`);
    const blockingPostRuntime = results.slice(0, switchAt).map((r) => r.postRuntimeExtensionsDurationMs ?? 0);
    assert.ok(percentile(blockingPostRuntime, 50) > median, 'blocking flushes did cost post-runtime time');

    // Delivered while running (background flushes), the rest by SHUTDOWN.
    const spansById = invocationSpanIndex(sink.requests);
    const beforeShutdown = results.filter((r) => spansById.has(r.requestId)).length;
    assert.ok(beforeShutdown >= results.length * 0.5, `${beforeShutdown}/${results.length} before SHUTDOWN`);
    assert.ok(loggedFlushes(extensionLines()).some((f) => f.kind === 'background' && f.exportedItems > 0));

    const down = await sim.shutdown();
    assert.equal(down.extensions.find((e) => e.name === EXTENSION_NAME)?.exitedBeforeDeadline, true);
    const delivered = invocationSpanIndex(sink.requests);
    for (const [i, r] of results.entries()) {
      assert.equal(delivered.get(r.requestId)?.length, 1, `invocation ${i}: span once`);
      assert.deepEqual(
        logRecordsFor(sink.requests, r.requestId).map((l) => l.body),
        [`frequent ${i}`],
      );
    }
    assert.equal(metricCount(sink.requests, 'faas.invocations'), results.length);
    assert.equal(metricCount(sink.requests, 'aws.lambda.billed_duration'), results.length);
    assert.match(shutdownLine(extensionLines()) ?? '', /dropped 0, unsent 0/);
  } finally {
    await sim.close();
    await sink.close();
  }
});

test('Managed Instances: concurrent invocations are flushed on the timer while the environment runs', async () => {
  const sink = await startOtlpSink();
  const { sim, extensionLines } = await extensionEnvironment({
    handler: 'scenario.mjs',
    endpoint: sink.url,
    logLevel: 'debug',
    mode: 'managed-instances',
    maxConcurrency: 4,
    env: { LAMBDA_OTEL_FLUSH_MANAGED_INSTANCES_INTERVAL_MS: '1000' },
  });
  try {
    await sim.start();
    const register = sim.timeline.of('register').find((r) => r.name === EXTENSION_NAME && r.status === 200);
    assert.deepEqual(register?.events, ['SHUTDOWN']);
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => sim.invoke({ log: [`concurrent ${i}`], sleepMs: 50 + 25 * i })),
    );
    const endedMs = Date.now();
    for (const r of results) assert.equal(r.status, 'success');
    const concurrent = results.filter((r) =>
      results.some(
        (o) =>
          o !== r &&
          o.timestamps.startMs < r.timestamps.reportMs &&
          r.timestamps.startMs < o.timestamps.reportMs,
      ),
    );
    assert.ok(concurrent.length >= 2, 'invocations overlapped');

    // No SHUTDOWN yet: the timer (1 s) must deliver every invocation while the environment runs.
    const delivered = () =>
      results.every(
        (r) =>
          invocationSpans(sink.requests, r.requestId).length === 1 &&
          logRecordsFor(sink.requests, r.requestId).length === 1,
      );
    await sink.waitFor(delivered, 8_000);
    const lastArrival = Math.max(
      ...results.flatMap((r) => [
        invocationSpans(sink.requests, r.requestId)[0]!.receivedAtMs,
        logRecordsFor(sink.requests, r.requestId)[0]!.receivedAtMs,
      ]),
    );
    assert.ok(
      lastArrival - endedMs <= 1000 + 2000,
      `delivered ${lastArrival - endedMs} ms after the last invocation`,
    );
    for (const [i, r] of results.entries()) {
      assert.deepEqual(
        logRecordsFor(sink.requests, r.requestId).map((l) => l.body),
        [`concurrent ${i}`],
      );
    }
    assert.equal(loggedDecisions(extensionLines()).length, 0, 'no INVOKE, no per-invocation decision');
    // The extension logs a flush once the backend has answered: a moment after the sink has the data.
    await eventually(
      () =>
        loggedFlushes(extensionLines()).some(
          (f) => f.kind === 'background' && f.reason === 'interval' && f.exportedItems > 0,
        ),
      'a timer flush logged',
    );

    await pause(200);
    const down = await sim.shutdown();
    assert.equal(down.extensions.find((e) => e.name === EXTENSION_NAME)?.exitedBeforeDeadline, true);
    for (const r of results) assert.equal(invocationSpans(sink.requests, r.requestId).length, 1);
    assert.equal(metricCount(sink.requests, 'faas.invocations'), results.length);
    assert.match(shutdownLine(extensionLines()) ?? '', /dropped 0, unsent 0/);
  } finally {
    await sim.close();
    await sink.close();
  }
});
