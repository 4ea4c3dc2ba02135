// Golden tests: fixture event sequences (test/fixtures/telemetry/*.json) through the converter, the
// chunk bytes decoded with the .proto schema, and the OTLP checked field by field.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DURATION_BUCKETS_S, MEMORY_BUCKETS_BYTES } from '../../src/convert/index.js';
import type { TelemetryChunk } from '../../src/model/chunk.js';
import { type CollectResult, loadFixture, ms, runFixture } from '../support/telemetry-fixtures.js';
import {
  allMetrics,
  allSpans,
  attrs,
  decodeMetrics,
  decodeTraces,
  type HistogramDataPoint,
  type LocatedMetric,
  type LocatedSpan,
  type NumberDataPoint,
  nanosToMs,
} from '../../tools/otlp/decode.js';

const SERVER = 2;
const INTERNAL = 1;
const STATUS_UNSET = 0;
const STATUS_ERROR = 2;
const CUMULATIVE = 2;
const DELTA = 1;
/** SAMPLED | HAS_IS_REMOTE | IS_REMOTE */
const FLAGS_SAMPLED_REMOTE_PARENT = 0x301;
/** SAMPLED | HAS_IS_REMOTE */
const FLAGS_SAMPLED_LOCAL_PARENT = 0x101;
const MIB = 1048576;

function chunksOf(c: CollectResult | undefined, signal: 'traces' | 'metrics'): TelemetryChunk[] {
  assert.ok(c, 'collect step missing');
  for (const chunk of c.chunks) {
    assert.equal(chunk.bytes, chunk.protobuf.byteLength, 'chunk.bytes is the protobuf size');
    assert.ok(chunk.items > 0, 'no empty chunks');
  }
  return c.chunks.filter((chunk) => chunk.signal === signal);
}

function spansOf(c: CollectResult | undefined): LocatedSpan[] {
  const spans: LocatedSpan[] = [];
  for (const chunk of chunksOf(c, 'traces')) {
    const decoded = allSpans(decodeTraces(chunk.protobuf));
    assert.equal(decoded.length, chunk.items, 'chunk.items counts the spans inside');
    spans.push(...decoded);
  }
  return spans;
}

function metricsOf(c: CollectResult | undefined): LocatedMetric[] {
  const chunks = chunksOf(c, 'metrics');
  assert.ok(chunks.length <= 1, 'one metrics chunk per collect');
  return chunks.flatMap((chunk) => allMetrics(decodeMetrics(chunk.protobuf)));
}

function one<T>(items: T[], what: string): T {
  assert.equal(items.length, 1, `exactly one ${what}, got ${items.length}`);
  return items[0] as T;
}

function spanNamed(spans: LocatedSpan[], name: string, requestId?: string): LocatedSpan {
  return one(
    spans.filter(
      (s) =>
        s.name === name &&
        (requestId === undefined || attrs(s.attributes)['faas.invocation_id'] === requestId),
    ),
    `span ${name}${requestId ? ` for ${requestId}` : ''}`,
  );
}

function childrenOf(spans: LocatedSpan[], parent: LocatedSpan): LocatedSpan[] {
  return spans.filter((s) => s.parentSpanId === parent.spanId && s.traceId === parent.traceId);
}

function metric(metrics: LocatedMetric[], name: string): LocatedMetric {
  return one(
    metrics.filter((m) => m.name === name),
    `metric ${name}`,
  );
}

function counterPoints(m: LocatedMetric): NumberDataPoint[] {
  assert.ok(m.sum, `${m.name} is a sum`);
  assert.equal(m.sum.isMonotonic, true, `${m.name} is monotonic`);
  return m.sum.dataPoints;
}

function counterValue(m: LocatedMetric, match: Record<string, unknown> = {}): number {
  const points = counterPoints(m).filter((p) => matches(attrs(p.attributes), match));
  return Number(one(points, `${m.name} point ${JSON.stringify(match)}`).asInt);
}

function histogramPoint(m: LocatedMetric, match: Record<string, unknown> = {}): HistogramDataPoint {
  assert.ok(m.histogram, `${m.name} is a histogram`);
  return one(
    m.histogram.dataPoints.filter((p) => matches(attrs(p.attributes), match)),
    `${m.name} point ${JSON.stringify(match)}`,
  );
}

