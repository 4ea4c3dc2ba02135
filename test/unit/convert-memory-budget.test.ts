// The converters' held telemetry counts against the extension's memory budget: held invocations and
// their phase spans, spans waiting in the outbox, log records waiting for a batch. What the budget
// refuses is dropped and counted by reason, never held past the budget.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { PlatformConverter } from '../../src/convert/index.js';
import { LogConverter } from '../../src/convert/logs.js';
import type { TelemetryEvent } from '../../src/lambda/telemetry-events.js';
import type { TelemetryChunk } from '../../src/model/chunk.js';
import { MemoryBudget } from '../../src/pipeline/memory-budget.js';
import {
  allLogRecords,
  allMetrics,
  allSpans,
  attrs,
  decodeLogs,
  decodeMetrics,
  decodeTraces,
} from '../../tools/otlp/decode.js';

const T0 = Date.parse('2025-06-01T12:00:00Z');
const ENV = { AWS_REGION: 'eu-west-1', AWS_LAMBDA_FUNCTION_NAME: 'fn' };
const CHILDREN = [
  { name: 'responseLatency', startMs: 0, durationMs: 4 },
  { name: 'responseDuration', startMs: 4, durationMs: 1 },
];

function requestId(i: number): string {
  return `${i.toString(16).padStart(8, '0')}-7d2c-4d6e-9a3b-000000000000`;
}

/** An invocation that ended, with two phase spans: three spans once exported. */
function ended(i: number): TelemetryEvent[] {
  const start = T0 + i * 10;
  const spans = CHILDREN.map((s) => ({ ...s, startMs: start + s.startMs }));
  return [
    { type: 'platform.start', timeMs: start, requestId: requestId(i) },
    {
      type: 'platform.runtimeDone',
      timeMs: start + 5,
      requestId: requestId(i),
      status: 'success',
      durationMs: 5,
      spans,
    },
  ] as TelemetryEvent[];
}

function spanCount(chunks: TelemetryChunk[]): number {
  return chunks
    .filter((c) => c.signal === 'traces')
    .reduce((n, c) => n + allSpans(decodeTraces(c.protobuf)).length, 0);
}

