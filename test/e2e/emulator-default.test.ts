// The built layer under AWS's Runtime Interface Emulator in its default mode, where the Telemetry
// API does not exist (subscribing answers 202 Telemetry.NotSupported), with AWS's Node.js runtime
// interface client running the function and the real Collector at the far end:
// - the function's responses are byte for byte what they are without the layer;
// - the extension says what it cannot produce;
// - the function's own telemetry (the OpenTelemetry JS SDK) reaches the Collector as the function
//   made it: no platform span is invented and nothing is re-parented.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { attributesToObject, type CollectorOutput } from '../support/collector/collector.js';
import { freeLoopbackPort as freePort } from '../../tools/simulator/ports.js';
import { type Emulator, startEmulator } from '../support/emulator/emulator.js';
import {
  FUNCTIONS_DIR,
  SETUP_MODULE,
  EXTENSION_SCOPE,
  FUNCTION_SCOPE,
  randomHex,
  LAYER_DIR,
} from '../support/e2e-harness.js';
import { useCollector } from '../support/collector-suite.js';

const col = useCollector({ emulator: true });

async function extensionEnv(extra: Record<string, string> = {}): Promise<Record<string, string>> {
  const receiverPort = await freePort();
  return {
    LAMBDA_OTEL_EXPORTER_ENDPOINT: col.endpoint,
    LAMBDA_OTEL_RECEIVER_PORT: String(receiverPort),
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiverPort}`,
    ...extra,
  };
}

async function withEmulator<T>(rie: Emulator, body: (rie: Emulator) => Promise<T>): Promise<T> {
  try {
    return await body(rie);
  } finally {
    await rie.stop();
  }
}

describe('AWS Runtime Interface Emulator, default mode (no Telemetry API)', () => {
  test('responses are unchanged by the layer, which says what it cannot produce', {
    timeout: 240_000,
  }, async () => {
    const events = [
      { kind: 'echo', value: { nested: [1, 2, { a: null }] } },
      { kind: 'unicode', value: 7 },
      { kind: 'large', size: 200_000 },
      { kind: 'primitive', value: 'just a string' },
      { kind: 'primitive', value: null },
      { kind: 'throw', value: 'on purpose' },
      { kind: 'echo', value: 'after an error' },
    ];
    const run = async (withLayer: boolean) => {
      const rie = await startEmulator({
        mode: 'default',
        layer: withLayer ? LAYER_DIR : null,
        handlerModule: join(FUNCTIONS_DIR, 'responses.mjs'),
        env: await extensionEnv(),
      });
      return withEmulator(rie, async () => {
        const answers: { status: number; headers: Record<string, string>; body: string }[] = [];
        for (const event of events) {
          const { status, headers, body } = await rie.invoke(event);
          const { date: _date, ...stable } = headers;
          answers.push({ status, headers: stable, body });
        }
        return { answers, lines: rie.lines(), extensionLines: rie.extensionLines() };
      });
    };

    const bare = await run(false);
    const layered = await run(true);
    assert.equal(bare.extensionLines.length, 0, 'no extension without the layer');
    // The emulator answers an error as a JSON body too; it must be the same error.
    assert.match(bare.answers.at(-2)?.body ?? '', /RequestedFailure/);
    assert.ok(
      layered.lines.some((l) => /External agent otel-lambda-extension .* registered/.test(l)),
      `the layer's extension did not register:\n${layered.lines.slice(-30).join('\n')}`,
    );
    assert.deepEqual(layered.answers, bare.answers);

    // The wording may change; what it must say may not: no Telemetry API here, so no platform spans,
    // no platform metrics, no function logs.
    const notice = layered.extensionLines.filter(
      (l) => /Telemetry API/.test(l) && /not supported|NotSupported|unavailable|not available/i.test(l),
    );
    assert.equal(
      notice.length,
      1,
      `one notice about the missing Telemetry API:\n${layered.extensionLines.join('\n')}`,
    );
    assert.match(notice[0] ?? '', /spans/);
    assert.match(notice[0] ?? '', /metrics/);
    assert.match(notice[0] ?? '', /logs/);
  });

  test("the function's own spans, metrics and logs arrive as the function made them", {
    timeout: 240_000,
  }, async (t) => {
    await col.clear();
    const rie = await startEmulator({
      mode: 'default',
      layer: LAYER_DIR,
      handlerModule: join(FUNCTIONS_DIR, 'otel-handler.mjs'),
      nodeArgs: ['--import', SETUP_MODULE],
      env: await extensionEnv({ FIXTURE_OTEL_PARENT: 'xray', FIXTURE_OTEL_VARIANT: 'rie-default' }),
    });
    // Sampled upstream traces (the handler continues them) and invocations without a trace header
    // (the handler starts its own trace), alternately.
    const invoked: { header?: { traceId: string; parent: string }; report: HandlerReport }[] = [];
    const extensionLines = await withEmulator(rie, async () => {
      for (let i = 0; i < 4; i++) {
        const header = i % 2 === 0 ? { traceId: randomHex(16), parent: randomHex(8) } : undefined;
        const traceHeader = header
          ? `Root=1-${header.traceId.slice(0, 8)}-${header.traceId.slice(8)};Parent=${header.parent};Sampled=1`
          : undefined;
        const res = await rie.invoke({ n: i }, traceHeader ? { traceHeader } : {});
        assert.equal(res.status, 200, res.body);
        invoked.push({ ...(header && { header }), report: JSON.parse(res.body) as HandlerReport });
      }
      return rie.extensionLines();
    });
    const context = `\nextension log:\n${extensionLines.slice(-15).join('\n')}`;

    const requestIds = new Set(invoked.map((i) => i.report.requestId));
    const complete = (out: CollectorOutput) =>
      counterValue(out) >= invoked.length &&
      invoked.every((inv) =>
        [inv.report, ...inv.report.children].every((s) => out.spans.some((x) => x.item.spanId === s.spanId)),
      );
    const out = await col.waitFor(complete, 15_000).catch(() => col.read());

    const problems: string[] = [];
    for (const { report } of invoked) {
      const handler = out.spans.find(
        (s) => s.scope.name === FUNCTION_SCOPE && s.item.spanId === report.spanId,
      )?.item;
      if (!handler) {
        problems.push(`${report.requestId}: handler span missing`);
        continue;
      }
      // As the function made it: its trace, its parent. In this mode the emulator's X-Ray tracer is a
      // no-op that gives the runtime no trace header, so the handler starts its own trace even when
      // the invoke carried one (the extension still sees that header in INVOKE, and must not use it).
      const expectedTrace = report.traceId;
      const expectedParent = report.parentSpanId ?? '';
      if (handler.traceId !== expectedTrace)
        problems.push(`${report.requestId}: moved to trace ${handler.traceId}`);
      if ((handler.parentSpanId ?? '') !== expectedParent) {
        problems.push(
          `${report.requestId}: re-parented under ${handler.parentSpanId} (was ${expectedParent || 'root'})`,
        );
      }
      for (const child of report.children) {
        const span = out.spans.find((s) => s.item.spanId === child.spanId)?.item;
        if (!span) problems.push(`${report.requestId}: child ${child.spanId} missing`);
        else if (span.traceId !== expectedTrace)
          problems.push(`${report.requestId}: child moved to ${span.traceId}`);
      }
      const sdkLogs = out.logRecords.filter(
        (r) =>
          r.scope.name === FUNCTION_SCOPE &&
          String(r.item.body?.stringValue ?? '').includes(report.requestId),
      );
      if (sdkLogs.length !== 2)
        problems.push(`${report.requestId}: ${sdkLogs.length} SDK log records (expected 2)`);
      for (const r of sdkLogs) {
        if (r.item.traceId !== expectedTrace || r.item.spanId !== report.spanId) {
          problems.push(`${report.requestId}: SDK log record moved to ${r.item.traceId}/${r.item.spanId}`);
        }
      }
    }
    // Without the Telemetry API the extension knows of no invocation: any span of its own about one
    // (an invocation span, or a parent for the function's spans) would be made up.
    const invented = out.spans.filter(
      (s) =>
        s.scope.name === EXTENSION_SCOPE &&
        (requestIds.has(String(attributesToObject(s.item.attributes)['faas.invocation_id'])) ||
          invoked.some((i) => i.report.traceId === s.item.traceId)),
    );
    t.diagnostic(
      `exported: ${out.spans.length} spans (${invented.length} by the extension), ${out.metricPoints.length} metrics, ${out.logRecords.length} log records`,
    );
    if (invented.length > 0) {
      problems.push(
        `${invented.length} spans invented by the extension: ${[...new Set(invented.map((s) => `${s.item.name} (${durationMs(s.item)} ms)`))].join(', ')}`,
      );
    }
    assert.equal(counterValue(out), invoked.length, `function counter${context}`);
    assert.deepEqual(problems, [], context);
  });
});

interface HandlerReport {
  requestId: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  children: { traceId: string; spanId: string }[];
}

function counterValue(out: CollectorOutput): number {
  let value = 0;
  for (const m of out.metricPoints) {
    if (m.item.name !== 'fixture.requests' || m.scope.name !== FUNCTION_SCOPE) continue;
    if (attributesToObject(m.resource.attributes)['fixture.variant'] !== 'rie-default') continue;
    for (const point of m.item.sum?.dataPoints ?? [])
      value = Math.max(value, Number(point.asDouble ?? point.asInt ?? 0));
  }
  return value;
}

function durationMs(span: { startTimeUnixNano?: string; endTimeUnixNano?: string }): number {
  return Number((BigInt(span.endTimeUnixNano ?? '0') - BigInt(span.startTimeUnixNano ?? '0')) / 1_000_000n);
}
