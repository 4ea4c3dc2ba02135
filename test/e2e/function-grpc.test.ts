// A Python function exporting over OTLP/gRPC (the Python SDK's default), through the built layer in
// the simulator, to the real Collector:
//   1. its spans reach the extension's gRPC receiver on the gRPC port and are joined to each
//      invocation: the root handler span goes under the platform invocation span, which adopts the
//      function's trace id, as over OTLP/HTTP;
//   2. with processors configured in a function config file: health-check spans are filtered out,
//      an attribute holding PII is hashed, and a resource attribute is added to the function's
//      spans and to the platform telemetry alike.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { attributesToObject, type CollectorOutput } from '../support/collector/collector.js';
import { pythonPath } from '../support/python/python-env.js';
import {
  extensionEnvironment,
  FUNCTIONS_DIR,
  freeLoopbackPort,
  EXTENSION_SCOPE,
} from '../support/e2e-harness.js';
import { useCollector } from '../support/collector-suite.js';

const PY_SCOPE = 'py-fixture';
const SPAN_KIND_SERVER = 2;

interface Answer {
  requestId: string;
  traceId: string;
  spanId: string;
  children: { spanId: string }[];
}

const col = useCollector({ python: true });
const dir = mkdtempSync(join(tmpdir(), 'function-grpc-'));

after(async () => {
  rmSync(dir, { recursive: true, force: true });
});

