import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  INVOCATION_ID_ATTRIBUTE,
  LOG_TYPE_ATTRIBUTE,
  LogConverter,
  ORIGINAL_LENGTH_ATTRIBUTE,
  parseTextLine,
  TRUNCATED_ATTRIBUTE,
} from '../../src/convert/logs.js';
import { LOG_PREFIX } from '../../src/extension-log.js';
import type { LogLineEvent, TelemetryEvent } from '../../src/lambda/telemetry-events.js';
import type { ChunkSink, TelemetryChunk } from '../../src/model/chunk.js';
import type { LocatedLogRecord } from '../../tools/otlp/decode.js';
import { allLogRecords, attrs, decodeLogs, nanosToMs, plainValue } from '../../tools/otlp/decode.js';

const REQ = '8476a536-e9f4-11e8-9739-2dfe598c3fcd';
const REQ2 = '1b2c3d4e-0000-4000-8000-000000000002';
const TRACE = '5759e988bd862e3fe1be46a994272793';
const SPAN = '53995c3f42cd8ad8';
const T0 = Date.parse('2024-05-01T10:00:00.000Z');

const resource = resourceFromAttributes({ 'service.name': 'orders-fn', 'cloud.provider': 'aws' });

class Directory {
  readonly ids = new Map<string, { traceId: string; spanId: string; sampled?: boolean }>([
    [REQ, { traceId: TRACE, spanId: SPAN }],
  ]);
  lookupByRequestId(id: string) {
    return this.ids.get(id);
  }
}

class ListSink implements ChunkSink {
  chunks: TelemetryChunk[] = [];
  enqueue(chunk: TelemetryChunk): void {
    this.chunks.push(chunk);
  }
}

function text(message: string, type: 'function' | 'extension' = 'function', timeMs = T0 + 5): LogLineEvent {
  return { type, timeMs, message, structured: false };
}

function records(chunks: TelemetryChunk[]): LocatedLogRecord[] {
  for (const c of chunks) assert.equal(c.signal, 'logs');
  return chunks.flatMap((c) => allLogRecords(decodeLogs(c.protobuf)));
}

function convert(
  events: TelemetryEvent[],
  options: Partial<ConstructorParameters<typeof LogConverter>[0]> = {},
) {
  const sink = new ListSink();
  const converter = new LogConverter({ resource, directory: new Directory(), ...options }, sink);
  converter.ingest(events);
  const collected = converter.collect(T0 + 1000, false);
  return { converter, sink, collected, records: records([...sink.chunks, ...collected]) };
}

