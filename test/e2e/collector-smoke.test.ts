// Proves the test collector harness against the real OpenTelemetry Collector binary: OTLP/HTTP in
// (protobuf and JSON), file exporter out, and the fault controls (pause, kill, restart, late start).
// The first run builds the collector (minutes, cold); afterwards this file takes a few seconds.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpanKind, SpanStatusCode, TraceFlags } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { attributesToObject, startCollector } from '../support/collector/collector.js';
import { randomHex } from '../support/e2e-harness.js';
import { useCollector } from '../support/collector-suite.js';

const col = useCollector({ control: true });

function postOtlp(url: string, body: Uint8Array | string, contentType: string, timeoutMs = 5000) {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body,
    signal: AbortSignal.timeout(timeoutMs),
  });
}

function logsRequest(body: string, traceId: string, spanId: string) {
  return JSON.stringify({
    resourceLogs: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'smoke-fn' } }] },
        scopeLogs: [
          {
            scope: { name: 'smoke-scope' },
            logRecords: [
              {
                timeUnixNano: '1700000000123000000',
                severityNumber: 9,
                severityText: 'INFO',
                body: { stringValue: body },
                attributes: [{ key: 'faas.invocation_id', value: { stringValue: 'req-1' } }],
                traceId,
                spanId,
              },
            ],
          },
        ],
      },
    ],
  });
}

