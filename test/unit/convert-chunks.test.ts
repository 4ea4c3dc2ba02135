// Chunk encoding: the resource's bytes are encoded once and spliced into each request; the result
// must be byte for byte what the OpenTelemetry serializers write with the real resource, whatever
// the resource (attributes of every kind, a schema URL or none, none at all, a new one later).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Attributes, SpanStatusCode } from '@opentelemetry/api';
import {
  ProtobufLogsSerializer,
  ProtobufMetricsSerializer,
  ProtobufTraceSerializer,
} from '@opentelemetry/otlp-transformer';
import { type Resource, resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { AggregationTemporality, DataPointType, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { encodeLogs, encodeMetrics, encodeSpans } from '../../src/convert/chunks.js';
import { internalSpan, serverSpan } from '../../src/convert/spans.js';

const SCOPE = { name: 'otel-lambda-extension', version: '1.0.0' };

const RICH: Attributes = {
  'cloud.provider': 'aws',
  'cloud.region': 'eu-west-1',
  'faas.name': 'orders-api',
  'faas.max_memory': 134217728,
  'faas.instance': '2026/12/04/[$LATEST]0123456789abcdef0123456789abcdef',
  'service.name': 'orders',
  'telemetry.sdk.language': 'nodejs',
  'process.pid': 7,
  'host.arch': 'amd64',
  'deployment.canary': true,
  ratio: 0.25,
  'aws.log.group.names': ['/aws/lambda/orders-api', '/aws/lambda/other'],
  empty: '',
  ünïcødé: 'välüe ✓',
};

const RESOURCES: [string, () => Resource][] = [
  [
    'many attributes and a schema URL',
    () => resourceFromAttributes(RICH, { schemaUrl: 'https://opentelemetry.io/schemas/1.37.0' }),
  ],
  ['many attributes, no schema URL', () => resourceFromAttributes(RICH)],
  ['no attributes', () => resourceFromAttributes({})],
  ['one long attribute', () => resourceFromAttributes({ 'x.big': 'v'.repeat(300) })],
];

function spans(n: number) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const identity = {
      traceId: `${'a'.repeat(31)}${i % 10}`,
      spanId: `${'b'.repeat(15)}${i % 10}`,
      ...(i % 2 === 1 && { parentSpanId: 'c'.repeat(16) }),
      sampled: i % 3 !== 0,
    };
    out.push(
      i % 2 === 0
        ? serverSpan(
            identity,
            true,
            `invoke ${i}`,
            1_764_800_000_000 + i,
            12.5,
            { 'faas.coldstart': i === 0 },
            { code: SpanStatusCode.UNSET },
            undefined,
            SCOPE,
          )
        : internalSpan(identity, 'init', 1_764_800_000_000, 3, { n: i }, undefined, undefined, SCOPE),
    );
  }
  return out;
}

function metrics(resource: Resource): ResourceMetrics {
  return {
    resource,
    scopeMetrics: [
      {
        scope: SCOPE,
        metrics: [
          {
            descriptor: { name: 'faas.invocations', description: '', unit: '{invocation}', valueType: 1 },
            dataPointType: DataPointType.SUM,
            isMonotonic: true,
            aggregationTemporality: AggregationTemporality.DELTA,
            dataPoints: [
              {
                startTime: [1_764_800_000, 0],
                endTime: [1_764_800_001, 5],
                attributes: { 'faas.trigger': 'http' },
                value: 3,
              },
            ],
          },
          {
            descriptor: { name: 'faas.invoke_duration', description: '', unit: 's', valueType: 1 },
            dataPointType: DataPointType.HISTOGRAM,
            aggregationTemporality: AggregationTemporality.DELTA,
            dataPoints: [
              {
                startTime: [1_764_800_000, 0],
                endTime: [1_764_800_001, 5],
                attributes: {},
                value: {
                  buckets: { boundaries: [0.005, 0.01, 0.1], counts: [1, 1, 0, 1] },
                  sum: 0.5,
                  count: 3,
                  min: 0.001,
                  max: 0.4,
                },
              },
            ],
          },
        ],
      },
    ],
  };
}

function logRecords(resources: Resource[]): ReadableLogRecord[] {
  return resources.map((resource, i) => ({
    hrTime: [1_764_800_000, i],
    hrTimeObserved: [1_764_800_000, i + 1],
    severityText: 'INFO',
    severityNumber: 9,
    body: `line ${i} ✓`,
    resource,
    instrumentationScope: SCOPE,
    attributes: { 'aws.lambda.request_id': `req-${i}` },
    droppedAttributesCount: 0,
  }));
}

describe('chunk encoding with a spliced resource', () => {
  for (const [label, make] of RESOURCES) {
    it(`traces: ${label}`, () => {
      const resource = make();
      const batch = spans(7);
      const chunk = encodeSpans(batch, resource);
      assert.ok(chunk);
      assert.deepEqual(chunk.protobuf, ProtobufTraceSerializer.serializeRequest(batch));
      assert.ok(
        batch.every((s) => s.resource === resource),
        'the spans keep the real resource (OTLP/JSON reads it)',
      );
      const [first] = (chunk.json().resourceSpans ?? []) as { resource?: { attributes?: unknown[] } }[];
      assert.equal(first?.resource?.attributes?.length ?? 0, Object.keys(resource.attributes).length);
    });

    it(`metrics: ${label}`, () => {
      const rm = metrics(make());
      const chunk = encodeMetrics(rm, 2, 0);
      assert.ok(chunk);
      assert.deepEqual(chunk.protobuf, ProtobufMetricsSerializer.serializeRequest(rm));
    });

    it(`logs: ${label}`, () => {
      const resource = make();
      const records = logRecords([resource, resource, resource]);
      const chunk = encodeLogs(records, 0);
      assert.ok(chunk);
      assert.deepEqual(chunk.protobuf, ProtobufLogsSerializer.serializeRequest(records));
      assert.ok(records.every((r) => r.resource === resource));
    });
  }

  it('a new resource (an attribute learned late) is encoded anew, and the old one still right', () => {
    const before = resourceFromAttributes({ 'faas.name': 'f' });
    const after = resourceFromAttributes({ 'faas.name': 'f', 'faas.instance': 'i-1' });
    for (const resource of [before, after, before]) {
      const batch = spans(2);
      assert.deepEqual(
        encodeSpans(batch, resource)?.protobuf,
        ProtobufTraceSerializer.serializeRequest(batch),
      );
    }
  });

  it('log records under two resources are encoded as the serializer groups them', () => {
    const a = resourceFromAttributes({ 'faas.name': 'a' });
    const b = resourceFromAttributes({ 'faas.name': 'b' });
    const records = logRecords([a, b, a]);
    assert.deepEqual(encodeLogs(records, 0)?.protobuf, ProtobufLogsSerializer.serializeRequest(records));
  });
});
