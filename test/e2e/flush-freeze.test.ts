// The flush manager in the built extension under real SIGSTOP/SIGCONT freezing: nothing is stranded
// by long frozen idle periods, a background flush cut by a freeze is retried after the thaw, and
// SHUTDOWN ends before SIGKILL even when the backend hangs.
//
// Time compression: the simulator's idle time is real, so "ten minutes between invocations" is
// played as a frozen idle of 3 s with the staleness bound lowered from 30 s to 4 s (the adaptive
// horizon goes from 28 s to 2 s). The idle is then longer than the horizon, as ten minutes are with
// the defaults, and the extension makes the same decisions. The length of a freeze cannot matter
// once nothing is left pending when it begins, and that is what the test asserts: when the extension
// calls /event/next, the sink already holds the invocation's span, logs and metrics. The backend
// also closes its idle keep-alive connections during each freeze, as it would in ten minutes.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Collector, startCollector } from '../support/collector/collector.js';
import { startFaultProxy } from '../support/fakes/fault-proxy.js';
import { startOtlpSink } from '../../tools/otlp/sink.js';
import { type InvocationResult, readFreezeState } from '../../tools/simulator/index.js';
import {
  childSpans,
  EXTENSION_NAME,
  invocationSpans,
  logRecordsFor,
  loggedDecisions,
  loggedFlushes,
  metricCount,
  nextEntryAt,
  pause,
  shutdownLine,
  sinkCountsAtTimeline,
  startHoldingProxy,
} from '../support/flush-sink.js';
import { ensureLayer, extensionEnvironment } from '../support/e2e-harness.js';

before(() => {
  ensureLayer();
});

test('rare invocations: every invocation is at the backend before its freeze, report data at the next thaw', async () => {
  const sink = await startOtlpSink();
  const proxy = await startFaultProxy(sink.url);
  const { sim, extensionLines } = await extensionEnvironment({
    handler: 'scenario.mjs',
    endpoint: proxy.url,
    logLevel: 'debug',
    env: { LAMBDA_OTEL_FLUSH_MAX_STALENESS_MS: '4000' },
  });
  const counts = sinkCountsAtTimeline(sim, sink);
  try {
    const results: InvocationResult[] = [];
    for (let i = 0; i < 3; i++) {
      const result = await sim.invoke({ log: [`rare invocation ${i}`] });
      assert.equal(result.status, 'success');
      results.push(result);
      // Frozen idle; meanwhile the backend drops the idle keep-alive connection.
      await pause(100);
      proxy.closeIdleConnections();
      await sim.idle(2900);
    }

    for (const [i, result] of results.entries()) {
      const id = result.requestId;
      const next = nextEntryAt(sim, result.extensionNextMs[EXTENSION_NAME]);
      const atNext = sink.requests.slice(0, counts.at(next));
      const spans = invocationSpans(atNext, id);
      assert.equal(spans.length, 1, `invocation ${i}: its span was not at the sink at /event/next`);
      assert.deepEqual(
        logRecordsFor(atNext, id).map((r) => r.body),
        [`rare invocation ${i}`],
        `invocation ${i}: its log line was not at the sink at /event/next`,
      );
      assert.equal(metricCount(atNext, 'faas.invocations'), i + 1, `invocation ${i}: faas.invocations`);
      // The report of invocation i comes at the next thaw: its figures are exported then, not before.
      assert.equal(metricCount(atNext, 'aws.lambda.billed_duration'), i, `invocation ${i}: billed duration`);
      const spanId = spans[0]!.span.spanId;
      assert.equal(childSpans(atNext, spanId, 'extensionOverhead').length, 0);
      const nextResult = results[i + 1];
      if (nextResult) {
        const laterNext = nextEntryAt(sim, nextResult.extensionNextMs[EXTENSION_NAME]);
        const atLaterNext = sink.requests.slice(0, counts.at(laterNext));
        assert.equal(
          childSpans(atLaterNext, spanId, 'extensionOverhead').length,
          1,
          `invocation ${i}: the extensionOverhead span from its report was not exported at the next thaw`,
        );
        assert.equal(metricCount(atLaterNext, 'aws.lambda.billed_duration'), i + 1);
      }
      assert.ok(
        (result.postRuntimeExtensionsDurationMs ?? 0) > 0,
        'rare invocations are flushed before next',
      );
    }

    const before = sink.requests.length;
    const down = await sim.shutdown();
    const ext = down.extensions.find((e) => e.name === EXTENSION_NAME);
    assert.equal(ext?.exitedBeforeDeadline, true);
    assert.ok(sink.requests.length > before, 'SHUTDOWN exported the last report');
    const last = results.at(-1)!;
    const lastSpan = invocationSpans(sink.requests, last.requestId)[0]!;
    assert.equal(childSpans(sink.requests, lastSpan.span.spanId, 'extensionOverhead').length, 1);
    assert.equal(metricCount(sink.requests, 'aws.lambda.billed_duration'), results.length);
    for (const result of results) assert.equal(invocationSpans(sink.requests, result.requestId).length, 1);

    const decisions = loggedDecisions(extensionLines());
    assert.deepEqual(
      decisions.map((d) => `${d.mode}/${d.reason}`),
      ['blocking/cold-start', 'blocking/slow-traffic', 'blocking/slow-traffic'],
    );
    assert.match(shutdownLine(extensionLines()) ?? '', /dropped 0, unsent 0/);
    assert.ok(
      proxy.log.some((r) => r.reusedConnection === false && r.atMs > results[1]!.timestamps.startMs),
      'the backend closed the idle connections during the freezes',
    );
  } finally {
    counts.stop();
    await sim.close();
    await proxy.close();
    await sink.close();
  }
});