test('a protobuf trace request made by ProtobufTraceSerializer comes back out of the file exporter', async () => {
  const traceId = randomHex(16);
  const spanId = randomHex(8);
  const parentSpanId = randomHex(8);
  const span: ReadableSpan = {
    name: 'smoke-invoke',
    kind: SpanKind.SERVER,
    spanContext: () => ({ traceId, spanId, traceFlags: TraceFlags.SAMPLED }),
    parentSpanContext: { traceId, spanId: parentSpanId, traceFlags: TraceFlags.SAMPLED, isRemote: true },
    startTime: [1_700_000_000, 5_000_000],
    endTime: [1_700_000_001, 0],
    status: { code: SpanStatusCode.ERROR, message: 'boom' },
    attributes: {
      'faas.trigger': 'http',
      'faas.coldstart': true,
      'http.status': 502,
      ratio: 0.25,
      tags: ['a', 'b'],
    },
    links: [],
    events: [],
    duration: [0, 995_000_000],
    ended: true,
    resource: resourceFromAttributes({ 'service.name': 'smoke-fn', 'cloud.provider': 'aws' }),
    instrumentationScope: { name: 'smoke-scope', version: '1.2.3' },
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
  const body = ProtobufTraceSerializer.serializeRequest([span]);
  assert.ok(body, 'serializer produced no bytes');

  const res = await postOtlp(`${col.endpoint}/v1/traces`, body, 'application/x-protobuf');
  assert.equal(res.status, 200, await res.text());

  // No batching in the collector: once answered, the request is already in the file.
  const out = await col.read();
  const found = out.spans.filter((s) => s.item.traceId === traceId);
  assert.equal(found.length, 1, `expected the span once, got ${found.length}; ${col.stderr().slice(-1000)}`);
  const { item, resource, scope } = found[0]!;
  assert.equal(item.name, 'smoke-invoke');
  assert.equal(item.spanId, spanId);
  assert.equal(item.parentSpanId, parentSpanId);
  assert.equal(item.kind, 2); // OTLP SPAN_KIND_SERVER
  assert.equal(item.startTimeUnixNano, '1700000000005000000');
  assert.equal(item.endTimeUnixNano, '1700000001000000000');
  assert.deepEqual(item.status, { code: 2, message: 'boom' });
  assert.deepEqual(attributesToObject(item.attributes), {
    'faas.trigger': 'http',
    'faas.coldstart': true,
    'http.status': 502,
    ratio: 0.25,
    tags: ['a', 'b'],
  });
  assert.deepEqual(attributesToObject(resource.attributes), {
    'service.name': 'smoke-fn',
    'cloud.provider': 'aws',
  });
  assert.equal(scope.name, 'smoke-scope');
  assert.equal(scope.version, '1.2.3');
  assert.equal((await col.readTraces()).length, out.traces.length);
});

test('a JSON logs request comes back with its body, attributes and ids', async () => {
  const traceId = randomHex(16);
  const spanId = randomHex(8);
  const res = await postOtlp(
    `${col.endpoint}/v1/logs`,
    logsRequest('hello from smoke', traceId, spanId),
    'application/json',
  );
  assert.equal(res.status, 200, await res.text());

  const out = await col.waitFor((o) => o.logRecords.some((r) => r.item.traceId === traceId), 3000);
  const rec = out.logRecords.find((r) => r.item.traceId === traceId)!;
  assert.deepEqual(rec.item.body, { stringValue: 'hello from smoke' });
  assert.equal(rec.item.spanId, spanId);
  assert.equal(rec.item.severityNumber, 9);
  assert.equal(rec.item.timeUnixNano, '1700000000123000000');
  assert.deepEqual(attributesToObject(rec.item.attributes), { 'faas.invocation_id': 'req-1' });
  assert.deepEqual(attributesToObject(rec.resource.attributes), { 'service.name': 'smoke-fn' });
  assert.equal((await col.readLogs()).length, out.logs.length);
  assert.deepEqual(await col.readMetrics(), []);
});

test('clear() hides earlier output from later reads', async () => {
  await col.clear();
  assert.equal((await col.read()).logRecords.length, 0);
  const traceId = randomHex(16);
  const res = await postOtlp(
    `${col.endpoint}/v1/logs`,
    logsRequest('after clear', traceId, randomHex(8)),
    'application/json',
  );
  assert.equal(res.status, 200);
  const out = await col.read();
  assert.deepEqual(
    out.logRecords.map((r) => r.item.traceId),
    [traceId],
  );
});

test('pause() hangs requests until resume(); kill() refuses them until restart() on the same port', async () => {
  col.pause();
  await assert.rejects(
    postOtlp(
      `${col.endpoint}/v1/logs`,
      logsRequest('while paused', randomHex(16), randomHex(8)),
      'application/json',
      300,
    ),
    (err: Error) => err.name === 'TimeoutError',
  );
  col.resume();
  const okAfterResume = await postOtlp(
    `${col.endpoint}/v1/logs`,
    logsRequest('resumed', randomHex(16), randomHex(8)),
    'application/json',
  );
  assert.equal(okAfterResume.status, 200);

  const endpoint = col.endpoint;
  const before = (await col.read()).logRecords.length;
  await col.kill();
  assert.equal(col.running, false);
  await assert.rejects(
    postOtlp(
      `${endpoint}/v1/logs`,
      logsRequest('while down', randomHex(16), randomHex(8)),
      'application/json',
    ),
    (err: Error & { cause?: { code?: string } }) => err.cause?.code === 'ECONNREFUSED',
  );

  await col.restart();
  assert.equal(col.endpoint, endpoint);
  assert.equal(col.running, true);
  const traceId = randomHex(16);
  const res = await postOtlp(
    `${endpoint}/v1/logs`,
    logsRequest('after restart', traceId, randomHex(8)),
    'application/json',
  );
  assert.equal(res.status, 200);
  const out = await col.read();
  // Output written before the crash survives the restart (the exporter appends).
  assert.equal(out.logRecords.length, before + 1);
  assert.equal(out.logRecords.at(-1)?.item.traceId, traceId);
});

test('start: false reserves the endpoint with nothing listening until restart()', async () => {
  const late = await startCollector({ start: false });
  try {
    assert.equal(late.running, false);
    await assert.rejects(
      postOtlp(
        `${late.endpoint}/v1/logs`,
        logsRequest('too early', randomHex(16), randomHex(8)),
        'application/json',
      ),
      (err: Error & { cause?: { code?: string } }) => err.cause?.code === 'ECONNREFUSED',
    );
    await late.restart();
    const res = await postOtlp(
      `${late.endpoint}/v1/logs`,
      logsRequest('late', randomHex(16), randomHex(8)),
      'application/json',
    );
    assert.equal(res.status, 200);
    assert.equal((await late.read()).logRecords.length, 1);
  } finally {
    await late.stop();
  }
});