function matches(actual: Record<string, unknown>, expected: Record<string, unknown>): boolean {
  return Object.entries(expected).every(([k, v]) => actual[k] === v);
}

function assertBuckets(point: HistogramDataPoint, bounds: readonly number[], values: number[]): void {
  assert.deepEqual(point.explicitBounds, [...bounds]);
  const expected = new Array<number>(bounds.length + 1).fill(0);
  for (const v of values) {
    let i = 0;
    while (i < bounds.length && v > (bounds[i] as number)) i++;
    expected[i] = (expected[i] as number) + 1;
  }
  assert.deepEqual(point.bucketCounts.map(Number), expected);
  assert.equal(Number(point.count), values.length);
  assert.ok(Math.abs((point.sum ?? Number.NaN) - values.reduce((a, b) => a + b, 0)) < 1e-9, 'histogram sum');
  assert.equal(point.min, Math.min(...values));
  assert.equal(point.max, Math.max(...values));
}

function startMs(s: { startTimeUnixNano: string }): number {
  return nanosToMs(s.startTimeUnixNano);
}

function endMs(s: { endTimeUnixNano: string }): number {
  return nanosToMs(s.endTimeUnixNano);
}

function near(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) < 0.001, `${what}: ${actual} ≠ ${expected}`);
}

