// Each explicit flush strategy in the built extension under real freezing: what it costs the
// invocation (post-runtime duration) and when the data reaches the backend; an invalid strategy
// leaves the function untouched and says which forms are accepted.

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { startOtlpSink } from '../../tools/otlp/sink.js';
import type { InvocationResult, LambdaSimulator } from '../../tools/simulator/index.js';
import {
  EXTENSION_NAME,
  invocationSpans,
  logRecordsFor,
  loggedDecisions,
  metricCount,
  nextEntryAt,
  percentile,
  shutdownLine,
  sinkCountsAtTimeline,
} from '../support/flush-sink.js';
import { ensureLayer, extensionEnvironment } from '../support/e2e-harness.js';

before(() => {
  ensureLayer();
});

/** Starts the environment, then makes `count` invocations at `perSecond`; each logs its index. */
async function invokeAtRate(
  sim: LambdaSimulator,
  perSecond: number,
  count: number,
): Promise<InvocationResult[]> {
  await sim.start();
  const results: InvocationResult[] = [];
  let dueMs = Date.now();
  while (results.length < count) {
    results.push(await sim.invoke({ log: [`line ${results.length}`] }));
    dueMs += 1000 / perSecond;
    const wait = dueMs - Date.now();
    if (wait > 0) await sim.idle(wait);
  }
  return results;
}

function postRuntime(results: readonly InvocationResult[]): number[] {
  return results.map((r) => r.postRuntimeExtensionsDurationMs ?? Number.NaN);
}

/** SHUTDOWN, then every invocation exactly once at the sink with its log line. */
async function shutdownDelivered(
  sim: LambdaSimulator,
  sink: Awaited<ReturnType<typeof startOtlpSink>>,
  results: readonly InvocationResult[],
  lines: () => string[],
): Promise<void> {
  const down = await sim.shutdown();
  assert.equal(down.extensions.find((e) => e.name === EXTENSION_NAME)?.exitedBeforeDeadline, true);
  for (const [i, r] of results.entries()) {
    assert.equal(invocationSpans(sink.requests, r.requestId).length, 1, `invocation ${i}: span once`);
    assert.deepEqual(
      logRecordsFor(sink.requests, r.requestId).map((l) => l.body),
      [`line ${i}`],
    );
  }
  assert.equal(metricCount(sink.requests, 'faas.invocations'), results.length);
  assert.match(shutdownLine(lines()) ?? '', /dropped 0, unsent 0/);
}

test('end: every invocation is flushed before /event/next (billed post-runtime time)', async () => {
  const sink = await startOtlpSink();
  const { sim, extensionLines } = await extensionEnvironment({
    handler: 'scenario.mjs',
    endpoint: sink.url,
    logLevel: 'debug',
    env: { LAMBDA_OTEL_FLUSH_STRATEGY: 'end' },
  });
  const counts = sinkCountsAtTimeline(sim, sink);
  try {
    const results = await invokeAtRate(sim, 5, 4);
    for (const [i, r] of results.entries()) {
      assert.ok((r.postRuntimeExtensionsDurationMs ?? 0) > 0, `invocation ${i}: no end-of-invocation flush`);
      const atNext = sink.requests.slice(0, counts.at(nextEntryAt(sim, r.extensionNextMs[EXTENSION_NAME])));
      assert.equal(invocationSpans(atNext, r.requestId).length, 1, `invocation ${i}: span before its freeze`);
      assert.equal(logRecordsFor(atNext, r.requestId).length, 1, `invocation ${i}: log before its freeze`);
    }
    assert.deepEqual(
      new Set(loggedDecisions(extensionLines()).map((d) => `${d.mode}/${d.reason}`)),
      new Set(['blocking/strategy-end']),
    );
    await shutdownDelivered(sim, sink, results, extensionLines);
  } finally {
    counts.stop();
    await sim.close();
    await sink.close();
  }
});

test('periodic,1000: blocks only when a second has passed since the last flush', async () => {
  const sink = await startOtlpSink();
  const { sim, extensionLines } = await extensionEnvironment({
    handler: 'scenario.mjs',
    endpoint: sink.url,
    logLevel: 'debug',
    env: { LAMBDA_OTEL_FLUSH_STRATEGY: 'periodic,1000' },
  });
  const counts = sinkCountsAtTimeline(sim, sink);
  try {
    const results = await invokeAtRate(sim, 10, 26);
    const decisions = loggedDecisions(extensionLines());
    assert.equal(decisions.length, results.length);
    const due = decisions.flatMap((d, i) => (d.reason === 'periodic-due' ? [i] : []));
    const notDue = decisions.flatMap((d, i) => (d.reason === 'periodic-not-due' ? [i] : []));
    assert.equal(due.length + notDue.length, results.length);
    const spanMs = decisions.at(-1)!.atMs - decisions[0]!.atMs;
    assert.ok(due.length >= 2, `${due.length} due flushes in ${spanMs} ms`);
    assert.ok(due.length <= Math.floor(spanMs / 1000) + 1, `${due.length} due flushes in ${spanMs} ms`);
    assert.equal(due[0], 0, 'the first invocation is due (nothing flushed yet)');
    for (let k = 1; k < due.length; k++) {
      const gap = decisions[due[k]!]!.atMs - decisions[due[k - 1]!]!.atMs;
      assert.ok(gap >= 1000, `due flushes ${gap} ms apart`);
    }
    for (const i of due) {
      const r = results[i]!;
      assert.equal(decisions[i]!.mode, 'blocking');
      assert.ok((r.postRuntimeExtensionsDurationMs ?? 0) > 0, `due invocation ${i}: no blocking flush`);
      const atNext = sink.requests.slice(0, counts.at(nextEntryAt(sim, r.extensionNextMs[EXTENSION_NAME])));
      assert.equal(
        invocationSpans(atNext, r.requestId).length,
        1,
        `due invocation ${i}: span before its freeze`,
      );
    }
    const between = postRuntime(notDue.map((i) => results[i]!));
    assert.ok(
      percentile(between, 50) <= 3,
      `median post-runtime between due points ${percentile(between, 50)} ms`,
    );
    await shutdownDelivered(sim, sink, results, extensionLines);
  } finally {
    counts.stop();
    await sim.close();
    await sink.close();
  }
});

