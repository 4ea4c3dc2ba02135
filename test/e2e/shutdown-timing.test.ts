// How long the built extension takes from SHUTDOWN to its exit when there is nothing left to wait
// for. Lambda gives all extensions about 2 s together, and an environment being spun down is still
// the user's: the extension must not sit on fixed waits. Everything queued is still delivered.
// Bounds are generous (the machine is shared); the figures go to the test's diagnostics.

import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { startOtlpSink } from '../../tools/otlp/sink.js';
import { allMetrics, type MetricsRequest } from '../../tools/otlp/decode.js';
import { METRIC_AWS_LAMBDA_BILLED_DURATION } from '../../src/convert/semconv.js';
import { exportSummary, extensionEnvironment } from '../support/e2e-harness.js';

/** Well inside Lambda's ~2 s (SIGKILL after it), with room for a loaded machine; the figure is reported. */
const EXIT_BOUND_MS = 1500;

/** The old fixed wait for the function's last exports, which a function without OTLP never sends. */
const FUNCTION_EXPORT_WINDOW_MS = 200;

function finalFlushTimings(lines: readonly string[]): { drainMs: number; flushMs: number } {
  const line = lines.findLast((l) => l.includes('final flush done'));
  assert.ok(line, `no final flush line in\n${lines.join('\n')}`);
  const fields = JSON.parse(line.slice(line.indexOf('{'))) as { drainMs: number; flushMs: number };
  return fields;
}

for (const scenario of ['no invocation', 'one invocation, then idle'] as const) {
  test(`SHUTDOWN with nothing pending (${scenario}): exits in well under Lambda's 2 s, everything sent`, async (t) => {
    const sink = await startOtlpSink();
    const { sim, extensionLines } = await extensionEnvironment({
      handler: 'echo.mjs',
      endpoint: sink.url,
      logLevel: 'debug',
      // A function without an OpenTelemetry SDK: nothing configures one (empty is unset).
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: '' },
    });
    try {
      if (scenario === 'no invocation') {
        assert.equal((await sim.start()).status, 'success');
      } else {
        assert.equal((await sim.invoke({ n: 1 })).status, 'success');
        await sleep(500); // frozen idle; the invocation's report waits in Lambda's buffer
      }
      const down = await sim.shutdown('spindown');
      const ext = down.extensions[0];
      assert.ok(ext?.receivedShutdown);
      assert.equal(ext.exitCode, 0);
      assert.equal(ext.exitedBeforeDeadline, true);
      const exitMs = (ext.exitAtMs ?? Number.POSITIVE_INFINITY) - down.startedAtMs;
      const lines = extensionLines();
      const { drainMs, flushMs } = finalFlushTimings(lines);
      t.diagnostic(
        `SHUTDOWN → exit ${exitMs.toFixed(1)} ms (drain ${drainMs} ms, final flush ${flushMs} ms)`,
      );
      assert.ok(exitMs < EXIT_BOUND_MS, `exit took ${exitMs.toFixed(0)} ms`);
      // The function has no SDK and never used the receiver: no wait for exports at SIGTERM.
      assert.ok(drainMs < FUNCTION_EXPORT_WINDOW_MS, `drain took ${drainMs} ms`);
      const summary = exportSummary(lines);
      assert.ok(summary, lines.join('\n'));
      assert.equal(summary.unsent, 0);
      assert.equal(summary.exported, summary.queued);
      if (scenario !== 'no invocation') {
        // The report Lambda delivered at SHUTDOWN was waited for: its billed duration was exported.
        const metricNames = sink.requests
          .filter((r) => r.signal === 'metrics' && r.decoded !== undefined)
          .flatMap((r) => allMetrics(r.decoded as MetricsRequest).map((m) => m.name));
        assert.ok(metricNames.includes(METRIC_AWS_LAMBDA_BILLED_DURATION), metricNames.join(', '));
      }
    } finally {
      await sim.close();
      await sink.close();
    }
  });
}

test('SHUTDOWN with a backend answering 429 throughout: exits in time, the unsent are counted by reason', async () => {
  let throttled = 0;
  const backend = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      throttled++;
      res.writeHead(429, { 'retry-after': '1', 'content-type': 'application/x-protobuf' });
      res.end();
    });
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
  const { sim, extensionLines } = await extensionEnvironment({ handler: 'echo.mjs', endpoint });
  try {
    for (let i = 0; i < 2; i++) assert.equal((await sim.invoke({ i })).status, 'success');
    const down = await sim.shutdown('spindown');
    const ext = down.extensions[0];
    assert.equal(ext?.exitedBeforeDeadline, true);
    assert.equal(ext.exitCode, 0);
    assert.ok(throttled > 0, 'the backend was asked');
    const lines = extensionLines();
    const last = lines.at(-1) ?? '';
    assert.match(last, /WARN shutdown \(spindown\)/, lines.join('\n'));
    const summary = exportSummary(lines);
    assert.ok(summary, last);
    assert.ok(summary.unsent > 0, last);
    assert.equal(summary.exported, 0, last);
    // The shutdown line names why they were lost, and its totals add up.
    assert.equal(summary.droppedByReason.unsent_at_shutdown, summary.unsent, last);
    assert.equal(summary.queued, summary.exported + summary.dropped, last);
  } finally {
    await sim.close();
    await new Promise((resolve) => backend.close(resolve));
  }
});