describe('golden: cold start', () => {
  const run = runFixture(loadFixture('cold-start'));
  const collect = run.collects[0];
  const spans = spansOf(collect);
  const metrics = metricsOf(collect);

  it('exports the invocation span with X-Ray identity and Lambda span id', () => {
    assert.equal(spans.length, 6);
    const inv = spanNamed(spans, 'orders-api');
    assert.equal(inv.kind, SERVER);
    assert.equal(inv.traceId, '683c42000123456789abcdef01234567');
    assert.equal(inv.spanId, '2222222222222222');
    assert.equal(inv.parentSpanId, '1111111111111111');
    assert.equal(inv.flags, FLAGS_SAMPLED_REMOTE_PARENT);
    assert.equal(inv.status?.code, STATUS_UNSET);
    assert.equal(startMs(inv), ms('2025-06-01T12:00:00.362Z'));
    assert.equal(endMs(inv), ms('2025-06-01T12:00:00.512Z'));
    assert.deepEqual(attrs(inv.attributes), {
      'faas.invocation_id': '11111111-aaaa-4bbb-8ccc-000000000001',
      'faas.invocation.id': '11111111-aaaa-4bbb-8ccc-000000000001',
      'faas.coldstart': true,
      'faas.trigger': 'other',
      'cloud.resource_id': 'arn:aws:lambda:eu-west-1:123456789012:function:orders-api',
      'aws.lambda.invoked_arn': 'arn:aws:lambda:eu-west-1:123456789012:function:orders-api:live',
    });
    assert.equal(inv.scope?.name, 'otel-lambda-extension');
    assert.ok(inv.scope?.version, 'scope carries our version');
  });

  it('puts runtimeDone and report phase spans under the invocation span', () => {
    const inv = spanNamed(spans, 'orders-api');
    const children = childrenOf(spans, inv);
    assert.deepEqual(children.map((s) => s.name).sort(), [
      'extensionOverhead',
      'init',
      'responseDuration',
      'responseLatency',
      'runtimeOverhead',
    ]);
    const latency = spanNamed(spans, 'responseLatency');
    assert.equal(latency.kind, INTERNAL);
    assert.equal(latency.flags, FLAGS_SAMPLED_LOCAL_PARENT);
    assert.equal(startMs(latency), ms('2025-06-01T12:00:00.362Z'));
    assert.equal(endMs(latency), ms('2025-06-01T12:00:00.510Z'));
    const overhead = spanNamed(spans, 'extensionOverhead');
    assert.equal(startMs(overhead), ms('2025-06-01T12:00:00.512Z'));
    near(endMs(overhead) - startMs(overhead), 15.4, 'extensionOverhead duration');
    const ids = new Set(spans.map((s) => s.spanId));
    assert.equal(ids.size, spans.length, 'span ids are unique');
    for (const s of spans) {
      assert.match(s.traceId, /^[0-9a-f]{32}$/);
      assert.match(s.spanId, /^[0-9a-f]{16}$/);
    }
  });

  it('places the on-demand init span inside the first invocation trace, before it', () => {
    const inv = spanNamed(spans, 'orders-api');
    const init = spanNamed(spans, 'init');
    assert.equal(init.kind, INTERNAL);
    assert.equal(init.traceId, inv.traceId);
    assert.equal(init.parentSpanId, inv.spanId);
    assert.equal(startMs(init), ms('2025-06-01T12:00:00.000Z'));
    near(endMs(init), ms('2025-06-01T12:00:00.000Z') + 350.25, 'init end = start + initReport duration');
    assert.ok(endMs(init) <= startMs(inv));
    assert.deepEqual(attrs(init.attributes), {
      'aws.lambda.initialization_type': 'on-demand',
      'aws.lambda.phase': 'init',
      'aws.lambda.runtime_version': 'nodejs:20.v45',
    });
    assert.equal(inv.links.length, 0, 'no link needed inside one trace');
  });

  it('describes the function on the resource', () => {
    const inv = spanNamed(spans, 'orders-api');
    const r = inv.resource;
    assert.equal(r['cloud.provider'], 'aws');
    assert.equal(r['cloud.platform'], 'aws_lambda');
    assert.equal(r['cloud.region'], 'eu-west-1');
    assert.equal(r['cloud.account.id'], '123456789012');
    assert.equal(r['faas.name'], 'orders-api');
    assert.equal(r['faas.version'], '$LATEST');
    assert.equal(r['faas.max_memory'], 512 * MIB);
    assert.deepEqual(r['aws.log.group.names'], ['/aws/lambda/orders-api']);
    assert.equal(r['service.name'], 'orders-api');
    assert.equal(r['cloud.resource_id'], 'arn:aws:lambda:eu-west-1:123456789012:function:orders-api');
    assert.equal(r['faas.id'], 'arn:aws:lambda:eu-west-1:123456789012:function:orders-api');
    assert.equal(r['deployment.environment.name'], 'prod');
    assert.equal(r.team, 'checkout core', 'OTEL_RESOURCE_ATTRIBUTES values are percent-decoded');
    assert.equal(r['telemetry.distro.name'], 'otel-lambda-extension');
    assert.equal(r['telemetry.sdk.name'], undefined, 'telemetry.sdk.* belongs to the function');
    assert.match(String(r['faas.instance']), /^[0-9a-f]{32}$/);
    const metricResource = metric(metrics, 'faas.invocations').resource;
    assert.deepEqual(metricResource, r, 'spans and metrics share the resource');
  });

  it('emits the semconv and Lambda metrics with units, temporality and buckets', () => {
    assert.deepEqual(metrics.map((m) => m.name).sort(), [
      'aws.lambda.billed_duration',
      'aws.lambda.post_runtime_duration',
      'aws.lambda.produced_bytes',
      'aws.lambda.response_latency',
      'faas.coldstarts',
      'faas.init_duration',
      'faas.invocations',
      'faas.invoke_duration',
      'faas.mem_usage',
    ]);
    const invocations = metric(metrics, 'faas.invocations');
    assert.equal(invocations.unit, '{invocation}');
    assert.equal(invocations.sum?.aggregationTemporality, CUMULATIVE);
    assert.equal(counterValue(invocations, { 'faas.trigger': 'other' }), 1);
    assert.equal(metric(metrics, 'faas.coldstarts').unit, '{coldstart}');
    assert.equal(counterValue(metric(metrics, 'faas.coldstarts')), 1);

    const invoke = metric(metrics, 'faas.invoke_duration');
    assert.equal(invoke.unit, 's');
    assert.equal(invoke.histogram?.aggregationTemporality, CUMULATIVE);
    assertBuckets(
      histogramPoint(invoke, { 'faas.coldstart': true, 'faas.trigger': 'other' }),
      DURATION_BUCKETS_S,
      [0.15],
    );
    const init = metric(metrics, 'faas.init_duration');
    assert.equal(init.unit, 's');
    // Counted once although initReport and the first report both carry it.
    assertBuckets(
      histogramPoint(init, { 'aws.lambda.initialization_type': 'on-demand' }),
      DURATION_BUCKETS_S,
      [0.35025],
    );
    const mem = metric(metrics, 'faas.mem_usage');
    assert.equal(mem.unit, 'By');
    assertBuckets(histogramPoint(mem), MEMORY_BUCKETS_BYTES, [96 * MIB]);
    assertBuckets(histogramPoint(metric(metrics, 'aws.lambda.billed_duration')), DURATION_BUCKETS_S, [0.166]);
    const post = histogramPoint(metric(metrics, 'aws.lambda.post_runtime_duration'));
    assert.ok(Math.abs((post.sum ?? 0) - 0.0154) < 1e-9, 'post-runtime from extensionOverhead');
    const latency = histogramPoint(metric(metrics, 'aws.lambda.response_latency'));
    assert.ok(Math.abs((latency.sum ?? 0) - 0.148) < 1e-9);
    const produced = metric(metrics, 'aws.lambda.produced_bytes');
    assert.equal(produced.unit, 'By');
    assert.equal(histogramPoint(produced).sum, 1200);
    for (const m of metrics) {
      for (const p of m.sum?.dataPoints ?? m.histogram?.dataPoints ?? []) {
        assert.equal(
          nanosToMs(p.timeUnixNano),
          ms('2025-06-01T12:00:02.000Z'),
          `${m.name} end = collect time`,
        );
        assert.ok(nanosToMs(p.startTimeUnixNano) < nanosToMs(p.timeUnixNano));
        assert.equal(attrs(p.attributes)['faas.invocation_id'], undefined, 'no per-request attribute');
      }
    }
  });

  it('exports OTLP/JSON equivalent to the protobuf on demand', () => {
    const chunk = collect?.chunks.find((c) => c.signal === 'traces');
    assert.ok(chunk);
    const json = chunk.json() as {
      resourceSpans: { scopeSpans: { spans: { spanId: string; name: string }[] }[] }[];
    };
    const names = json.resourceSpans.flatMap((rs) =>
      rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => s.name)),
    );
    assert.deepEqual(names.sort(), spans.map((s) => s.name).sort());
    const inv = json.resourceSpans[0]?.scopeSpans[0]?.spans.find((s) => s.name === 'orders-api');
    assert.equal(inv?.spanId, '2222222222222222', 'hex ids in OTLP/JSON');
  });
});