describe('text line formats', () => {
  test('Node console lines give time, request id, level, and the trace of the invocation', () => {
    const {
      records: [r],
      collected,
    } = convert([text(`2024-05-01T10:00:00.123Z\t${REQ}\tINFO\torder 7 placed\n`)]);
    assert.ok(r);
    assert.equal(plainValue(r.body), 'order 7 placed\n');
    assert.equal(r.severityNumber, 9);
    assert.equal(r.severityText, 'INFO');
    assert.equal(nanosToMs(r.timeUnixNano), T0 + 123);
    assert.equal(nanosToMs(r.observedTimeUnixNano), T0 + 5);
    assert.equal(attrs(r.attributes)[INVOCATION_ID_ATTRIBUTE], REQ);
    assert.equal(attrs(r.attributes)[LOG_TYPE_ATTRIBUTE], 'function');
    assert.equal(r.traceId, TRACE);
    assert.equal(r.spanId, SPAN);
    assert.equal(r.flags, 1);
    assert.equal(r.resource['service.name'], 'orders-fn');
    assert.equal(r.scope?.name, 'otel-lambda-extension');
    assert.equal(collected[0]?.items, 1);
  });

  test('Python logging lines', () => {
    const {
      records: [r],
    } = convert([text(`[ERROR]\t2024-05-01T10:00:01.500Z\t${REQ}\tpayment failed`)]);
    assert.equal(plainValue(r?.body), 'payment failed');
    assert.equal(r?.severityNumber, 17);
    assert.equal(r?.severityText, 'ERROR');
    assert.equal(nanosToMs(r?.timeUnixNano ?? '0'), T0 + 1500);
    assert.equal(r?.traceId, TRACE);
  });

  test('a leading level token, or none', () => {
    const { records: rs } = convert([
      text('[WARN] disk almost full'),
      text('WARNING: retrying'),
      text('error: lowercase still counts'),
      text('just a line'),
      text('INFORMATION is not a level'),
    ]);
    assert.deepEqual(
      rs.map((r) => [r.severityNumber, r.severityText]),
      [
        [13, 'WARN'],
        [13, 'WARNING'],
        [17, 'ERROR'],
        [0, ''],
        [0, ''],
      ],
    );
    // The text stays whole when only a level was recognised.
    assert.equal(plainValue(rs[0]?.body), '[WARN] disk almost full');
    // No request id anywhere and no invocation running: no trace.
    assert.equal(rs[0]?.traceId, '');
    assert.equal(attrs(rs[0]?.attributes)[INVOCATION_ID_ATTRIBUTE], undefined);
  });

  test("a line's own level word or JSON level wins over the runtime's INFO", () => {
    const { records: rs } = convert([
      text(`2024-05-01T10:00:00.123Z\t${REQ}\tINFO\tDEBUG cache miss for k1`),
      text(`2024-05-01T10:00:00.124Z\t${REQ}\tINFO\t{"level":"warn","msg":"slow call"}`),
      text(`[INFO]\t2024-05-01T10:00:00.125Z\t${REQ}\t{"level":50,"msg":"pino error"}`),
      text('{"level":"error","msg":"bare JSON from stdout"}'),
      // The runtime's own non-INFO level stays: console.error says ERROR whatever the text.
      text(`2024-05-01T10:00:00.126Z\t${REQ}\tERROR\tINFO: not really info`),
      text(`2024-05-01T10:00:00.127Z\t${REQ}\tINFO\t{"level":"chatty"}`),
      text(`2024-05-01T10:00:00.128Z\t${REQ}\tINFO\t{"level":"warn"`),
    ]);
    assert.deepEqual(
      rs.map((r) => [r.severityText, r.severityNumber]),
      [
        ['DEBUG', 5],
        ['WARN', 13],
        ['ERROR', 17],
        ['ERROR', 17],
        ['ERROR', 17],
        ['INFO', 9],
        ['INFO', 9],
      ],
    );
    assert.equal(plainValue(rs[0]?.body), 'DEBUG cache miss for k1', 'the body stays whole');
  });

  test('the Node init-phase request id "undefined" is not a request id', () => {
    const parsed = parseTextLine('2024-05-01T10:00:00.000Z\tundefined\tINFO\tloading config');
    assert.equal(parsed.requestId, undefined);
    assert.equal(parsed.level, 'INFO');
    assert.equal(parsed.body, 'loading config');
  });
});

describe('JSON log format', () => {
  test('level, request id and timestamp from the record; fields flattened one level', () => {
    const event: LogLineEvent = {
      type: 'function',
      timeMs: T0 + 50,
      structured: true,
      message: 'checkout failed',
      level: 'ERROR',
      requestId: REQ,
      recordTimeMs: T0 + 42,
      fields: {
        errorType: 'TypeError',
        ctx: { user: 'u1', items: 2, nested: { deep: true } },
        tags: ['a', 'b'],
        mixed: [1, 'x'],
        ok: false,
        nothing: null,
      },
    };
    const {
      records: [r],
    } = convert([event]);
    assert.ok(r);
    assert.equal(plainValue(r.body), 'checkout failed');
    assert.equal(r.severityNumber, 17);
    assert.equal(nanosToMs(r.timeUnixNano), T0 + 42);
    assert.equal(nanosToMs(r.observedTimeUnixNano), T0 + 50);
    assert.equal(r.traceId, TRACE);
    assert.deepEqual(attrs(r.attributes), {
      [LOG_TYPE_ATTRIBUTE]: 'function',
      [INVOCATION_ID_ATTRIBUTE]: REQ,
      errorType: 'TypeError',
      'ctx.user': 'u1',
      'ctx.items': 2,
      'ctx.nested': '{"deep":true}',
      tags: ['a', 'b'],
      mixed: '[1,"x"]',
      ok: false,
    });
  });

  test('an unknown level keeps its text without a severity number', () => {
    const {
      records: [r],
    } = convert([
      { type: 'function', timeMs: T0, structured: true, message: 'm', level: 'VERBOSE', requestId: REQ },
    ]);
    assert.equal(r?.severityText, 'VERBOSE');
    assert.equal(r?.severityNumber, 0);
  });

  test('the attribute count is bounded', () => {
    const fields: Record<string, number> = {};
    for (let i = 0; i < 100; i++) fields[`f${i}`] = i;
    const {
      records: [r],
    } = convert([{ type: 'function', timeMs: T0, structured: true, message: 'm', fields }], {
      maxAttributes: 10,
    });
    assert.equal(r?.attributes.length, 10);
    assert.equal(r?.droppedAttributesCount, 91);
  });
});

