import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createExtensionLogger } from '../../src/extension-log.js';
import type { TelemetryEvent } from '../../src/lambda/telemetry-events.js';
import { parseIsoTimeMs, TelemetryParser } from '../../src/lambda/telemetry-parse.js';

function setup() {
  const lines: string[] = [];
  const logger = createExtensionLogger({ level: 'debug', write: (l) => lines.push(l) });
  return { parser: new TelemetryParser({ logger }), lines };
}

const T = '2024-05-01T10:00:00.123Z';
const T_MS = Date.parse(T);
const tracing = {
  type: 'X-Amzn-Trace-Id',
  value: 'Root=1-6632144c-0123456789abcdef01234567;Parent=1122334455667788;Sampled=1',
};
const spans = [{ name: 'responseLatency', start: '2024-05-01T10:00:00.200Z', durationMs: 12.5 }];

function only(parser: TelemetryParser, record: unknown): TelemetryEvent {
  const events = parser.parseRecords([record]);
  assert.equal(events.length, 1, 'one event expected');
  return events[0] as TelemetryEvent;
}

describe('parseIsoTimeMs', () => {
  test('matches Date.parse at millisecond precision, with and without offsets', () => {
    for (const s of [
      '2024-05-01T10:00:00.123Z',
      '2024-05-01T10:00:00Z',
      '2024-02-29T23:59:59.999Z',
      '1999-12-31T23:59:59.5Z',
      '2024-05-01T12:00:00.123+02:00',
      '2024-05-01T05:30:00.000-04:30',
    ]) {
      assert.equal(parseIsoTimeMs(s), Date.parse(s), s);
    }
  });
  test('keeps sub-millisecond digits', () => {
    assert.equal(parseIsoTimeMs('2024-05-01T10:00:00.123456Z'), T_MS + 0.456);
    assert.ok(Math.abs(parseIsoTimeMs('2024-05-01T10:00:00.123456789Z') - (T_MS + 0.456789)) < 1e-3);
  });
  test('the one-entry cache does not leak between different seconds', () => {
    assert.equal(parseIsoTimeMs('2024-05-01T10:00:01.000Z'), Date.parse('2024-05-01T10:00:01.000Z'));
    assert.equal(parseIsoTimeMs('2024-05-01T10:00:02.000Z'), Date.parse('2024-05-01T10:00:02.000Z'));
    assert.equal(parseIsoTimeMs('2024-05-01T10:00:01.500Z'), Date.parse('2024-05-01T10:00:01.500Z'));
  });
  test('NaN for garbage', () => {
    assert.ok(Number.isNaN(parseIsoTimeMs('not a time')));
    assert.ok(Number.isNaN(parseIsoTimeMs('2024-13-01T10:00:00.000Z')));
    assert.ok(Number.isNaN(parseIsoTimeMs('2024-05-01T10:00:00.Z')));
  });
});