describe('golden: warm invocation, Root without Parent', () => {
  const run = runFixture(loadFixture('warm'));
  const spans = spansOf(run.collects[0]);
  const metrics = metricsOf(run.collects[0]);

  it('marks only the first invocation cold and keeps the X-Ray trace without a parent', () => {
    const cold = spanNamed(spans, 'orders-api', 'r-1');
    const warm = spanNamed(spans, 'orders-api', 'r-2');
    assert.equal(attrs(cold.attributes)['faas.coldstart'], true);
    assert.equal(attrs(warm.attributes)['faas.coldstart'], false);
    assert.equal(warm.traceId, '683c4205bbbbbbbbbbbbbbbbbbbbbbbb');
    assert.equal(warm.parentSpanId, '');
    assert.equal(warm.flags & 0xff, 1, 'sampled');
    assert.equal(cold.parentSpanId, '3333333333333333');
    assert.equal(spans.length, 2, 'no init span without init records');
    assert.equal(cold.resource['faas.version'], '7');
  });

  it('splits invoke_duration by cold start', () => {
    const invoke = metric(metrics, 'faas.invoke_duration');
    assertBuckets(histogramPoint(invoke, { 'faas.coldstart': true }), DURATION_BUCKETS_S, [0.1]);
    assertBuckets(histogramPoint(invoke, { 'faas.coldstart': false }), DURATION_BUCKETS_S, [0.03]);
    assert.equal(counterValue(metric(metrics, 'faas.invocations')), 2);
    assert.equal(counterValue(metric(metrics, 'faas.coldstarts')), 1);
    // Without a register accountId, the account comes from the invoked ARN.
    assert.equal(metric(metrics, 'faas.invocations').resource['cloud.account.id'], '123456789012');
  });
});

