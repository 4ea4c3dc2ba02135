// Managed Instances send no INVOKE: the extension learns a request id from platform.start, which
// comes in a Telemetry API batch after the function (the real OpenTelemetry Node SDK, force-flushing
// before it answers) has already exported its spans. Those spans must still join the platform
// invocation span. Measured at 100 invocations/s with 4 in flight, the built layer in the simulator.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startOtlpSink } from '../../tools/otlp/sink.js';
import { attrs } from '../../tools/otlp/decode.js';
import type { InvocationResult } from '../../tools/simulator/types.js';
import { spansIn } from '../support/flush-sink.js';
import { extensionEnvironment, SETUP_MODULE, EXTENSION_SCOPE } from '../support/e2e-harness.js';

const SPAN_KIND_SERVER = 2;
const RATE_PER_S = 100;
const CONCURRENCY = 4;
const INVOCATIONS = Number(process.env.MI_JOIN_INVOCATIONS ?? 200);

interface HandlerReport {
  requestId: string;
  traceId: string;
  spanId: string;
}

test(`Managed Instances: function spans join their invocation at ${RATE_PER_S}/s, concurrency ${CONCURRENCY}`, async () => {
  const sink = await startOtlpSink();
  const { sim, extensionLines } = await extensionEnvironment({
    handler: 'otel-handler.mjs',
    endpoint: sink.url,
    mode: 'managed-instances',
    maxConcurrency: CONCURRENCY,
    functionNodeArgs: ['--import', SETUP_MODULE],
    timeoutMs: 20_000,
    initTimeoutMs: 20_000,
    // A new trace per invocation: only the extension can put the handler under the platform span.
    env: { FIXTURE_OTEL_PARENT: 'root', FIXTURE_OTEL_VARIANT: 'managed-instances-join' },
  });
  const results: InvocationResult[] = [];
  let elapsedMs = 0;
  try {
    const init = await sim.start();
    assert.equal(init.status, 'success', init.errorType);
    const started = performance.now();
    const inFlight = new Set<Promise<void>>();
    for (let i = 0; i < INVOCATIONS; i++) {
      // One every 10 ms, never more than CONCURRENCY at once.
      const due = started + (i * 1000) / RATE_PER_S;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      while (inFlight.size >= CONCURRENCY) await Promise.race(inFlight);
      const p: Promise<void> = sim.invoke({ n: i }).then((r) => {
        results.push(r);
        inFlight.delete(p);
      });
      inFlight.add(p);
    }
    await Promise.all(inFlight);
    elapsedMs = performance.now() - started;
    await sim.shutdown();
  } finally {
    await sim.close();
    await sink.close();
  }
  assert.equal(results.length, INVOCATIONS);
  const spans = spansIn(sink.requests).map((s) => s.span);
  const platformById = new Map<string, (typeof spans)[number]>();
  for (const s of spans) {
    const id = attrs(s.attributes)['faas.invocation_id'];
    if (s.scope?.name === EXTENSION_SCOPE && s.kind === SPAN_KIND_SERVER && typeof id === 'string')
      platformById.set(id, s);
  }
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  let joined = 0;
  const problems: string[] = [];
  for (const r of results) {
    assert.equal(r.status, 'success', `${r.errorType} ${r.responseText}`);
    const report = r.response as HandlerReport;
    const handler = byId.get(report.spanId);
    const platform = platformById.get(r.requestId);
    if (!handler || !platform) {
      problems.push(
        `${r.requestId}: handler ${handler ? 'ok' : 'missing'}, platform ${platform ? 'ok' : 'missing'}`,
      );
      continue;
    }
    if (handler.parentSpanId === platform.spanId && handler.traceId === platform.traceId) joined++;
    else if (problems.length < 5) problems.push(`${r.requestId}: handler in its own trace`);
  }
  const rate = joined / results.length;
  const load = (await import('node:fs')).readFileSync('/proc/loadavg', 'utf8').trim();
  process.stdout.write(
    `# managed instances join: ${joined}/${results.length} (${(rate * 100).toFixed(1)} %) in ${elapsedMs.toFixed(0)} ms (${((results.length * 1000) / elapsedMs).toFixed(0)}/s); loadavg ${load}\n`,
  );
  const summary = extensionLines().findLast((l) => / shutdown \(/.test(l));
  assert.ok(rate >= 0.99, `${(rate * 100).toFixed(1)} % joined; ${problems.join('; ')}; ${summary}`);
});
