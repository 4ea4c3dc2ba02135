// The processors: rules read from a real configuration file (validation with precise errors), then
// applied to encoded OTLP chunks: filter, attributes (insert/update/upsert/delete/hash) and resource
// in their fixed order, untouched signals passed without decoding, and run-time failures counted.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import type { Signal, TelemetryChunk } from '../../src/model/chunk.js';
import { TelemetryProcessor } from '../../src/process/telemetry-processor.js';
import { loadedOtlpSchema, loadOtlpSchema } from '../../src/receiver/otlp-schema.js';
import {
  allLogRecords,
  allMetrics,
  allSpans,
  attrs,
  dataPoints,
  decodeLogs,
  decodeMetrics,
  decodeTraces,
  encodeRequest,
} from '../../tools/otlp/decode.js';

const root = mkdtempSync(join(tmpdir(), 'processors-'));
after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;

async function load(yaml: string) {
  const taskRoot = join(root, String(counter++));
  mkdirSync(taskRoot);
  writeFileSync(join(taskRoot, 'otel-lambda-extension.yaml'), yaml);
  return loadConfig({ env: {}, layerDir: join(root, 'none'), taskRoot });
}

async function processorFor(yaml: string, failures: string[] = []): Promise<TelemetryProcessor> {
  const loaded = await load(yaml);
  assert.deepEqual(
    loaded.errors.map((e) => e.message),
    [],
  );
  return new TelemetryProcessor(loaded.config.processors, loadedOtlpSchema, (m) => failures.push(m));
}

function chunk(signal: Signal, request: object, items: number): TelemetryChunk {
  const protobuf = encodeRequest(signal, request);
  return {
    signal,
    items,
    bytes: protobuf.byteLength,
    createdAtMs: 1234,
    protobuf,
    json: () => {
      throw new Error('not used');
    },
  };
}

const str = (key: string, value: string) => ({ key, value: { stringValue: value } });
const span = (name: string, attributes: object[] = []) => ({
  traceId: Buffer.alloc(16, 1),
  spanId: Buffer.alloc(8, name.length),
  name,
  kind: 2,
  startTimeUnixNano: '1700000000000000000',
  endTimeUnixNano: '1700000000100000000',
  attributes,
});

const TRACES = {
  resourceSpans: [
    {
      resource: { attributes: [str('service.name', 'fn'), str('cloud.region', 'eu-west-1')] },
      scopeSpans: [
        {
          spans: [
            span('GET /health', [str('http.route', '/health')]),
            span('GET /orders', [str('http.route', '/orders'), str('user.email', 'a@example.com')]),
            span('GET /ready'),
            span('db', [str('db.system', 'dynamodb'), { key: 'retries', value: { intValue: 2 } }]),
          ],
        },
      ],
    },
    {
      resource: { attributes: [str('service.name', 'health-only')] },
      scopeSpans: [{ spans: [span('GET /health', [str('http.route', '/health')])] }],
    },
  ],
};

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

before(async () => {
  await loadOtlpSchema();
});

describe('processors configuration', () => {
  it('reports every invalid rule with its key path and file line', async () => {
    const loaded = await load(
      [
        'processors:', // 1
        '  filter:', // 2
        '    spans:', // 3
        '      - name_pattern: "([a-z"', // 4
        '      - value: x', // 5
        '    log_records:', // 6
        '      - severity_below: loud', // 7
        '  attributes:', // 8
        '    - key: user.email', // 9
        '      action: insert', // 10
        '    - pattern: "^x"', // 11
        '      action: upsert', // 12
        '      value: y', // 13
        '    - key: a', // 14
        '      action: delete', // 15
        '      value: z', // 16
        '    - key: b', // 17
        '      signals: [traces, spans]', // 18
        '      value: w', // 19
        '  resource:', // 20
        '    - action: upsert', // 21
        '      value: v', // 22
      ].join('\n'),
    );
    const text = loaded.errors.map((e) => `${e.key}: ${e.problem}`).join('\n');
    assert.match(text, /processors\.filter\.spans\[0\]\.name_pattern: is not a valid regular expression/);
    assert.match(text, /processors\.filter\.spans\[1\]\.value: needs `attribute`/);
    assert.match(
      text,
      /processors\.filter\.spans\[1\]: a condition needs at least one of name, name_pattern, attribute/,
    );
    assert.match(
      text,
      /processors\.filter\.log_records\[0\]\.severity_below: expected one of trace \| debug/,
    );
    assert.match(text, /processors\.attributes\[0\]\.value: insert needs a value/);
    assert.match(
      text,
      /processors\.attributes\[1\]\.pattern: only delete and hash take a pattern, not upsert/,
    );
    assert.match(text, /processors\.attributes\[2\]\.value: delete takes no value/);
    assert.match(
      text,
      /processors\.attributes\[3\]\.signals\[1\]: expected one of traces \| metrics \| logs, got "spans"/,
    );
    assert.match(text, /processors\.resource\[0\]: needs exactly one of key, pattern/);
    // Each with the line it is on.
    assert.ok(
      loaded.errors.every((e) => /:\d+/.test(e.where)),
      JSON.stringify(loaded.errors.map((e) => e.where)),
    );
  });

  it('no rules: nothing is active and chunks pass as they are', async () => {
    const processor = await processorFor('log_level: warn\n');
    assert.equal(processor.enabled, false);
    const input = chunk('traces', TRACES, 5);
    assert.equal(processor.process(input), input);
  });
});