describe('which lines and which invocation', () => {
  test("the extension's own lines are skipped; other extensions' lines are kept", () => {
    const { records: rs, converter } = convert([
      text(`${LOG_PREFIX} WARN export failed: status 503`, 'extension'),
      text('[datadog] started', 'extension'),
    ]);
    assert.deepEqual(
      rs.map((r) => plainValue(r.body)),
      ['[datadog] started'],
    );
    assert.equal(attrs(rs[0]?.attributes)[LOG_TYPE_ATTRIBUTE], 'extension');
    assert.equal(converter.stats().ownLinesSkipped, 1);
  });

  test('lines without a request id belong to the single running invocation', () => {
    const { records: rs } = convert([
      { type: 'platform.start', timeMs: T0, requestId: REQ },
      text('fmt.Println from a Go handler'),
      { type: 'platform.runtimeDone', timeMs: T0 + 10, requestId: REQ, status: 'success', spans: [] },
      text('after the response'),
      { type: 'platform.start', timeMs: T0 + 20, requestId: REQ },
      { type: 'platform.start', timeMs: T0 + 21, requestId: REQ2 },
      text('two invocations running: ambiguous'),
    ]);
    assert.equal(attrs(rs[0]?.attributes)[INVOCATION_ID_ATTRIBUTE], REQ);
    assert.equal(rs[0]?.traceId, TRACE);
    assert.equal(attrs(rs[1]?.attributes)[INVOCATION_ID_ATTRIBUTE], undefined);
    assert.equal(attrs(rs[2]?.attributes)[INVOCATION_ID_ATTRIBUTE], undefined);
  });

  test('trace ids are resolved at collect time, after a possible adoption', () => {
    const sink = new ListSink();
    const directory = new Directory();
    const converter = new LogConverter({ resource, directory }, sink);
    converter.ingest([text(`2024-05-01T10:00:00.000Z\t${REQ}\tINFO\tbefore adoption`)]);
    directory.ids.set(REQ, { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: SPAN, sampled: false });
    const [r] = records(converter.collect(T0, false));
    assert.equal(r?.traceId, '0af7651916cd43dd8448eb211c80319c');
    assert.equal(r?.flags, 0);
    assert.equal(converter.pendingRecords, 0);
  });

  test('platform summaries are off by default and readable when on', () => {
    const events: TelemetryEvent[] = [
      { type: 'platform.start', timeMs: T0, requestId: REQ, version: '$LATEST' },
      { type: 'platform.runtimeDone', timeMs: T0 + 100, requestId: REQ, status: 'success', spans: [] },
      {
        type: 'platform.report',
        timeMs: T0 + 120,
        requestId: REQ,
        status: 'timeout',
        errorType: 'Sandbox.Timedout',
        durationMs: 3000.5,
        billedDurationMs: 3000,
        memorySizeMB: 128,
        maxMemoryUsedMB: 70,
        initDurationMs: 150.25,
        spans: [],
      },
    ];
    assert.equal(convert(events).records.length, 0);
    const { records: rs } = convert(events, { platformLines: true });
    assert.deepEqual(
      rs.map((r) => plainValue(r.body)),
      [
        `START RequestId: ${REQ} Version: $LATEST`,
        `END RequestId: ${REQ}`,
        `REPORT RequestId: ${REQ}\tDuration: 3000.50 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 70 MB\tInit Duration: 150.25 ms\tStatus: timeout\tError Type: Sandbox.Timedout`,
      ],
    );
    assert.deepEqual(
      rs.map((r) => r.severityNumber),
      [9, 9, 17],
    );
    assert.ok(rs.every((r) => r.traceId === TRACE && attrs(r.attributes)[LOG_TYPE_ATTRIBUTE] === 'platform'));
  });
});