async function runPythonFunction(
  variant: string,
  events: object[],
  env: Record<string, string> = {},
): Promise<{ answers: Answer[]; lines: string[] }> {
  const grpcPort = await freeLoopbackPort();
  const { sim, extensionLines } = await extensionEnvironment({
    handler: join(FUNCTIONS_DIR, 'python_grpc_function.py'),
    runtimeBootstrap: join(FUNCTIONS_DIR, 'python-runtime.mjs'),
    endpoint: col.endpoint,
    timeoutMs: 15_000,
    initTimeoutMs: 30_000,
    env: {
      LAMBDA_OTEL_RECEIVER_GRPC_PORT: String(grpcPort),
      // What a Python user sets: the SDK's default protocol is gRPC, on 4317 normally.
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${grpcPort}`,
      OTEL_SERVICE_NAME: 'py-grpc-fn',
      OTEL_RESOURCE_ATTRIBUTES: `fixture.variant=${variant}`,
      FIXTURE_PYTHON: pythonPath(),
      ...env,
    },
  });
  try {
    const init = await sim.start();
    assert.equal(init.status, 'success', `init failed: ${init.errorType}`);
    const answers: Answer[] = [];
    for (const event of events) {
      const result = await sim.invoke(event);
      assert.equal(result.status, 'success', `${result.errorType} ${result.responseText}`);
      const answer = result.response as Answer;
      assert.equal(answer.requestId, result.requestId);
      answers.push(answer);
    }
    const down = await sim.shutdown();
    assert.ok(down.extensions.every((e) => e.exitedBeforeDeadline));
    return { answers, lines: extensionLines() };
  } finally {
    await sim.close();
  }
}

const attrs = attributesToObject;
const variantOf = (resource: { attributes?: Parameters<typeof attributesToObject>[0] }) =>
  attrs(resource.attributes)['fixture.variant'];

function platformSpan(out: CollectorOutput, requestId: string) {
  return out.spans.find(
    (s) =>
      s.scope.name === EXTENSION_SCOPE &&
      s.item.kind === SPAN_KIND_SERVER &&
      attrs(s.item.attributes)['faas.invocation_id'] === requestId,
  );
}

describe('a Python function exporting OTLP/gRPC', () => {
  test('its spans are received over gRPC and joined to each invocation', async () => {
    const { answers, lines } = await runPythonFunction('grpc-join', [{ n: 1 }, { n: 2 }, { n: 3 }]);
    const complete = (out: CollectorOutput) =>
      answers.every(
        (a) =>
          platformSpan(out, a.requestId) &&
          out.spans.some((s) => s.item.spanId === a.spanId) &&
          a.children.every((c) => out.spans.some((s) => s.item.spanId === c.spanId)),
      );
    const out = await col.waitFor(complete, 20_000).catch(() => col.read());
    const context = `\nextension log:\n${lines.slice(-15).join('\n')}`;
    for (const a of answers) {
      const platform = platformSpan(out, a.requestId);
      assert.ok(platform, `no platform span for ${a.requestId}${context}`);
      const handler = out.spans.find((s) => s.scope.name === PY_SCOPE && s.item.spanId === a.spanId);
      assert.ok(handler, `handler span of ${a.requestId} not exported${context}`);
      assert.equal(attrs(handler.resource.attributes)['service.name'], 'py-grpc-fn');
      assert.equal(attrs(handler.resource.attributes)['telemetry.sdk.language'], 'python');
      // Joined: the root handler span now sits under the platform span, in the function's trace.
      assert.equal(handler.item.traceId, a.traceId);
      assert.equal(platform.item.traceId, a.traceId, 'platform span adopted the function trace');
      assert.equal(
        handler.item.parentSpanId,
        platform.item.spanId,
        'handler re-parented under the platform span',
      );
      const work = out.spans.find((s) => s.item.spanId === a.children[0]?.spanId);
      assert.equal(work?.item.parentSpanId, a.spanId);
      assert.equal(work?.item.traceId, a.traceId);
    }
  });

  test('processors filter health checks, hash an attribute and add a resource attribute', async () => {
    const configFile = join(dir, 'processors.yaml');
    writeFileSync(
      configFile,
      [
        'processors:',
        '  filter:',
        '    spans:',
        '      - name: handler',
        '        attribute: http.route',
        '        value: /health',
        '  attributes:',
        '    - key: user.email',
        '      action: hash',
        '  resource:',
        '    - key: deployment.environment.name',
        '      action: upsert',
        '      value: e2e-processors',
        '',
      ].join('\n'),
    );
    const { answers, lines } = await runPythonFunction(
      'grpc-processors',
      [{ path: '/orders' }, { path: '/health' }, { path: '/orders' }],
      { LAMBDA_OTEL_CONFIG_FILE: configFile },
    );
    const [orders1, health, orders2] = answers as [Answer, Answer, Answer];
    const ours = (out: CollectorOutput) =>
      out.spans.filter((s) => variantOf(s.resource) === 'grpc-processors');
    const complete = (out: CollectorOutput) =>
      [orders1, orders2].every((a) => ours(out).some((s) => s.item.spanId === a.spanId)) &&
      answers.every((a) => platformSpan(out, a.requestId));
    const out = await col.waitFor(complete, 20_000).catch(() => col.read());
    const context = `\nextension log:\n${lines.slice(-15).join('\n')}`;
    const spans = ours(out);
    // The health check's handler span is gone; its child (no route attribute) is not.
    assert.equal(
      spans.some((s) => s.item.spanId === health.spanId),
      false,
      'health-check span filtered',
    );
    assert.ok(spans.some((s) => s.item.spanId === health.children[0]?.spanId));
    for (const a of [orders1, orders2]) {
      const handler = spans.find((s) => s.item.spanId === a.spanId);
      assert.ok(handler, `handler ${a.requestId} missing${context}`);
      assert.equal(handler.item.parentSpanId, platformSpan(out, a.requestId)?.item.spanId, 'still joined');
    }
    const sha = createHash('sha256').update('someone@example.com').digest('hex');
    const works = spans.filter((s) => s.item.name === 'work');
    assert.equal(works.length, 3);
    for (const w of works) assert.equal(attrs(w.item.attributes)['user.email'], sha);
    // The resource attribute reaches the function's spans and the platform's alike.
    for (const s of spans)
      assert.equal(attrs(s.resource.attributes)['deployment.environment.name'], 'e2e-processors');
    for (const a of answers) {
      const platform = platformSpan(out, a.requestId);
      assert.ok(platform);
      assert.equal(attrs(platform.resource.attributes)['deployment.environment.name'], 'e2e-processors');
    }
  });
});