describe('golden: errors', () => {
  const run = runFixture(loadFixture('error'));
  const spans = spansOf(run.collects[0]);
  const metrics = metricsOf(run.collects[0]);

  it('sets error status and error.type from errorType, else from the status', () => {
    const e1 = spanNamed(spans, 'orders-api', 'err-1');
    assert.equal(e1.status?.code, STATUS_ERROR);
    assert.equal(e1.status?.message, 'Runtime.UnhandledPromiseRejection');
    assert.equal(attrs(e1.attributes)['error.type'], 'Runtime.UnhandledPromiseRejection');
    const e2 = spanNamed(spans, 'orders-api', 'err-2');
    assert.equal(e2.status?.code, STATUS_ERROR);
    assert.equal(attrs(e2.attributes)['error.type'], 'failure');
  });

  it('uses the context from platform.start when INVOKE had none', () => {
    const e1 = spanNamed(spans, 'orders-api', 'err-1');
    assert.equal(e1.traceId, '683c4200cccccccccccccccccccccccc');
    assert.equal(e1.parentSpanId, '4444444444444444');
    const e2 = spanNamed(spans, 'orders-api', 'err-2');
    assert.match(e2.traceId, /^[0-9a-f]{32}$/, 'a generated trace without any tracing value');
    assert.notEqual(e2.traceId, e1.traceId);
    assert.equal(e2.parentSpanId, '');
  });

  it('counts errors by error.type, once per invocation although runtimeDone and report both say so', () => {
    const errors = metric(metrics, 'faas.errors');
    assert.equal(errors.unit, '{error}');
    assert.equal(
      counterValue(errors, { 'error.type': 'Runtime.UnhandledPromiseRejection', 'faas.trigger': 'other' }),
      1,
    );
    assert.equal(counterValue(errors, { 'error.type': 'failure' }), 1);
    assert.equal(counterPoints(errors).length, 2);
    assert.equal(
      metrics.find((m) => m.name === 'faas.timeouts'),
      undefined,
      'no timeouts metric without data',
    );
  });
});

describe('golden: timeout', () => {
  const run = runFixture(loadFixture('timeout'));
  const spans = spansOf(run.collects[0]);
  const metrics = metricsOf(run.collects[0]);

  it('exports on the final collect without waiting for the hold time', () => {
    const inv = spanNamed(spans, 'orders-api');
    assert.equal(inv.status?.code, STATUS_ERROR);
    assert.equal(attrs(inv.attributes)['error.type'], 'Sandbox.Timedout');
    near(endMs(inv) - startMs(inv), 3000, 'duration');
  });

  it('counts a timeout and an error', () => {
    const timeouts = metric(metrics, 'faas.timeouts');
    assert.equal(timeouts.unit, '{timeout}');
    assert.equal(counterValue(timeouts), 1);
    assert.equal(counterValue(metric(metrics, 'faas.errors'), { 'error.type': 'Sandbox.Timedout' }), 1);
    assertBuckets(histogramPoint(metric(metrics, 'faas.invoke_duration')), DURATION_BUCKETS_S, [3]);
  });
});

describe('golden: out of memory', () => {
  const run = runFixture(loadFixture('oom'));
  const metrics = metricsOf(run.collects[0]);

  it('counts each OOM invocation once, whatever reported it', () => {
    assert.equal(counterValue(metric(metrics, 'aws.lambda.out_of_memory')), 3);
    assert.equal(counterValue(metric(metrics, 'faas.errors'), { 'error.type': 'Runtime.OutOfMemory' }), 1);
    assert.equal(counterValue(metric(metrics, 'faas.errors'), { 'error.type': 'Runtime.ExitError' }), 1);
    assert.equal(counterValue(metric(metrics, 'faas.invocations')), 3);
  });
});

