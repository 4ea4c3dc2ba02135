// faas.instance is what the function's own OpenTelemetry SDK reports for the same environment: its
// Lambda resource detector (@opentelemetry/resource-detector-aws) takes AWS_LAMBDA_LOG_STREAM_NAME.
// Extensions do not get that variable on Lambda, so the extension takes the value from the
// function's exported resource; where it does see the variable, it reads it directly.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { awsLambdaDetector } from '@opentelemetry/resource-detector-aws';
import { PlatformConverter } from '../../src/convert/index.js';
import type { WireResourceSpans } from '../../src/receiver/otlp-messages.js';
import { loadOtlpSchema } from '../../src/receiver/otlp-schema.js';
import { TraceCorrelator } from '../../src/receiver/trace-correlation.js';
import { encodeRequest } from '../../tools/otlp/decode.js';

const LOG_STREAM = '2026/12/03/[$LATEST]0f1e2d3c4b5a69788796a5b4c3d2e1f0';

/** What a Node function (nodejs20.x) sees, runtime-only variables included. */
const FUNCTION_ENV: Record<string, string> = {
  AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs20.x',
  AWS_REGION: 'eu-west-1',
  AWS_LAMBDA_FUNCTION_NAME: 'orders',
  AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
  AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/orders',
  AWS_LAMBDA_LOG_STREAM_NAME: LOG_STREAM,
};

/** What an extension sees on Lambda: no log group or stream, no AWS_EXECUTION_ENV. */
const EXTENSION_ENV: Record<string, string> = Object.fromEntries(
  Object.entries(FUNCTION_ENV).filter(
    ([k]) => !['AWS_LAMBDA_LOG_STREAM_NAME', 'AWS_LAMBDA_LOG_GROUP_NAME', 'AWS_EXECUTION_ENV'].includes(k),
  ),
);

/** The function SDK detector's attributes for an environment. */
function detected(env: Record<string, string>): Record<string, unknown> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    return { ...awsLambdaDetector.detect().attributes };
  } finally {
    for (const key of Object.keys(env)) delete process.env[key];
    Object.assign(process.env, saved);
  }
}

async function functionRequest(resource: Record<string, unknown>): Promise<WireResourceSpans[]> {
  const attributes = Object.entries(resource)
    .filter(([, v]) => typeof v === 'string')
    .map(([key, v]) => ({ key, value: { stringValue: v } }));
  const bytes = encodeRequest('traces', {
    resourceSpans: [
      {
        resource: { attributes },
        scopeSpans: [{ spans: [{ name: 'h', traceId: 'ab'.repeat(16), spanId: 'cd'.repeat(8), kind: 2 }] }],
      },
    ],
  });
  const schema = await loadOtlpSchema();
  return (schema.request.traces.decode(bytes) as unknown as { resourceSpans: WireResourceSpans[] })
    .resourceSpans;
}

describe('faas.instance', () => {
  test("the function SDK's Lambda detector reports the log stream name", () => {
    assert.equal(detected(FUNCTION_ENV)['faas.instance'], LOG_STREAM);
  });

  test('where the extension sees the same variables, it reports the same instance', () => {
    const converter = new PlatformConverter({ env: FUNCTION_ENV });
    assert.equal(
      converter.resource.get().attributes['faas.instance'],
      detected(FUNCTION_ENV)['faas.instance'],
    );
  });

  test("on Lambda (no log stream for extensions) it takes the function's value, even after exporting its own", async () => {
    const converter = new PlatformConverter({ env: EXTENSION_ENV });
    const own = converter.resource.get().attributes['faas.instance'];
    assert.notEqual(own, LOG_STREAM, 'an id of its own until the function says');
    const correlator = new TraceCorrelator(converter.directory, (instance) =>
      converter.resource.adoptFunctionInstance(instance),
    );
    const request = await functionRequest(detected(FUNCTION_ENV));
    correlator.observeResourceSpans(request);
    assert.equal(converter.resource.get().attributes['faas.instance'], LOG_STREAM);
    // A later, different value (another resource in the same environment) does not flap it.
    correlator.observeResourceSpans(await functionRequest({ 'faas.instance': 'something-else' }));
    assert.equal(converter.resource.get().attributes['faas.instance'], LOG_STREAM);
    // Managed Instances' initStart.instanceId does not replace the function's value either.
    converter.ingest([
      {
        type: 'platform.initStart',
        timeMs: Date.now(),
        initializationType: 'lambda-managed-instances',
        phase: 'init',
        instanceId: 'i-0123',
      },
    ] as never);
    assert.equal(converter.resource.get().attributes['faas.instance'], LOG_STREAM);
  });
});