describe('limits', () => {
  test('an oversized record is cut on a character boundary and flagged', () => {
    const huge = `${'é'.repeat(150 * 1024)}tail`; // 300 KiB + 4 bytes of UTF-8
    const {
      records: [r],
      converter,
    } = convert([text(huge), text('small')]);
    assert.ok(r);
    const body = plainValue(r.body) as string;
    assert.ok(Buffer.byteLength(body) <= 256 * 1024);
    assert.ok(Buffer.byteLength(body) > 256 * 1024 - 4);
    assert.ok(!body.includes('\uFFFD'), 'no broken character');
    assert.equal(attrs(r.attributes)[TRUNCATED_ATTRIBUTE], true);
    assert.equal(attrs(r.attributes)[ORIGINAL_LENGTH_ATTRIBUTE], Buffer.byteLength(huge));
    assert.equal(converter.stats().truncated, 1);
  });

  test('long attribute values are cut and flagged too', () => {
    const {
      records: [r],
    } = convert(
      [
        {
          type: 'function',
          timeMs: T0,
          structured: true,
          message: 'm',
          fields: { stack: 'x'.repeat(20_000) },
        },
      ],
      { maxAttributeValueBytes: 1000 },
    );
    assert.equal((attrs(r?.attributes).stack as string).length, 1000);
    assert.equal(attrs(r?.attributes)[TRUNCATED_ATTRIBUTE], true);
  });

  test('at most 1,000 records per chunk; full batches go to the sink at once', () => {
    const sink = new ListSink();
    const converter = new LogConverter({ resource }, sink);
    converter.ingest(Array.from({ length: 2500 }, (_, i) => text(`line ${i}`)));
    assert.deepEqual(
      sink.chunks.map((c) => c.items),
      [1000, 1000],
    );
    assert.equal(converter.pendingRecords, 500);
    const rest = converter.collect(T0, true);
    assert.deepEqual(
      rest.map((c) => c.items),
      [500],
    );
    const bodies = records([...sink.chunks, ...rest]).map((r) => plainValue(r.body));
    assert.equal(bodies.length, 2500);
    assert.equal(bodies[0], 'line 0');
    assert.equal(bodies[2499], 'line 2499');
  });

  test('at most 5 MiB per chunk', () => {
    const sink = new ListSink();
    const converter = new LogConverter({ resource }, sink);
    const line = 'y'.repeat(250 * 1024);
    converter.ingest(Array.from({ length: 45 }, () => text(line)));
    const chunks = [...sink.chunks, ...converter.collect(T0, true)];
    assert.ok(chunks.length >= 3);
    for (const c of chunks) assert.ok(c.bytes <= 5 * 1024 * 1024, `chunk of ${c.bytes} bytes`);
    assert.equal(
      chunks.reduce((n, c) => n + c.items, 0),
      45,
    );
  });

  test('the JSON view of a chunk is OTLP/JSON', () => {
    const { collected } = convert([text(`2024-05-01T10:00:00.000Z\t${REQ}\tINFO\thi`)]);
    const json = collected[0]?.json() as {
      resourceLogs: { scopeLogs: { logRecords: { traceId: string; body: { stringValue: string } }[] }[] }[];
    };
    const record = json.resourceLogs[0]?.scopeLogs[0]?.logRecords[0];
    assert.equal(record?.traceId, TRACE);
    assert.equal(record?.body.stringValue, 'hi');
  });
});
