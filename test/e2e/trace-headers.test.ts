// The built layer under the trace headers Lambda really sends. PassThrough tracing (Lambda's default)
// says `Root;Parent;Sampled=0;Lineage` or only `Root;Lineage`; Active tracing and a caller that
// sampled say `Sampled=1`. By default (always_on) every invocation exports its platform spans under
// every form; a parent-based sampler follows `Sampled=`, counts what it dropped and says so in the
// shutdown line.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type OtlpSink, startOtlpSink } from '../../tools/otlp/sink.js';
import type { TracingMode } from '../../tools/simulator/types.js';
import { spansIn } from '../support/flush-sink.js';
import { extensionEnvironment } from '../support/e2e-harness.js';

const MODES: TracingMode[] = [
  'pass-through-sampled-0',
  'pass-through-undecided',
  'active',
  'upstream-sampled',
];

/** X-Ray Root=1-<8 hex>-<24 hex> as a W3C trace id. */
function xrayTraceId(tracingValue: string): string {
  const root = /Root=1-([0-9a-f]{8})-([0-9a-f]{24})/i.exec(tracingValue);
  assert.ok(root, `no X-Ray Root in ${tracingValue}`);
  return `${root[1]}${root[2]}`.toLowerCase();
}

interface Run {
  /** Spans exported in each invocation's trace, by the header form it got. */
  spansPerInvocation: Record<string, number[]>;
  /** Every span exported (init included). */
  totalSpans: number;
  shutdownLine: string;
  headers: string[];
}

async function runModes(sink: OtlpSink, env: Record<string, string> = {}): Promise<Run> {
  const { sim, extensionLines } = await extensionEnvironment({
    handler: 'echo.mjs',
    endpoint: sink.url,
    env,
  });
  const invoked: { mode: TracingMode; traceId: string; header: string }[] = [];
  try {
    // Two rounds: the first invocation is the cold one (its init span joins its trace).
    for (let round = 0; round < 2; round++) {
      for (const mode of MODES) {
        const result = await sim.invoke({ mode }, { tracingMode: mode });
        assert.equal(result.status, 'success', result.errorType);
        invoked.push({ mode, traceId: xrayTraceId(result.tracing.value), header: result.tracing.value });
      }
    }
    const down = await sim.shutdown();
    assert.ok(down.extensions.every((e) => e.exitedBeforeDeadline));
  } finally {
    await sim.close();
  }
  const spans = spansIn(sink.requests);
  const spansPerInvocation: Record<string, number[]> = {};
  for (const inv of invoked) {
    const n = spans.filter((s) => s.span.traceId === inv.traceId).length;
    const counts = spansPerInvocation[inv.mode] ?? [];
    counts.push(n);
    spansPerInvocation[inv.mode] = counts;
  }
  const shutdownLine = extensionLines().findLast((l) => / shutdown \(/.test(l)) ?? '';
  return {
    spansPerInvocation,
    totalSpans: spans.length,
    shutdownLine,
    headers: invoked.map((i) => i.header),
  };
}

test('the simulator sends both PassThrough forms, Active and an upstream-sampled header', async () => {
  const { traceValueFor } = await import('../../tools/simulator/tracing.js');
  assert.match(
    traceValueFor('pass-through', 1),
    /^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0;Lineage=[0-9a-f]{8}:\d+$/,
  );
  assert.match(traceValueFor('pass-through', 2), /^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Lineage=[0-9a-f]{8}:\d+$/);
  assert.match(traceValueFor('active', 1), /;Parent=[0-9a-f]{16};Sampled=1;Lineage=/);
  assert.match(traceValueFor('upstream-sampled', 1), /;Parent=[0-9a-f]{16};Sampled=1;Lineage=/);
});

test('default sampler (always_on): every header form exports the invocation with its phase spans', async () => {
  const sink = await startOtlpSink();
  try {
    const run = await runModes(sink);
    for (const mode of MODES) {
      const counts = run.spansPerInvocation[mode] ?? [];
      assert.equal(counts.length, 2);
      // An invocation span and its responseLatency, responseDuration and extensionOverhead children.
      for (const n of counts) assert.ok(n >= 4, `${mode}: ${counts.join(', ')} spans per invocation`);
    }
    assert.match(run.shutdownLine, /platform spans: \d+ exported, 0 unsampled \(sampler always_on\)/);
    process.stdout.write(`# always_on spans per invocation: ${JSON.stringify(run.spansPerInvocation)}\n`);
  } finally {
    await sink.close();
  }
});

test('parentbased_always_on: Sampled=0 drops the platform spans (counted), the other forms export them', async () => {
  const sink = await startOtlpSink();
  try {
    const run = await runModes(sink, { LAMBDA_OTEL_TRACES_SAMPLER: 'parentbased_always_on' });
    assert.deepEqual(run.spansPerInvocation['pass-through-sampled-0'], [0, 0]);
    for (const mode of MODES.filter((m) => m !== 'pass-through-sampled-0')) {
      for (const n of run.spansPerInvocation[mode] ?? []) assert.ok(n >= 4, `${mode}: ${n}`);
    }
    const unsampled = /platform spans: \d+ exported, (\d+) unsampled \(sampler parentbased_always_on\)/.exec(
      run.shutdownLine,
    );
    assert.ok(unsampled, run.shutdownLine);
    // The cold Sampled=0 invocation takes its init span (and init's children) with it.
    assert.ok(Number(unsampled[1]) >= 8, run.shutdownLine);
    const selfTelemetry = sink.requests
      .filter((r) => r.signal === 'metrics')
      .flatMap((r) => JSON.stringify(r.decoded))
      .join('');
    assert.match(selfTelemetry, /otel_lambda_extension\.platform\.spans/);
    process.stdout.write(
      `# parentbased_always_on spans per invocation: ${JSON.stringify(run.spansPerInvocation)}\n`,
    );
  } finally {
    await sink.close();
  }
});