test('continuous,500: never in the invocation path; data flows while the environment runs', async () => {
  const sink = await startOtlpSink();
  const { sim, extensionLines } = await extensionEnvironment({
    handler: 'scenario.mjs',
    endpoint: sink.url,
    logLevel: 'debug',
    env: { LAMBDA_OTEL_FLUSH_STRATEGY: 'continuous,500' },
  });
  try {
    const results = await invokeAtRate(sim, 10, 20);
    assert.deepEqual(
      new Set(loggedDecisions(extensionLines()).map((d) => `${d.mode}/${d.reason}`)),
      new Set(['background/strategy-continuous']),
    );
    const all = postRuntime(results);
    assert.ok(percentile(all, 50) <= 3, `median post-runtime ${percentile(all, 50)} ms`);
    // Invocations from the first second are exported by the flushes of later ones, before SHUTDOWN.
    const early = results.filter((r) => r.timestamps.startMs < results[0]!.timestamps.startMs + 1000);
    assert.ok(early.length >= 2, `${early.length} invocations in the first second`);
    for (const r of early) {
      assert.equal(
        invocationSpans(sink.requests, r.requestId).length,
        1,
        'an early invocation waited for SHUTDOWN',
      );
    }
    await shutdownDelivered(sim, sink, results, extensionLines);
  } finally {
    await sim.close();
    await sink.close();
  }
});

test('an invalid strategy: a configuration error naming the accepted forms, pass-through, function unharmed', async () => {
  const sink = await startOtlpSink();
  const { sim, extensionLines } = await extensionEnvironment({
    handler: 'scenario.mjs',
    endpoint: sink.url,
    env: { LAMBDA_OTEL_FLUSH_STRATEGY: 'sometimes' },
  });
  try {
    const results = [await sim.invoke({ log: ['a'] }), await sim.invoke({ log: ['b'] })];
    for (const r of results) {
      assert.equal(r.status, 'success');
      assert.ok(
        (r.postRuntimeExtensionsDurationMs ?? 0) < 100,
        `post-runtime ${r.postRuntimeExtensionsDurationMs} ms`,
      );
    }
    const error = extensionLines().find((l) => l.includes(' ERROR '));
    assert.ok(error, 'no configuration error logged');
    assert.match(error, /invalid configuration.*pass-through mode/);
    assert.match(error, /LAMBDA_OTEL_FLUSH_STRATEGY/);
    assert.match(error, /sometimes/);
    assert.match(error, /adaptive \| end \| end,<ms> \| periodic,<ms> \| continuous,<ms>/);
    const down = await sim.shutdown();
    assert.equal(down.extensions.find((e) => e.name === EXTENSION_NAME)?.exitedBeforeDeadline, true);
    assert.equal(sink.requests.length, 0, 'pass-through exports nothing');
    assert.match(shutdownLine(extensionLines()) ?? '', /pass-through mode, nothing exported/);
  } finally {
    await sim.close();
    await sink.close();
  }
});

test('the tightest valid settings (max_staleness_ms 1000, grace_ms 0) run: adaptive blocks on every gap', async () => {
  const sink = await startOtlpSink();
  const { sim, extensionLines } = await extensionEnvironment({
    handler: 'scenario.mjs',
    endpoint: sink.url,
    logLevel: 'debug',
    env: { LAMBDA_OTEL_FLUSH_MAX_STALENESS_MS: '1000', LAMBDA_OTEL_FLUSH_GRACE_MS: '0' },
  });
  const counts = sinkCountsAtTimeline(sim, sink);
  try {
    const results = await invokeAtRate(sim, 5, 3);
    assert.equal(
      extensionLines().filter((l) => / (ERROR|WARN) /.test(l)).length,
      0,
      extensionLines().join('\n'),
    );
    // The horizon is 0: every gap is longer, so every invocation is flushed before its freeze.
    assert.deepEqual(
      loggedDecisions(extensionLines()).map((d) => `${d.mode}/${d.reason}`),
      ['blocking/cold-start', 'blocking/slow-traffic', 'blocking/slow-traffic'],
    );
    for (const [i, r] of results.entries()) {
      const atNext = sink.requests.slice(0, counts.at(nextEntryAt(sim, r.extensionNextMs[EXTENSION_NAME])));
      assert.equal(invocationSpans(atNext, r.requestId).length, 1, `invocation ${i}: span before its freeze`);
    }
    await shutdownDelivered(sim, sink, results, extensionLines);
  } finally {
    counts.stop();
    await sim.close();
    await sink.close();
  }
});
