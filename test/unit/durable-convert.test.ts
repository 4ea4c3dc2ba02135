// The extension's side of durable executions: invocations recognised as durable (runtime version,
// the ARN on the function's handler span, the durable SDK's log lines), their platform spans joining
// the execution's trace as siblings of the handler spans, the execution's identity on spans and
// logs, and only aws.lambda.durable on metrics.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PlatformConverter } from '../../src/convert/index.js';
import { LogConverter } from '../../src/convert/logs.js';
import {
  ATTR_DURABLE_EXECUTION_ARN,
  ATTR_DURABLE_EXECUTION_ID,
  ATTR_DURABLE_EXECUTION_NAME,
} from '../../src/durable/attributes.js';
import type { TelemetryEvent } from '../../src/lambda/telemetry-events.js';
import type { ChunkSink, TelemetryChunk } from '../../src/model/chunk.js';
import type { WireResourceSpans, WireSpan } from '../../src/receiver/otlp-messages.js';
import { DURABLE_EXECUTION_ARN_ATTRIBUTE, TraceCorrelator } from '../../src/receiver/trace-correlation.js';
import { SequentialIds } from '../support/telemetry-fixtures.js';
import {
  allLogRecords,
  allMetrics,
  allSpans,
  attrs,
  decodeLogs,
  decodeMetrics,
  decodeTraces,
} from '../../tools/otlp/decode.js';

const T0 = Date.parse('2026-03-01T12:00:00Z');
const ENV = {
  AWS_REGION: 'us-east-1',
  AWS_LAMBDA_FUNCTION_NAME: 'orders',
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
};
const EXECUTION_ARN =
  'arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/order-42/9b1d3a7c-0c1e-4f6a-9d2b-1f2e3d4c5b6a';
const EXECUTION_TRACE = '0af7651916cd43dd8448eb211c80319c';
const ORIGINAL_PARENT = '00f067aa0ba902b7';

function invocationEvents(requestId: string, startMs: number, endMs: number): TelemetryEvent[] {
  return [
    { type: 'platform.start', timeMs: T0 + startMs, requestId },
    {
      type: 'platform.runtimeDone',
      timeMs: T0 + endMs,
      requestId,
      status: 'success',
      durationMs: endMs - startMs,
      spans: [],
    },
  ];
}

/** The handler span the function exports for one invocation of the execution. */
function handlerSpan(requestId: string, spanId: string, withArn = true): WireResourceSpans[] {
  const attributes = [
    { key: 'faas.invocation_id', value: { value: 'stringValue' as const, stringValue: requestId } },
  ];
  if (withArn) {
    attributes.push({
      key: DURABLE_EXECUTION_ARN_ATTRIBUTE,
      value: { value: 'stringValue' as const, stringValue: EXECUTION_ARN },
    });
  }
  const span = {
    traceId: Buffer.from(EXECUTION_TRACE, 'hex'),
    spanId: Buffer.from(spanId, 'hex'),
    parentSpanId: Buffer.from(ORIGINAL_PARENT, 'hex'),
    name: 'orders',
    kind: 2,
    attributes,
    links: [],
  } as unknown as WireSpan;
  return [{ scopeSpans: [{ spans: [span] }] }];
}

class ListSink implements ChunkSink {
  readonly chunks: TelemetryChunk[] = [];
  enqueue(chunk: TelemetryChunk): void {
    this.chunks.push(chunk);
  }
}

function setup(runtimeVersion?: string) {
  const conv = new PlatformConverter({ env: ENV, now: () => T0, idGenerator: new SequentialIds() });
  const correlator = new TraceCorrelator(conv.directory);
  const sink = new ListSink();
  const logs = new LogConverter({ resource: conv.resource, directory: conv.directory }, sink);
  if (runtimeVersion !== undefined) {
    conv.ingest([
      {
        type: 'platform.initStart',
        timeMs: T0 - 500,
        initializationType: 'on-demand',
        phase: 'init',
        runtimeVersion,
      } as TelemetryEvent,
    ]);
  }
  const collected: TelemetryChunk[] = [];
  return {
    conv,
    correlator,
    logs,
    collect(atMs: number, final = false) {
      collected.push(
        ...conv.collect(T0 + atMs, final),
        ...logs.collect(T0 + atMs, final),
        ...sink.chunks.splice(0),
      );
    },
    spans: () =>
      collected.filter((c) => c.signal === 'traces').flatMap((c) => allSpans(decodeTraces(c.protobuf))),
    metrics: () =>
      collected.filter((c) => c.signal === 'metrics').flatMap((c) => allMetrics(decodeMetrics(c.protobuf))),
    logRecords: () =>
      collected.filter((c) => c.signal === 'logs').flatMap((c) => allLogRecords(decodeLogs(c.protobuf))),
  };
}

