// Where the Telemetry API answers 202 Telemetry.NotSupported (AWS's Runtime Interface Emulator), the
// built layer invents nothing: no invocation spans (nothing would ever end them), the function's
// own spans are forwarded as the function made them, and one warning says what is and is not exported.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startOtlpSink } from '../../tools/otlp/sink.js';
import { attrs } from '../../tools/otlp/decode.js';
import { spansIn } from '../support/flush-sink.js';
import {
  extensionEnvironment,
  SETUP_MODULE,
  EXTENSION_SCOPE,
  FUNCTION_SCOPE,
} from '../support/e2e-harness.js';

interface HandlerReport {
  requestId: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
}

test('202 Telemetry.NotSupported: no invented invocation spans, function spans forwarded untouched, a clear warning', async () => {
  const sink = await startOtlpSink();
  const { sim, extensionLines } = await extensionEnvironment({
    handler: 'otel-handler.mjs',
    endpoint: sink.url,
    functionNodeArgs: ['--import', SETUP_MODULE],
    timeoutMs: 10_000,
    initTimeoutMs: 20_000,
    telemetry: { subscribeStatus: 202 },
    env: { FIXTURE_OTEL_PARENT: 'root', FIXTURE_OTEL_VARIANT: 'no-telemetry-api' },
  });
  const reports: HandlerReport[] = [];
  let shutdownAtMs = Number.POSITIVE_INFINITY;
  try {
    const init = await sim.start();
    assert.equal(init.status, 'success', init.errorType);
    for (let i = 0; i < 4; i++) {
      const result = await sim.invoke({ n: i });
      assert.equal(result.status, 'success', `${result.errorType} ${result.responseText}`);
      reports.push(result.response as HandlerReport);
    }
    shutdownAtMs = (await sim.shutdown()).startedAtMs;
  } finally {
    await sim.close();
    await sink.close();
  }
  const received = spansIn(sink.requests);
  // Not held for parents that never come: each invocation's spans leave at the next flush, which
  // starts at the next thaw; that flush may itself be frozen mid-way when the invocation ends, and
  // completes at the thaw after. So all but the last two are out before SHUTDOWN.
  for (const report of reports.slice(0, -2)) {
    const at = received.find((s) => s.span.spanId === report.spanId)?.receivedAtMs;
    assert.ok(at !== undefined && at < shutdownAtMs, `${report.requestId} exported before SHUTDOWN`);
  }
  const spans = received.map((s) => s.span);
  const platform = spans.filter((s) => s.scope?.name === EXTENSION_SCOPE);
  const functionSpans = spans.filter((s) => s.scope?.name === FUNCTION_SCOPE);
  process.stdout.write(
    `# exported: ${platform.length} platform spans, ${functionSpans.length} function spans\n`,
  );
  assert.deepEqual(
    platform.map((s) => `${s.name} ${JSON.stringify(attrs(s.attributes))}`),
    [],
    'no invocation (or any platform) span is made without the Telemetry API',
  );
  for (const report of reports) {
    const handler = functionSpans.find((s) => s.spanId === report.spanId);
    assert.ok(handler, `handler span of ${report.requestId} exported`);
    assert.equal(handler.traceId, report.traceId, 'its own trace');
    assert.equal(handler.parentSpanId ?? '', '', 'still a root span: not re-parented');
  }
  const warning = extensionLines().find((l) => l.includes('Telemetry API answered 202'));
  assert.ok(warning, extensionLines().join('\n'));
  assert.match(warning, /WARN/);
  assert.match(
    warning,
    /Not exported: invocation, init and restore spans, platform metrics, function and extension log lines/,
  );
  assert.match(warning, /Exported: the function's own OTLP traces, metrics and logs .* unchanged/);
});