describe('platform converter under a memory budget', () => {
  it('a flood of held invocations never holds more than the budget; drops are counted by reason', () => {
    const budget = new MemoryBudget(64 * 1024);
    // Held for a day: nothing is released before the final collect.
    const conv = new PlatformConverter({ env: ENV, now: () => T0, maxHeldMs: 86_400_000, budget });
    const n = 1000;
    let peakHeld = 0;
    for (let i = 0; i < n; i++) {
      conv.ingest(ended(i));
      const { heldBytes } = conv.stats;
      peakHeld = Math.max(peakHeld, heldBytes);
      assert.ok(heldBytes <= budget.limitBytes, `held ${heldBytes} > budget ${budget.limitBytes}`);
      assert.ok(budget.used() <= budget.limitBytes);
    }
    const before = conv.stats;
    assert.ok(peakHeld > budget.limitBytes / 2, `the budget was used (peak ${peakHeld})`);
    assert.ok(before.invocationsOverBudget > 0, 'some invocations were refused');
    assert.equal(before.invocations, n, 'every invocation is still tracked for its metrics');
    // The refused invocations' phase spans were dropped as they came (and some of held ones').
    assert.ok(before.spansOverBudget >= before.invocationsOverBudget * CHILDREN.length);

    const chunks = conv.collect(T0 + n * 10 + 1000, true);
    const after = conv.stats;
    const exported = spanCount(chunks);
    assert.equal(after.spansExported, exported);
    // Every span is accounted for: exported, or dropped over budget (at hold or moving to the outbox).
    assert.equal(exported + after.spansOverBudget + after.spansDropped, n * (1 + CHILDREN.length));
    assert.ok(after.spansOverBudget >= before.invocationsOverBudget * (1 + CHILDREN.length));
    assert.equal(after.heldBytes, 0, 'encoded spans are the pipeline’s to count');
    assert.ok(after.heldMetricBytes > 0 && after.heldMetricBytes < 8 * 1024, 'a few metric series stay');
    const slack = 2 * (budget.limitBytes / 64);
    assert.ok(budget.snapshot().reservedBytes <= after.heldMetricBytes + 2 * slack, 'the reservation shrank');
    // Metrics still count every invocation, held or not.
    assert.equal(after.invocations, n);
  });

  it('shares the budget: held while there is room, refused while another user fills it, held again after', () => {
    const budget = new MemoryBudget(256 * 1024);
    const conv = new PlatformConverter({ env: ENV, now: () => T0, maxHeldMs: 86_400_000, budget });
    conv.ingest(ended(0));
    assert.equal(conv.stats.invocationsOverBudget, 0);
    // A request body being received takes everything the receiver may have.
    const receiving = budget.tryReserve('telemetry_api', budget.limitBytes - budget.used());
    assert.ok(receiving !== undefined);
    for (let i = 1; i <= 50; i++) conv.ingest(ended(i));
    const refused = conv.stats.invocationsOverBudget;
    assert.ok(refused > 0 && refused <= 50, `refused ${refused}`);
    assert.ok(budget.used() <= budget.limitBytes);
    receiving.release();
    conv.ingest(ended(51));
    assert.equal(conv.stats.invocationsOverBudget, refused, 'held again once the memory came back');
  });

  it('an invocation it could not hold is not offered as a parent for the function’s spans', () => {
    const budget = new MemoryBudget(4 * 1024);
    const conv = new PlatformConverter({ env: ENV, now: () => T0, maxHeldMs: 86_400_000, budget });
    const n = 40;
    for (let i = 0; i < n; i++) conv.ingest(ended(i).slice(0, 1));
    const offered = new Set<string>();
    let withheld = 0;
    for (let i = 0; i < n; i++) {
      const identity = conv.directory.lookupByRequestId(requestId(i));
      if (identity === undefined) withheld++;
      else offered.add(requestId(i));
      const adopted = conv.directory.adoptFunctionTrace(requestId(i), {
        traceId: 'aa'.repeat(16),
        sampled: true,
      });
      assert.equal(adopted, identity !== undefined);
    }
    assert.equal(withheld, conv.stats.invocationsOverBudget);
    assert.ok(offered.size > 0 && withheld > 0);
    // Only invocations whose spans go out took the function's trace.
    const spans = conv
      .collect(T0 + 60_000, true)
      .filter((c) => c.signal === 'traces')
      .flatMap((c) => allSpans(decodeTraces(c.protobuf)));
    assert.ok(spans.length > 0);
    for (const s of spans) {
      assert.equal(s.traceId, 'aa'.repeat(16));
      assert.ok(offered.has(String(attrs(s.attributes)['faas.invocation_id'])));
    }
  });

  it('metric series the budget refuses fold into the overflow series: no measurement is lost', () => {
    const budget = new MemoryBudget(512 * 1024);
    const conv = new PlatformConverter({ env: ENV, now: () => T0, budget });
    const errors = (i: number): TelemetryEvent[] =>
      ended(i).map((e) =>
        e.type === 'platform.runtimeDone' ? { ...e, status: 'error', errorType: `Handler.E${i}` } : e,
      ) as TelemetryEvent[];
    for (let i = 0; i < 5; i++) conv.ingest(errors(i));
    conv.collect(T0 + 1000, false);
    // Another user now holds all but a little of the budget.
    const other = budget.tryReserve('telemetry_api', budget.limitBytes - budget.used() - 512);
    assert.ok(other !== undefined);
    for (let i = 5; i < 30; i++) conv.ingest(errors(i));
    const chunks = conv.collect(T0 + 2000, false);
    const stats = conv.stats;
    assert.ok(stats.metricSeriesOverBudget > 0, 'new series were refused');
    assert.ok(budget.used() <= budget.limitBytes);
    const errorsMetric = chunks
      .filter((c) => c.signal === 'metrics')
      .flatMap((c) => allMetrics(decodeMetrics(c.protobuf)))
      .find((m) => m.name === 'faas.errors');
    const points = errorsMetric?.sum?.dataPoints ?? [];
    const total = points.reduce((n, p) => n + Number(p.asInt ?? 0), 0);
    assert.equal(total, 30, 'every error counted, in its own series or the overflow one');
    assert.ok(points.some((p) => attrs(p.attributes)['otel.metric.overflow'] === true));
    other.release();
  });

  it('without a budget nothing is refused and held bytes are still reported', () => {
    const conv = new PlatformConverter({ env: ENV, now: () => T0, maxHeldMs: 86_400_000 });
    for (let i = 0; i < 100; i++) conv.ingest(ended(i));
    assert.equal(conv.stats.invocationsOverBudget, 0);
    assert.ok(conv.stats.heldBytes > 0);
    assert.equal(spanCount(conv.collect(T0 + 60_000, true)), 300);
    assert.equal(conv.stats.heldBytes, 0);
  });
});

describe('log converter under a memory budget', () => {
  const resource = resourceFromAttributes({ 'service.name': 'fn' });
  const line = (i: number): TelemetryEvent => ({
    type: 'function',
    timeMs: T0 + i,
    message: `line ${i} ${'x'.repeat(900)}`,
    structured: false,
  });

  it('records past the budget are dropped and counted; held bytes never exceed it', () => {
    const budget = new MemoryBudget(32 * 1024);
    const enqueued: TelemetryChunk[] = [];
    const logs = new LogConverter({ resource, budget }, { enqueue: (c) => enqueued.push(c) });
    const n = 500;
    for (let i = 0; i < n; i++) {
      logs.ingest([line(i)]);
      assert.ok(logs.heldBytes <= budget.limitBytes, `held ${logs.heldBytes}`);
      assert.ok(budget.used() <= budget.limitBytes);
    }
    const stats = logs.stats();
    assert.ok(stats.droppedOverBudget > 0);
    assert.equal(stats.records + stats.droppedOverBudget, n);
    const chunks = logs.collect(T0 + 1000, true);
    const delivered = [...enqueued, ...chunks].reduce(
      (sum, c) => sum + allLogRecords(decodeLogs(c.protobuf)).length,
      0,
    );
    assert.equal(delivered, stats.records, 'every record held is delivered');
    assert.equal(logs.heldBytes, 0);
  });

  it('a batch handed to the sink gives its bytes back, so a steady stream under the budget loses nothing', () => {
    const budget = new MemoryBudget(256 * 1024);
    const enqueued: TelemetryChunk[] = [];
    const logs = new LogConverter(
      { resource, budget, maxBatchRecords: 50 },
      { enqueue: (c) => enqueued.push(c) },
    );
    for (let i = 0; i < 2000; i++) logs.ingest([line(i)]);
    assert.equal(logs.stats().droppedOverBudget, 0);
    assert.equal(logs.stats().records, 2000);
    assert.ok(logs.heldBytes <= 50 * 1100);
  });
});