describe('durable invocations in the converter', () => {
  it('puts every invocation of an execution in its trace, as siblings of the handler spans', () => {
    const env = setup();
    const handlers = ['1111111111111111', '2222222222222222', '3333333333333333'];
    handlers.forEach((spanId, i) => {
      const requestId = `req-${i}`;
      const [start, end] = invocationEvents(requestId, i * 1000, i * 1000 + 80);
      env.conv.ingest([start as TelemetryEvent]);
      // The function's SDK exports before it answers: before runtimeDone.
      env.correlator.observeResourceSpans(handlerSpan(requestId, spanId));
      env.conv.ingest([end as TelemetryEvent]);
      env.collect(i * 1000 + 100);
    });
    const platform = env.spans().filter((s) => s.kind === 2);
    assert.equal(platform.length, 3);
    for (const span of platform) {
      assert.equal(span.traceId, EXECUTION_TRACE, 'in the execution trace');
      assert.equal(span.parentSpanId, ORIGINAL_PARENT, "under the execution's original parent");
      const a = attrs(span.attributes);
      assert.equal(a[ATTR_DURABLE_EXECUTION_ARN], EXECUTION_ARN);
      assert.equal(a[ATTR_DURABLE_EXECUTION_NAME], 'order-42');
      assert.equal(a[ATTR_DURABLE_EXECUTION_ID], '9b1d3a7c-0c1e-4f6a-9d2b-1f2e3d4c5b6a');
      assert.equal(a['aws.lambda.durable'], true);
    }
    assert.equal(env.correlator.outcomes['adopted-sibling'], 3);
    assert.equal(DURABLE_EXECUTION_ARN_ATTRIBUTE, ATTR_DURABLE_EXECUTION_ARN, 'one name on both sides');
  });

  it('marks metrics durable without the ARN (low cardinality)', () => {
    const env = setup();
    const [start, end] = invocationEvents('req-0', 0, 50);
    env.conv.ingest([start as TelemetryEvent]);
    env.correlator.observeResourceSpans(handlerSpan('req-0', '1111111111111111'));
    env.conv.ingest([end as TelemetryEvent]);
    env.collect(100, true);
    const invocations = env.metrics().find((m) => m.name === 'faas.invocations');
    const points = invocations?.sum?.dataPoints ?? [];
    assert.equal(points.length, 1);
    const a = attrs(points[0]?.attributes);
    assert.equal(a['aws.lambda.durable'], true);
    for (const metric of env.metrics()) {
      for (const p of [...(metric.sum?.dataPoints ?? []), ...(metric.histogram?.dataPoints ?? [])]) {
        const keys = Object.keys(attrs(p.attributes));
        assert.ok(!keys.some((k) => k.startsWith('aws.lambda.durable_execution')), `${metric.name}: ${keys}`);
      }
    }
  });

  it('recognises a durable function by its runtime version, before any span names an execution', () => {
    const env = setup('nodejs:22.DurableFunction.v6');
    const [start, end] = invocationEvents('req-0', 0, 50);
    env.conv.ingest([start as TelemetryEvent, end as TelemetryEvent]);
    env.collect(100, true);
    const platform = env.spans().find((s) => s.kind === 2);
    assert.equal(attrs(platform?.attributes)['aws.lambda.durable'], true);
    assert.equal(attrs(platform?.attributes)[ATTR_DURABLE_EXECUTION_ARN], undefined);
    const point = env.metrics().find((m) => m.name === 'faas.invocations')?.sum?.dataPoints[0];
    assert.equal(attrs(point?.attributes)['aws.lambda.durable'], true);
  });

  it('leaves an ordinary function alone', () => {
    const env = setup('nodejs:22.v40');
    const [start, end] = invocationEvents('req-0', 0, 50);
    env.conv.ingest([start as TelemetryEvent]);
    env.correlator.observeResourceSpans(handlerSpan('req-0', '1111111111111111', false));
    env.conv.ingest([end as TelemetryEvent]);
    env.collect(100, true);
    const platform = env.spans().find((s) => s.kind === 2);
    const a = attrs(platform?.attributes);
    assert.equal(a['aws.lambda.durable'], undefined);
    assert.equal(a[ATTR_DURABLE_EXECUTION_ARN], undefined);
    const point = env.metrics().find((m) => m.name === 'faas.invocations')?.sum?.dataPoints[0];
    assert.equal(attrs(point?.attributes)['aws.lambda.durable'], undefined);
  });

  it("names the execution on log records, from the durable SDK's own log lines too", () => {
    const env = setup();
    const requestId = '6f5c8d2e-1a2b-4c3d-8e9f-0a1b2c3d4e5f';
    const [start, end] = invocationEvents(requestId, 0, 50);
    const sdkLine = JSON.stringify({
      timestamp: new Date(T0 + 10).toISOString(),
      level: 'INFO',
      requestId,
      executionArn: EXECUTION_ARN,
      message: 'order accepted',
    });
    const lines: TelemetryEvent[] = [
      { type: 'function', timeMs: T0 + 10, message: sdkLine, structured: false },
      {
        type: 'function',
        timeMs: T0 + 11,
        message: `${new Date(T0 + 11).toISOString()}\t${requestId}\tINFO\tcharging the card`,
        structured: false,
      },
    ];
    env.conv.ingest([start as TelemetryEvent]);
    env.logs.ingest([start as TelemetryEvent, ...lines]);
    env.conv.ingest([end as TelemetryEvent]);
    env.logs.ingest([end as TelemetryEvent]);
    env.collect(100, true);
    const records = env.logRecords();
    assert.equal(records.length, 2);
    for (const r of records) {
      const a = attrs(r.attributes);
      assert.equal(a[ATTR_DURABLE_EXECUTION_ARN], EXECUTION_ARN, String(r.body?.stringValue));
      assert.equal(a[ATTR_DURABLE_EXECUTION_NAME], 'order-42');
    }
    const platform = env.spans().find((s) => s.kind === 2);
    assert.equal(
      attrs(platform?.attributes)[ATTR_DURABLE_EXECUTION_ARN],
      EXECUTION_ARN,
      'the log line named it',
    );
  });
});