describe('golden: SnapStart restore', () => {
  const run = runFixture(loadFixture('snapstart-restore'));
  const before = run.collects[0];
  const after = run.collects[1];

  it('flushes nothing but metrics before the snapshot (the init span waits for an invocation)', () => {
    assert.equal(spansOf(before).length, 0);
    const metrics = metricsOf(before);
    assert.deepEqual(
      metrics.map((m) => m.name),
      ['faas.init_duration'],
    );
  });

  it('replaces the init span with a restore span inside the first invocation trace', () => {
    const spans = spansOf(after);
    assert.equal(spans.filter((s) => s.name === 'init').length, 0, 'init span replaced');
    const inv = spanNamed(spans, 'orders-api');
    const restore = spanNamed(spans, 'restore');
    assert.equal(restore.traceId, '683c4200eeeeeeeeeeeeeeeeeeeeeeee');
    assert.equal(restore.parentSpanId, inv.spanId);
    assert.equal(startMs(restore), ms('2025-06-01T12:00:00.000Z'));
    assert.equal(endMs(restore), ms('2025-06-01T12:00:00.180Z'));
    assert.equal(attrs(restore.attributes)['aws.lambda.initialization_type'], 'snap-start');
    assert.equal(attrs(inv.attributes)['faas.coldstart'], true);
    assert.equal(run.converter.stats.phasesReplaced, 1);
  });

  it('starts a new environment: fresh faas.instance, metrics restarted at the restore', () => {
    const pre = metricsOf(before)[0]?.resource;
    const metrics = metricsOf(after);
    const post = metric(metrics, 'faas.invocations').resource;
    assert.ok(pre?.['faas.instance']);
    assert.ok(post['faas.instance']);
    assert.notEqual(post['faas.instance'], pre?.['faas.instance']);
    assert.equal(
      metrics.find((m) => m.name === 'faas.init_duration'),
      undefined,
      'the snapshot init is not reported again',
    );
    const restore = metric(metrics, 'aws.lambda.restore_duration');
    assert.equal(restore.unit, 's');
    assertBuckets(histogramPoint(restore), DURATION_BUCKETS_S, [0.18]);
    for (const p of metric(metrics, 'faas.invocations').sum?.dataPoints ?? []) {
      assert.equal(
        nanosToMs(p.startTimeUnixNano),
        ms('2025-06-01T12:00:00.000Z'),
        'cumulative start = restore',
      );
    }
  });
});

describe('golden: Managed Instances interleaving', () => {
  const run = runFixture(loadFixture('managed-instances'));
  const spans = spansOf(run.collects[0]);
  const metrics = metricsOf(run.collects[0]);

  it('correlates interleaved records by requestId and ends spans at start + report duration', () => {
    const a = spanNamed(spans, 'orders-api', 'mi-A');
    const b = spanNamed(spans, 'orders-api', 'mi-B');
    const c = spanNamed(spans, 'orders-api', 'mi-C');
    assert.equal(a.traceId, '683c4200a00000000000000000000000');
    assert.equal(b.traceId, '683c4200b00000000000000000000000');
    assert.equal(startMs(a), ms('2025-06-01T12:00:00.100Z'));
    assert.equal(endMs(a), ms('2025-06-01T12:00:00.390Z'));
    assert.equal(startMs(b), ms('2025-06-01T12:00:00.120Z'));
    assert.equal(endMs(b), ms('2025-06-01T12:00:00.270Z'));
    assert.equal(c.status?.code, STATUS_ERROR);
    assert.deepEqual(
      childrenOf(spans, b)
        .map((s) => s.name)
        .sort(),
      ['responseDuration', 'responseLatency'],
    );
    assert.equal(
      startMs(childrenOf(spans, a).find((s) => s.name === 'responseLatency') as LocatedSpan),
      ms('2025-06-01T12:00:00.100Z'),
    );
    assert.equal(attrs(a.attributes)['faas.coldstart'], true);
    assert.equal(attrs(b.attributes)['faas.coldstart'], false);
  });

  it('keeps the managed-instances init in its own trace, linked from the first invocation', () => {
    const a = spanNamed(spans, 'orders-api', 'mi-A');
    const init = spanNamed(spans, 'init');
    assert.notEqual(init.traceId, a.traceId);
    assert.equal(init.parentSpanId, '');
    assert.equal(a.links.length, 1);
    assert.equal(a.links[0]?.traceId, init.traceId);
    assert.equal(a.links[0]?.spanId, init.spanId);
    assert.equal(attrs(init.attributes)['aws.lambda.initialization_type'], 'lambda-managed-instances');
  });

  it('takes faas.instance and memory from initStart', () => {
    const r = spanNamed(spans, 'init').resource;
    assert.equal(r['faas.instance'], 'lmi-7f3a9c');
    assert.equal(r['faas.max_memory'], 2048 * MIB);
  });

  it('counts from reports alone', () => {
    assert.equal(counterValue(metric(metrics, 'faas.invocations')), 3);
    assert.equal(counterValue(metric(metrics, 'faas.errors'), { 'error.type': 'Runtime.HandlerError' }), 1);
    const warm = histogramPoint(metric(metrics, 'faas.invoke_duration'), { 'faas.coldstart': false });
    assert.equal(Number(warm.count), 2);
    assert.ok(Math.abs((warm.sum ?? 0) - 0.33) < 1e-9);
    assert.equal(
      metrics.find((m) => m.name === 'aws.lambda.post_runtime_duration'),
      undefined,
    );
    assert.equal(
      metrics.find((m) => m.name === 'aws.lambda.billed_duration'),
      undefined,
    );
    assertBuckets(
      histogramPoint(metric(metrics, 'faas.init_duration'), {
        'aws.lambda.initialization_type': 'lambda-managed-instances',
      }),
      DURATION_BUCKETS_S,
      [0.9],
    );
  });
});

