// The local runner's renderers: span trees and waterfall bars, and the metrics table's series.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { KeyValue, LocatedMetric, LocatedSpan } from '../../tools/otlp/decode.js';
import { summarizeMetrics, valueText } from '../../tools/local-run/metrics-table.js';
import { createStyle } from '../../tools/local-run/style.js';
import {
  barFor,
  invocationSpan,
  PLATFORM_SCOPE,
  renderWaterfall,
  spanTree,
} from '../../tools/local-run/waterfall.js';

const T0 = 1_700_000_000_000_000_000n;
const TRACE = 'a'.repeat(32);

function kv(record: Record<string, string | number>): KeyValue[] {
  return Object.entries(record).map(([key, v]) => ({
    key,
    value: typeof v === 'string' ? { stringValue: v } : { intValue: String(v) },
  }));
}

function span(
  spanId: string,
  parentSpanId: string,
  name: string,
  startMs: number,
  durationMs: number,
  extra: Partial<LocatedSpan> = {},
): LocatedSpan {
  const start = T0 + BigInt(Math.round(startMs * 1e6));
  return {
    traceId: TRACE,
    spanId,
    parentSpanId,
    traceState: '',
    flags: 1,
    name,
    kind: 1,
    startTimeUnixNano: String(start),
    endTimeUnixNano: String(start + BigInt(Math.round(durationMs * 1e6))),
    attributes: [],
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    links: [],
    droppedLinksCount: 0,
    status: null,
    resource: {},
    scope: { name: PLATFORM_SCOPE, version: 'dev', attributes: [], droppedAttributesCount: 0 },
    ...extra,
  };
}

const fnScope = { name: 'my-fn', version: '', attributes: [], droppedAttributesCount: 0 };

test('spanTree: depth-first under the root, children by start time, offsets from the earliest span', () => {
  const root = span('r'.repeat(16), '', 'orders', 100, 50, {
    kind: 2,
    attributes: kv({ 'faas.invocation_id': 'req-1' }),
  });
  const spans = [
    span('b'.repeat(16), root.spanId, 'responseLatency', 101, 40),
    span('c'.repeat(16), root.spanId, 'init', 0, 90),
    span('d'.repeat(16), root.spanId, 'handler', 102, 30, { scope: fnScope }),
    span('e'.repeat(16), 'd'.repeat(16), 'db', 110, 5, {
      scope: fnScope,
      status: { code: 2, message: 'timeout talking to db' },
    }),
    span('f'.repeat(16), 'unrelated0000000', 'elsewhere', 0, 1),
    root,
  ];
  assert.equal(invocationSpan(spans, 'req-1'), root);
  assert.equal(invocationSpan(spans, 'req-2'), undefined);
  const tree = spanTree(spans, root);
  assert.deepEqual(
    tree.rows.map((r) => [r.depth, r.name, r.source, r.offsetMs, r.durationMs, r.error]),
    [
      [0, 'orders', 'platform', 100, 50, undefined],
      [1, 'init', 'platform', 0, 90, undefined],
      [1, 'responseLatency', 'platform', 101, 40, undefined],
      [1, 'handler', 'function', 102, 30, undefined],
      [2, 'db', 'function', 110, 5, 'timeout talking to db'],
    ],
  );
  assert.equal(tree.spanIds.has('f'.repeat(16)), false);
});

test('spanTree survives a parent cycle', () => {
  const a = span('a'.repeat(16), 'b'.repeat(16), 'a', 0, 1);
  const b = span('b'.repeat(16), 'a'.repeat(16), 'b', 1, 1);
  assert.deepEqual(
    spanTree([a, b], a).rows.map((r) => r.name),
    ['a', 'b'],
  );
});

