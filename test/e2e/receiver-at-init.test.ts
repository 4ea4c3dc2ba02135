// The function's first export can come from its own init: Lambda runs the function's init once every
// extension has called /event/next, so the built layer's local receiver must be listening by its first
// /event/next, whatever it still sets up after. A function that exports at init (a raw OTLP/HTTP
// request and a span flushed by the real OpenTelemetry SDK) finds the receiver open, and the span
// reaches the backend.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { startOtlpSink } from '../../tools/otlp/sink.js';
import { allSpans, type TracesRequest } from '../../tools/otlp/decode.js';
import { extensionEnvironment, FUNCTIONS_DIR } from '../support/e2e-harness.js';

const SETUP_MODULE = join(FUNCTIONS_DIR, 'otel-setup.mjs');

interface InitReport {
  rawStatus?: number;
  rawError?: string;
  traceId: string;
}

const hex = (id: unknown): string =>
  typeof id === 'string' ? id : Buffer.from(id as Uint8Array).toString('hex');

test('a function exporting at its init finds the receiver listening; its span is exported', async () => {
  const sink = await startOtlpSink();
  const { sim } = await extensionEnvironment({
    handler: 'export-at-init.mjs',
    endpoint: sink.url,
    functionNodeArgs: ['--import', SETUP_MODULE],
    // Generous: the SDK's start-up on two cores shared with other suites.
    timeoutMs: 10_000,
    initTimeoutMs: 20_000,
  });
  try {
    const init = await sim.start();
    assert.equal(init.status, 'success', `init failed: ${init.errorType}`);
    const result = await sim.invoke({});
    assert.equal(result.status, 'success', `${result.errorType} ${result.responseText}`);
    const report = result.response as InitReport;
    assert.equal(report.rawError, undefined, 'the receiver refused the connection at the function init');
    assert.equal(report.rawStatus, 200);
    await sim.shutdown();
    const spans = sink.requests.flatMap((r) =>
      r.signal === 'traces' ? allSpans(r.decoded as TracesRequest) : [],
    );
    const atInit = spans.filter((s) => s.name === 'work-at-init');
    assert.equal(atInit.length, 1, `spans exported: ${spans.map((s) => s.name).join(', ')}`);
    assert.equal(hex(atInit[0]?.traceId), report.traceId);
  } finally {
    await sim.close();
    await sink.close();
  }
});