test('a background flush frozen mid-request is retried after the thaw: delivered once, not lost', async () => {
  const sink = await startOtlpSink();
  const proxy = await startHoldingProxy(sink.url);
  const { sim, extensionLines } = await extensionEnvironment({
    handler: 'scenario.mjs',
    endpoint: proxy.url,
    logLevel: 'debug',
    env: { LAMBDA_OTEL_FLUSH_STRATEGY: 'continuous,500' },
  });
  const counts = sinkCountsAtTimeline(sim, sink);
  try {
    // A: its data is still queued at its freeze (continuous flushes only in the background).
    const a = await sim.invoke({ log: ['invocation A'] });
    await sim.idle(1500);
    // B thaws the environment; the flush that takes A's data starts and its requests are held by
    // the backend; B ends and the environment freezes with them in flight.
    proxy.hold(true);
    const b = await sim.invoke({ log: ['invocation B'], sleepMs: 100 });
    proxy.hold(false);
    assert.ok(proxy.heldCount() > 0, 'no flush was in flight when the environment froze');
    assert.equal(invocationSpans(sink.requests, a.requestId).length, 0);
    const extPid = sim.pids().extensions[EXTENSION_NAME];
    assert.ok(extPid !== undefined, 'extension pid');
    assert.notEqual(readFreezeState(extPid), 'running', 'the extension is frozen');
    // While frozen the connections die without an answer: the requests never reached the backend.
    assert.ok(proxy.resetHeld() > 0, 'held connections to reset');
    await sim.idle(1500);
    // C runs long enough for the retry's backoff; the data must arrive while it runs.
    const thawsBefore = sim.timeline.of('thaw').length;
    const freezesBefore = sim.timeline.of('freeze').length;
    const c = await sim.invoke({ log: ['invocation C'], sleepMs: 400 });
    const thawForC = sim.timeline.of('thaw')[thawsBefore];
    const freezeAfterC = sim.timeline.of('freeze')[freezesBefore];
    assert.ok(thawForC && freezeAfterC, 'C ran between a thaw and a freeze');
    const aSpans = invocationSpans(sink.requests, a.requestId);
    assert.equal(aSpans.length, 1, "A's span was not delivered while C ran");
    assert.ok(aSpans[0]!.request >= counts.at(thawForC), "A's span arrived only after the thaw");
    assert.ok(aSpans[0]!.request < counts.at(freezeAfterC), "A's span arrived while C ran");

    const down = await sim.shutdown();
    assert.equal(down.extensions.find((e) => e.name === EXTENSION_NAME)?.exitedBeforeDeadline, true);
    for (const [name, result] of [
      ['A', a],
      ['B', b],
      ['C', c],
    ] as const) {
      assert.equal(invocationSpans(sink.requests, result.requestId).length, 1, `${name}: span once`);
      assert.deepEqual(
        logRecordsFor(sink.requests, result.requestId).map((r) => r.body),
        [`invocation ${name}`],
        `${name}: log line once`,
      );
    }
    const cut = loggedFlushes(extensionLines()).filter((f) => f.frozenMidFlush);
    assert.ok(cut.length > 0, 'the extension saw its flush frozen mid-request');
    assert.match(shutdownLine(extensionLines()) ?? '', /dropped 0, unsent 0/);
  } finally {
    counts.stop();
    await sim.close();
    await proxy.close();
    await sink.close();
  }
});

let col: Collector | undefined;
after(async () => {
  col?.resume();
  await col?.stop();
});

test('SHUTDOWN with a hung collector ends before SIGKILL and reports what was not sent', async () => {
  col = await startCollector({ control: true }); // paused below
  const { sim, extensionLines } = await extensionEnvironment({
    handler: 'scenario.mjs',
    endpoint: col.endpoint,
    shutdownBudgetMs: 2000,
  });
  try {
    const first = await sim.invoke({ log: ['before the hang'] });
    const second = await sim.invoke({ log: ['still fine'] });
    const out = await col.read();
    for (const r of [first, second]) {
      assert.ok(
        out.spans.some((s) => s.item.attributes?.some((a) => a.value?.stringValue === r.requestId)),
        'spans reach the collector while it answers',
      );
    }
    // The collector hangs (SIGSTOP): connections are accepted, nothing is answered.
    col.pause();
    const down = await sim.shutdown();
    const ext = down.extensions.find((e) => e.name === EXTENSION_NAME);
    assert.equal(ext?.receivedShutdown, true);
    assert.equal(ext?.exitedBeforeDeadline, true, 'the extension was SIGKILLed');
    assert.equal(ext?.exitCode, 0);
    assert.ok(ext?.exitAtMs !== undefined && ext.exitAtMs < down.deadlineMs, 'exited before the deadline');
    const line = shutdownLine(extensionLines());
    assert.ok(line, 'no shutdown line');
    assert.ok(line === extensionLines().at(-1), 'the shutdown line is the last one');
    assert.match(
      line,
      /WARN shutdown \(spindown\): exported \d+ items .*unsent [1-9]\d*.*\(deadline reached\)/,
    );
  } finally {
    col.resume();
    await sim.close();
  }
});