describe('golden: late report', () => {
  const run = runFixture(loadFixture('late-report'));
  const [held, first, second, final] = run.collects;

  it('holds the ended invocation span for maxHeldMs', () => {
    assert.equal(spansOf(held).length, 0);
    const spans = spansOf(first);
    assert.deepEqual(spans.map((s) => s.name).sort(), ['orders-api', 'responseDuration', 'responseLatency']);
  });

  it("attaches N's report (arriving during N+1) to N by requestId", () => {
    const n1 = spanNamed(spansOf(first), 'orders-api', 'n-1');
    const spans = spansOf(second);
    const n2 = spanNamed(spans, 'orders-api', 'n-2');
    const late = spans.filter((s) => s.name === 'runtimeOverhead' || s.name === 'extensionOverhead');
    assert.equal(late.length, 2);
    for (const s of late) {
      assert.equal(s.traceId, n1.traceId);
      assert.equal(s.parentSpanId, n1.spanId);
      assert.ok(startMs(s) < startMs(n2));
    }
    assert.equal(attrs(n2.attributes)['faas.coldstart'], false);
  });

  it("attaches N+1's report at shutdown and counts both reports", () => {
    const spans = spansOf(final);
    const n2children = spans.filter((s) => s.name === 'runtimeOverhead' || s.name === 'extensionOverhead');
    assert.equal(n2children.length, 2);
    for (const s of n2children) assert.equal(s.traceId, '683c4214222222222222222222222222');
    const metrics = metricsOf(final);
    const billed = histogramPoint(metric(metrics, 'aws.lambda.billed_duration'));
    assertBuckets(billed, DURATION_BUCKETS_S, [0.059, 0.039]);
    assert.equal(counterValue(metric(metrics, 'faas.invocations')), 2);
    const post = histogramPoint(metric(metrics, 'aws.lambda.post_runtime_duration'));
    assert.equal(Number(post.count), 2);
  });
});

describe('golden: missing runtimeDone', () => {
  const run = runFixture(loadFixture('missing-runtime-done'));
  const [first, second] = run.collects;

  it('ends a report-only invocation at start + durationMs', () => {
    const spans = spansOf(first);
    assert.equal(spans.length, 2, 'm-1 and its extensionOverhead; m-2 still open');
    const m1 = spanNamed(spans, 'orders-api', 'm-1');
    assert.equal(startMs(m1), ms('2025-06-01T12:00:00.010Z'));
    assert.equal(endMs(m1), ms('2025-06-01T12:00:00.130Z'));
    assert.equal(attrs(m1.attributes)['aws.lambda.incomplete'], undefined);
    const invoke = histogramPoint(metric(metricsOf(first), 'faas.invoke_duration'));
    assert.ok(Math.abs((invoke.sum ?? 0) - 0.1) < 1e-9, 'report duration minus extension overhead');
  });

  it('exports an invocation that never ended as incomplete once past its deadline', () => {
    const spans = spansOf(second);
    const m2 = spanNamed(spans, 'orders-api', 'm-2');
    assert.equal(attrs(m2.attributes)['aws.lambda.incomplete'], true);
    assert.equal(startMs(m2), ms('2025-06-01T12:00:01.002Z'));
    assert.ok(endMs(m2) >= startMs(m2));
    assert.equal(run.converter.stats.evictedByAge, 1);
    assert.equal(run.converter.heldInvocations, 0, 'nothing left behind');
    assert.equal(counterValue(metric(metricsOf(second), 'faas.invocations')), 2);
  });
});