describe('TelemetryParser: platform records', () => {
  test('initStart with all facts', () => {
    const { parser } = setup();
    const e = only(parser, {
      time: T,
      type: 'platform.initStart',
      record: {
        initializationType: 'on-demand',
        phase: 'init',
        functionName: 'fn',
        functionVersion: '$LATEST',
        instanceId: 'i-1',
        instanceMaxMemory: 134217728,
        runtimeVersion: 'nodejs:20.v1',
        runtimeVersionArn: 'arn:aws:lambda:…',
      },
    });
    assert.deepEqual(e, {
      type: 'platform.initStart',
      timeMs: T_MS,
      initializationType: 'on-demand',
      phase: 'init',
      functionName: 'fn',
      functionVersion: '$LATEST',
      instanceId: 'i-1',
      instanceMaxMemory: 134217728,
      runtimeVersion: 'nodejs:20.v1',
      runtimeVersionArn: 'arn:aws:lambda:…',
    });
  });

  test('initRuntimeDone and initReport (with error type and spans)', () => {
    const { parser } = setup();
    const done = only(parser, {
      time: T,
      type: 'platform.initRuntimeDone',
      record: {
        initializationType: 'snap-start',
        phase: 'init',
        status: 'error',
        errorType: 'Runtime.ExitError',
        spans,
      },
    });
    assert.deepEqual(done, {
      type: 'platform.initRuntimeDone',
      timeMs: T_MS,
      initializationType: 'snap-start',
      phase: 'init',
      status: 'error',
      errorType: 'Runtime.ExitError',
      spans: [{ name: 'responseLatency', startMs: Date.parse(spans[0]!.start), durationMs: 12.5 }],
    });
    const report = only(parser, {
      time: T,
      type: 'platform.initReport',
      record: {
        initializationType: 'on-demand',
        phase: 'init',
        status: 'success',
        metrics: { durationMs: 250.7 },
      },
    });
    assert.equal(report.type, 'platform.initReport');
    assert.equal((report as { durationMs: number }).durationMs, 250.7);
    assert.deepEqual((report as { spans: unknown[] }).spans, []);
  });

  test('start, runtimeDone, report', () => {
    const { parser } = setup();
    assert.deepEqual(
      only(parser, {
        time: T,
        type: 'platform.start',
        record: { requestId: 'r1', version: '$LATEST', tracing },
      }),
      { type: 'platform.start', timeMs: T_MS, requestId: 'r1', version: '$LATEST', tracing },
    );
    assert.deepEqual(
      only(parser, {
        time: T,
        type: 'platform.runtimeDone',
        record: {
          requestId: 'r1',
          status: 'success',
          metrics: { durationMs: 20.1, producedBytes: 42 },
          spans,
          tracing,
        },
      }),
      {
        type: 'platform.runtimeDone',
        timeMs: T_MS,
        requestId: 'r1',
        status: 'success',
        durationMs: 20.1,
        producedBytes: 42,
        spans: [{ name: 'responseLatency', startMs: Date.parse(spans[0]!.start), durationMs: 12.5 }],
        tracing,
      },
    );
    assert.deepEqual(
      only(parser, {
        time: T,
        type: 'platform.report',
        record: {
          requestId: 'r1',
          status: 'timeout',
          errorType: 'Sandbox.Timedout',
          metrics: {
            durationMs: 3000.5,
            billedDurationMs: 3001,
            memorySizeMB: 128,
            maxMemoryUsedMB: 70,
            initDurationMs: 200.2,
          },
        },
      }),
      {
        type: 'platform.report',
        timeMs: T_MS,
        requestId: 'r1',
        status: 'timeout',
        errorType: 'Sandbox.Timedout',
        durationMs: 3000.5,
        billedDurationMs: 3001,
        memorySizeMB: 128,
        maxMemoryUsedMB: 70,
        initDurationMs: 200.2,
        spans: [],
      },
    );
  });

  test('restore events, extension, telemetrySubscription, logsDropped', () => {
    const { parser } = setup();
    const events = parser.parseRecords([
      { time: T, type: 'platform.restoreStart', record: { functionName: 'fn', functionVersion: '3' } },
      { time: T, type: 'platform.restoreRuntimeDone', record: { status: 'success' } },
      { time: T, type: 'platform.restoreReport', record: { status: 'success', metrics: { durationMs: 90 } } },
      {
        time: T,
        type: 'platform.extension',
        record: { name: 'ext', state: 'Ready', events: ['INVOKE', 'SHUTDOWN'] },
      },
      {
        time: T,
        type: 'platform.telemetrySubscription',
        record: { name: 'ext', state: 'Subscribed', types: ['platform', 'function'] },
      },
      {
        time: T,
        type: 'platform.logsDropped',
        record: { droppedBytes: 1000, droppedRecords: 3, reason: 'slow' },
      },
    ]);
    assert.deepEqual(
      events.map((e) => e.type),
      [
        'platform.restoreStart',
        'platform.restoreRuntimeDone',
        'platform.restoreReport',
        'platform.extension',
        'platform.telemetrySubscription',
        'platform.logsDropped',
      ],
    );
    assert.equal((events[0] as { functionVersion?: string }).functionVersion, '3');
    assert.equal((events[2] as { durationMs?: number }).durationMs, 90);
    assert.deepEqual((events[3] as { events: string[] }).events, ['INVOKE', 'SHUTDOWN']);
    assert.deepEqual((events[4] as { types: string[] }).types, ['platform', 'function']);
    assert.equal((events[5] as { droppedRecords: number }).droppedRecords, 3);
    assert.equal(parser.stats.received, 6);
    assert.equal(parser.stats.parsed['platform.logsDropped'], 1);
  });

  test('unknown extra fields are tolerated', () => {
    const { parser } = setup();
    const e = only(parser, {
      time: T,
      type: 'platform.start',
      extra: 1,
      record: { requestId: 'r', brandNew: { x: 1 } },
    });
    assert.deepEqual(e, { type: 'platform.start', timeMs: T_MS, requestId: 'r' });
  });
});