test('barFor: bars are proportional and every row spans exactly the width', () => {
  assert.deepEqual(barFor({ offsetMs: 0, durationMs: 50 }, 100, 40), {
    before: 0,
    body: '█'.repeat(20),
    after: 20,
  });
  assert.deepEqual(barFor({ offsetMs: 75, durationMs: 25 }, 100, 40), {
    before: 30,
    body: '█'.repeat(10),
    after: 0,
  });
  assert.deepEqual(barFor({ offsetMs: 50, durationMs: 0.01 }, 100, 40), { before: 20, body: '▏', after: 19 });
  fc.assert(
    fc.property(
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.integer({ min: 10, max: 120 }),
      (a, b, width) => {
        const offsetMs = Math.min(a, b) * 1000;
        const durationMs = Math.abs(a - b) * 1000;
        const bar = barFor({ offsetMs, durationMs }, 1000, width);
        return bar.before >= 0 && bar.after >= 0 && bar.before + bar.body.length + bar.after === width;
      },
    ),
  );
});

test('renderWaterfall: plain text without colour, error marked, names cut to the column', () => {
  const root = span('r'.repeat(16), '', 'orders', 0, 100, {
    status: { code: 2, message: 'x' },
    attributes: kv({ 'error.type': 'Boom' }),
  });
  const child = span('c'.repeat(16), root.spanId, `a-very-long-span-name-${'x'.repeat(40)}`, 50, 50);
  const lines = renderWaterfall(spanTree([root, child], root).rows, {
    style: createStyle(false),
    barWidth: 20,
  });
  assert.equal(lines.length, 3);
  assert.match(lines[1]!, /^orders\s+platform\s+\+0\.00 ms\s+100\.0 ms\s+│█{20}│ ✗ Boom$/);
  assert.match(
    lines[2]!,
    /^ {2}a-very-long-span-name-x+…\s+platform\s+\+50\.0 ms\s+50\.0 ms\s+│ {10}█{10}│$/,
  );
  const coloured = renderWaterfall(spanTree([root, child], root).rows, {
    style: createStyle(true),
    barWidth: 20,
  });
  assert.ok(coloured[1]!.includes('\u001b[31m✗ Boom'), 'the error mark is red on a terminal');
});

function sumMetric(
  name: string,
  temporality: 1 | 2,
  points: [number, number, Record<string, string>][],
): LocatedMetric {
  return {
    name,
    description: '',
    unit: '{invocation}',
    metadata: [],
    sum: {
      aggregationTemporality: temporality,
      isMonotonic: true,
      dataPoints: points.map(([timeMs, value, attributes]) => ({
        attributes: kv(attributes),
        startTimeUnixNano: String(T0),
        timeUnixNano: String(T0 + BigInt(timeMs) * 1_000_000n),
        asInt: String(value),
        exemplars: [],
        flags: 0,
      })),
    },
    resource: {},
    scope: { name: PLATFORM_SCOPE, version: 'dev', attributes: [], droppedAttributesCount: 0 },
  };
}

test('summarizeMetrics: cumulative series show their latest point, delta series their sum', () => {
  const cumulative = [
    sumMetric('faas.invocations', 2, [[2, 2, { 'faas.trigger': 'other' }]]),
    sumMetric('faas.invocations', 2, [[3, 5, { 'faas.trigger': 'other' }]]),
    // Arrived late, older: does not replace the newer value.
    sumMetric('faas.invocations', 2, [[1, 1, { 'faas.trigger': 'other' }]]),
  ];
  const delta = [
    sumMetric('faas.errors', 1, [[1, 1, { 'error.type': 'A' }]]),
    sumMetric('faas.errors', 1, [
      [2, 2, { 'error.type': 'A' }],
      [2, 1, { 'error.type': 'B' }],
    ]),
  ];
  const rows = summarizeMetrics([...cumulative, ...delta]);
  assert.deepEqual(
    rows.map((r) => [r.name, r.type, JSON.stringify(r.attributes), valueText(r)]),
    [
      ['faas.invocations', 'counter (cumulative)', '{"faas.trigger":"other"}', '5'],
      ['faas.errors', 'counter (delta)', '{"error.type":"A"}', '3'],
      ['faas.errors', 'counter (delta)', '{"error.type":"B"}', '1'],
    ],
  );
});