describe('processors on OTLP chunks', () => {
  it('filters spans, then acts on attributes, then on the resource', async () => {
    const processor = await processorFor(
      [
        'processors:',
        '  filter:',
        '    spans:',
        '      - name_pattern: ^GET /(health|ready)$',
        '      - attribute: db.system',
        '        value: redis',
        '  attributes:',
        '    - key: user.email',
        '      action: hash',
        '    - key: retries',
        '      action: hash',
        '    - key: team',
        '      action: insert',
        '      value: payments',
        '    - key: http.route',
        '      action: update',
        '      value: redacted',
        '    - pattern: ^db\\.',
        '      action: delete',
        '  resource:',
        '    - key: deployment.environment.name',
        '      action: upsert',
        '      value: production',
        '    - key: cloud.region',
        '      action: delete',
      ].join('\n'),
    );
    assert.equal(processor.active('traces'), true);
    const out = processor.process(chunk('traces', TRACES, 5));
    assert.ok(out);
    assert.equal(out.items, 2);
    assert.equal(out.createdAtMs, 1234);
    assert.equal(out.bytes, out.protobuf.byteLength);
    const decoded = decodeTraces(out.protobuf);
    // The resource that only had health checks is gone.
    assert.equal(decoded.resourceSpans.length, 1);
    assert.deepEqual(attrs(decoded.resourceSpans[0]?.resource?.attributes), {
      'service.name': 'fn',
      'deployment.environment.name': 'production',
    });
    const spans = allSpans(decoded);
    assert.deepEqual(
      spans.map((s) => s.name),
      ['GET /orders', 'db'],
    );
    assert.deepEqual(attrs(spans[0]?.attributes), {
      'http.route': 'redacted',
      'user.email': sha256('a@example.com'),
      team: 'payments',
    });
    assert.deepEqual(attrs(spans[1]?.attributes), { retries: sha256('2'), team: 'payments' });
    assert.deepEqual(processor.counters.filtered, { traces: 3, metrics: 0, logs: 0 });
    assert.deepEqual(
      processor.observedCounters().map((c) => [c.attributes, c.value]),
      [[{ signal: 'traces', reason: 'filtered' }, 3]],
    );
  });

  it('a chunk with nothing left is dropped; signals without rules are not decoded', async () => {
    const processor = await processorFor(
      [
        'processors:',
        '  filter:',
        '    spans:',
        '      - name: GET /health',
        '      - name: GET /ready',
      ].join('\n'),
    );
    const onlyHealth = chunk('traces', { resourceSpans: [TRACES.resourceSpans[1]] }, 1);
    assert.equal(processor.process(onlyHealth), undefined);
    // Not decodable at all, but no rule concerns logs: passed as it is, never decoded.
    const logs: TelemetryChunk = { ...chunk('logs', {}, 1), protobuf: Buffer.from([0xff, 0xff]) };
    assert.equal(processor.active('logs'), false);
    assert.equal(processor.process(logs), logs);
  });

  it('log records by severity and body; metric data points by name and attribute', async () => {
    const processor = await processorFor(
      [
        'processors:',
        '  filter:',
        '    log_records:',
        '      - severity_below: info',
        '      - body_pattern: ^START RequestId',
        '    metrics:',
        '      - name: noisy',
        '      - attribute: route',
        '        value: /health',
      ].join('\n'),
    );
    const logs = processor.process(
      chunk(
        'logs',
        {
          resourceLogs: [
            {
              scopeLogs: [
                {
                  logRecords: [
                    { severityNumber: 5, body: { stringValue: 'debug detail' } },
                    { severityNumber: 9, body: { stringValue: 'START RequestId: 1' } },
                    { severityNumber: 13, body: { stringValue: 'kept warning' } },
                    { body: { stringValue: 'no severity: kept' } },
                  ],
                },
              ],
            },
          ],
        },
        4,
      ),
    );
    assert.deepEqual(
      allLogRecords(decodeLogs((logs as TelemetryChunk).protobuf)).map((r) => r.body?.stringValue),
      ['kept warning', 'no severity: kept'],
    );
    const metrics = processor.process(
      chunk(
        'metrics',
        {
          resourceMetrics: [
            {
              scopeMetrics: [
                {
                  metrics: [
                    { name: 'noisy', gauge: { dataPoints: [{ asInt: '1' }] } },
                    {
                      name: 'requests',
                      sum: {
                        aggregationTemporality: 1,
                        isMonotonic: true,
                        dataPoints: [
                          { asInt: '1', attributes: [str('route', '/health')] },
                          { asInt: '2', attributes: [str('route', '/orders')] },
                        ],
                      },
                    },
                  ],
                },
              ],
            },
          ],
        },
        3,
      ),
    );
    assert.ok(metrics);
    assert.equal(metrics.items, 1);
    const kept = allMetrics(decodeMetrics(metrics.protobuf));
    assert.deepEqual(
      kept.map((m) => m.name),
      ['requests'],
    );
    assert.deepEqual(
      dataPoints(kept[0] as never).map((p) => attrs(p.attributes)['route']),
      ['/orders'],
    );
    assert.deepEqual(processor.counters.filtered, { traces: 0, metrics: 2, logs: 2 });
  });

  it('a chunk that cannot be processed is passed on and counted, or dropped and counted when a redaction applies', async () => {
    const failures: string[] = [];
    const filtering = await processorFor(
      ['processors:', '  filter:', '    spans:', '      - name: GET /health'].join('\n'),
      failures,
    );
    const corrupt: TelemetryChunk = { ...chunk('traces', {}, 3), protobuf: Buffer.from([0x0a, 0x10, 0x01]) };
    assert.equal(filtering.process(corrupt), corrupt);
    assert.equal(filtering.counters.failedPassed, 1);
    assert.match(failures[0] ?? '', /chunk passed on unprocessed/);

    const redacting = await processorFor(
      ['processors:', '  attributes:', '    - key: user.email', '      action: hash'].join('\n'),
      failures,
    );
    assert.equal(redacting.process(corrupt), undefined);
    assert.equal(redacting.counters.failedDroppedItems, 3);
    assert.match(failures[1] ?? '', /3 items dropped \(a redaction applies\)/);
    assert.deepEqual(
      redacting.observedCounters().map((c) => [c.attributes, c.value]),
      [[{ reason: 'processor_error' }, 3]],
    );
  });

  it('chunks that come before the schema has loaded wait for it, then go through the rules', async () => {
    const processor = await processorFor(
      ['processors:', '  filter:', '    spans:', '      - name: GET /health'].join('\n'),
    );
    let release: () => void = () => {};
    processor.loadSchema(new Promise<void>((resolve) => (release = resolve)));
    const got: TelemetryChunk[] = [];
    const sink = processor.sink({ enqueue: (c) => got.push(c) });
    sink.enqueue(chunk('traces', TRACES, 5));
    const producer = processor.producer({ collect: () => [chunk('traces', TRACES, 5)] });
    assert.deepEqual(producer.collect(0, false), []);
    assert.equal(got.length, 0);
    release();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(got.length, 1);
    assert.equal(got[0]?.items, 3);
    // The chunk the producer held comes with the next collect, processed.
    assert.deepEqual(
      producer.collect(1, true).map((c) => c.items),
      [3, 3],
    );
  });
});