describe('golden: eviction', () => {
  const run = runFixture(loadFixture('eviction'));
  const [first, final] = run.collects;

  it('exports the oldest invocation incomplete when the bound is reached', () => {
    const spans = spansOf(first);
    const e1 = spanNamed(spans, 'orders-api', 'e-1');
    assert.equal(attrs(e1.attributes)['aws.lambda.incomplete'], true);
    assert.equal(spans.length, 1);
    assert.equal(run.converter.stats.evictedByCount, 1);
  });

  it('still places late records of the evicted invocation, without counting it twice', () => {
    const spans = spansOf(final);
    const e1 = spanNamed(spansOf(first), 'orders-api', 'e-1');
    const late = spanNamed(spans, 'responseLatency');
    assert.equal(late.parentSpanId, e1.spanId);
    for (const id of ['e-2', 'e-3']) {
      assert.equal(attrs(spanNamed(spans, 'orders-api', id).attributes)['aws.lambda.incomplete'], true);
    }
    assert.equal(counterValue(metric(metricsOf(final), 'faas.invocations')), 3);
    assert.equal(run.converter.stats.incompleteInvocations, 3);
  });
});

describe('golden: delta temporality', () => {
  const run = runFixture(loadFixture('late-report'), { temporality: 'delta' });
  const [held, quiet, second, final] = run.collects;

  it('reports each interval once, starting where the previous reported interval ended', () => {
    const a = metric(metricsOf(held), 'faas.invocations');
    assert.equal(a.sum?.aggregationTemporality, DELTA);
    assert.equal(counterValue(a), 1);
    assert.equal(metricsOf(quiet).length, 0, 'nothing happened: no metrics chunk');
    const b = metric(metricsOf(second), 'faas.invocations');
    assert.equal(counterValue(b), 1);
    const point = counterPoints(b)[0] as NumberDataPoint;
    assert.equal(nanosToMs(point.startTimeUnixNano), ms('2025-06-01T12:00:00.500Z'));
    assert.equal(nanosToMs(point.timeUnixNano), ms('2025-06-01T12:00:21.500Z'));
    assert.equal(histogramPoint(metric(metricsOf(second), 'aws.lambda.billed_duration')).max, 0.059);
    const finalMetrics = metricsOf(final);
    assert.equal(
      finalMetrics.find((m) => m.name === 'faas.invocations'),
      undefined,
      'no new invocations in the last interval',
    );
    const billed = metric(finalMetrics, 'aws.lambda.billed_duration');
    assert.equal(billed.histogram?.aggregationTemporality, DELTA);
    assertBuckets(histogramPoint(billed), DURATION_BUCKETS_S, [0.039]);
  });
});

describe('golden: asynchronous retry under the same requestId', () => {
  const run = runFixture(loadFixture('async-retry'));
  const [first, final] = run.collects;

  it('exports both attempts, each in its own trace, and routes the late report to the first', () => {
    const a1 = one(
      spansOf(first).filter((s) => s.name === 'orders-api'),
      'first attempt',
    );
    assert.equal(a1.traceId, '683c4200a1a1a1a1a1a1a1a1a1a1a1a1');
    assert.equal(a1.status?.code, STATUS_ERROR);
    const spans = spansOf(final);
    const a2 = spanNamed(spans, 'orders-api');
    assert.equal(a2.traceId, '683c423cb2b2b2b2b2b2b2b2b2b2b2b2');
    assert.equal(a2.status?.code, STATUS_UNSET);
    assert.equal(startMs(a2), ms('2025-06-01T12:01:00.299Z'));
    assert.equal(attrs(a2.attributes)['faas.coldstart'], false);
    const late = spanNamed(spans, 'extensionOverhead');
    assert.equal(late.traceId, a1.traceId);
    assert.equal(late.parentSpanId, a1.spanId);
    assert.equal(run.converter.stats.retries, 1);
  });

  it('counts two invocations, one error, two reports, despite the redelivered runtimeDone', () => {
    const metrics = metricsOf(final);
    assert.equal(counterValue(metric(metrics, 'faas.invocations')), 2);
    assert.equal(counterValue(metric(metrics, 'faas.errors'), { 'error.type': 'Runtime.HandlerError' }), 1);
    assertBuckets(
      histogramPoint(metric(metrics, 'aws.lambda.billed_duration')),
      DURATION_BUCKETS_S,
      [0.209, 0.106],
    );
    assert.equal(
      Number(histogramPoint(metric(metrics, 'faas.invoke_duration'), { 'faas.coldstart': false }).count),
      1,
    );
  });
});