describe('TelemetryParser: log records', () => {
  test('text format keeps the line as given', () => {
    const { parser } = setup();
    const line = '2024-05-01T10:00:00.123Z\tr1\tINFO\thello\n';
    assert.deepEqual(only(parser, { time: T, type: 'function', record: line }), {
      type: 'function',
      timeMs: T_MS,
      message: line,
      structured: false,
    });
  });

  test('JSON format splits timestamp, level, requestId, message and keeps the rest as fields', () => {
    const { parser } = setup();
    const e = only(parser, {
      time: T,
      type: 'extension',
      record: {
        timestamp: '2024-05-01T10:00:00.100500Z',
        level: 'ERROR',
        requestId: 'r2',
        message: 'boom',
        errorType: 'TypeError',
        stackTrace: ['a', 'b'],
      },
    });
    assert.deepEqual(e, {
      type: 'extension',
      timeMs: T_MS,
      message: 'boom',
      level: 'ERROR',
      requestId: 'r2',
      recordTimeMs: Date.parse('2024-05-01T10:00:00.100Z') + 0.5,
      fields: { errorType: 'TypeError', stackTrace: ['a', 'b'] },
      structured: true,
    });
  });

  test('a JSON-format record delivered as a string is read like the object', () => {
    const { parser } = setup();
    const record = {
      timestamp: '2024-05-01T10:00:00.100Z',
      level: 'WARN',
      requestId: 'r3',
      message: 'slow downstream',
      errorType: 'Timeout',
    };
    const fromString = only(parser, { time: T, type: 'function', record: JSON.stringify(record) });
    const fromObject = only(parser, { time: T, type: 'function', record });
    assert.deepEqual(fromString, fromObject);
    assert.equal((fromString as { level?: string }).level, 'WARN');
    assert.equal((fromString as { structured: boolean }).structured, true);
  });

  test('other strings stay text: a JSON line without message, broken JSON, an array', () => {
    const { parser } = setup();
    for (const line of [
      '{"level":"warn","msg":"own output"}',
      '{"message": "x"',
      '[{"message":"x"}]',
      '{}',
    ]) {
      const e = only(parser, { time: T, type: 'function', record: line });
      assert.deepEqual(e, { type: 'function', timeMs: T_MS, message: line, structured: false }, line);
    }
  });

  test('a non-string JSON message is stringified; oddly typed well-known keys stay as fields', () => {
    const { parser } = setup();
    const e = only(parser, {
      time: T,
      type: 'function',
      record: { message: { a: 1 }, level: 5, timestamp: 'yesterday' },
    }) as { message: string; level?: string; fields?: Record<string, unknown> };
    assert.equal(e.message, '{"a":1}');
    assert.equal(e.level, undefined);
    assert.deepEqual(e.fields, { level: 5, timestamp: 'yesterday' });
  });

  test('a __proto__ field is kept as data, not as a prototype', () => {
    const { parser } = setup();
    const e = parser.parseBody(
      '[{"time":"2024-05-01T10:00:00Z","type":"function","record":{"message":"m","__proto__":{"polluted":true}}}]',
    )[0] as { fields?: Record<string, unknown> };
    assert.ok(e.fields);
    assert.deepEqual(Object.getOwnPropertyDescriptor(e.fields, '__proto__')?.value, { polluted: true });
    assert.equal((e.fields as { polluted?: boolean }).polluted, undefined);
  });
});

describe('TelemetryParser: unknown, malformed, bodies', () => {
  test('unknown types are kept untouched and counted per type', () => {
    const { parser, lines } = setup();
    const events = parser.parseRecords([
      { time: T, type: 'platform.futureThing', record: { a: 1 } },
      { time: T, type: 'platform.futureThing', record: { a: 2 } },
      { time: T, type: 'other', record: 'x' },
    ]);
    assert.deepEqual(events[0], {
      type: 'unknown',
      timeMs: T_MS,
      originalType: 'platform.futureThing',
      record: { a: 1 },
    });
    assert.equal(events.length, 3);
    assert.equal(parser.stats.unknown['platform.futureThing'], 2);
    assert.equal(parser.stats.unknown['other'], 1);
    assert.equal(parser.stats.parsed['unknown'], 3);
    assert.equal(lines.filter((l) => l.includes('futureThing')).length, 1);
  });

  test('malformed records are dropped, counted per kind, reported once per kind; the rest is kept', () => {
    const { parser, lines } = setup();
    const good = { time: T, type: 'platform.start', record: { requestId: 'ok' } };
    const events = parser.parseRecords([
      null,
      42,
      good,
      { time: T, type: 'platform.start', record: {} },
      { time: T, type: 'platform.start', record: { requestId: 7 } },
      { time: 'nope', type: 'platform.start', record: { requestId: 'x' } },
      { time: T, record: {} },
      { time: T, type: 'platform.report', record: { requestId: 'r', status: 'success', metrics: {} } },
      {
        time: T,
        type: 'platform.logsDropped',
        record: { droppedBytes: '1', droppedRecords: 1, reason: 'x' },
      },
      { time: T, type: 'function', record: null },
      good,
    ]);
    assert.equal(events.length, 2);
    assert.equal(parser.stats.received, 11);
    assert.deepEqual(
      { ...parser.stats.malformed },
      {
        'record.not-object': 2,
        'platform.start.requestId': 2,
        'platform.start.time': 1,
        'envelope.type': 1,
        'platform.report.metrics.durationMs': 1,
        'platform.logsDropped.droppedBytes': 1,
        'function.record': 1,
      },
    );
    const warnLines = lines.filter((l) => l.includes('telemetry record dropped'));
    assert.equal(warnLines.length, 7, 'once per kind');
    assert.ok(warnLines.some((l) => l.includes('platform.start.requestId')));
    // Same kinds again: counted, not logged again.
    parser.parseRecords([null, { time: T, type: 'platform.start', record: {} }]);
    assert.equal(parser.stats.malformed['record.not-object'], 3);
    assert.equal(lines.filter((l) => l.includes('telemetry record dropped')).length, 7);
  });

  test('bad optional fields are dropped and counted, the record kept', () => {
    const { parser } = setup();
    const e = only(parser, {
      time: T,
      type: 'platform.runtimeDone',
      record: {
        requestId: 'r',
        status: 'success',
        spans: [{ name: 'ok', start: T, durationMs: 1 }, { name: 'bad' }],
        tracing: 'nope',
        metrics: { durationMs: 'x' },
      },
    }) as { spans: unknown[]; tracing?: unknown; durationMs?: number };
    assert.equal(e.spans.length, 1);
    assert.equal(e.tracing, undefined);
    assert.equal(e.durationMs, undefined);
    assert.deepEqual(
      { ...parser.stats.invalidFields },
      {
        'platform.runtimeDone.spans': 1,
        'platform.runtimeDone.tracing': 1,
        'platform.runtimeDone.durationMs': 1,
      },
    );
  });

  test('bodies that are not a JSON array are counted and reported once', () => {
    const { parser, lines } = setup();
    assert.deepEqual(parser.parseBody('{"time":1}'), []);
    assert.deepEqual(parser.parseBody('[{"time"'), []);
    assert.deepEqual(parser.parseBody('[{"time"'), []);
    assert.deepEqual(parser.parseBody(Buffer.from('null')), []);
    assert.equal(parser.stats.bodies, 4);
    assert.deepEqual({ ...parser.stats.invalidBodies }, { 'not-array': 2, 'not-json': 2 });
    assert.equal(lines.filter((l) => l.includes('push dropped')).length, 2);
  });

  test('a valid body parses from a Buffer', () => {
    const { parser } = setup();
    const body = Buffer.from(JSON.stringify([{ time: T, type: 'function', record: 'x' }]));
    assert.equal(parser.parseBody(body).length, 1);
  });

  test('counter maps stay bounded under many distinct unknown types', () => {
    const { parser } = setup();
    parser.parseRecords(Array.from({ length: 500 }, (_, i) => ({ time: T, type: `t${i}`, record: null })));
    const keys = Object.keys(parser.stats.unknown);
    assert.ok(keys.length <= 65, `got ${keys.length} keys`);
    const total = Object.values(parser.stats.unknown).reduce((a, b) => a + b, 0);
    assert.equal(total, 500);
  });
});
