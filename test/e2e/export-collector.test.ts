// The extension from the built layer, in the Lambda simulator, exporting to a real OpenTelemetry
// Collector: a cold invocation, warm ones, a function error, a timeout (reset, re-init) and a final
// SHUTDOWN. The collector's file output is decoded and checked field by field against what the
// simulator did (request ids, X-Ray headers, platform span ids, inits, reports). Shorter runs then
// prove delta temporality, OTLP/JSON and uncompressed bodies against the same collector.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type AttributeMap,
  attributesToObject,
  type CollectorOutput,
  type OtlpLogRecordJson,
  type OtlpMetricJson,
  type OtlpSpanJson,
  type Scoped,
} from '../support/collector/collector.js';
import { type FaultProxy, startFaultProxy } from '../support/fakes/fault-proxy.js';
import type { LambdaSimulator } from '../../tools/simulator/index.js';
import type { InvocationResult } from '../../tools/simulator/types.js';
import { exportSummary, extensionEnvironment } from '../support/e2e-harness.js';
import { useCollector } from '../support/collector-suite.js';

const REGION = 'eu-west-1';
const ACCOUNT = '210987654321';
const MEMORY_MB = 256;
/** Semantic-convention bucket bounds for FaaS durations (seconds). */
const DURATION_BOUNDS_S = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
const SPAN_KIND_INTERNAL = 1;
const SPAN_KIND_SERVER = 2;
const STATUS_ERROR = 2;
const TEMPORALITY_DELTA = 1;
const TEMPORALITY_CUMULATIVE = 2;
/** A UCUM unit as OTLP metrics use them: a base unit or an annotation in braces. */
const UCUM_UNIT = /^(s|ms|By|1|\{[a-z_.]+\})$/;

const col = useCollector({ layer: true });

// ---- reading the collector's output ---------------------------------------------------------------

const resourceOf = (s: Scoped<unknown>): AttributeMap => attributesToObject(s.resource.attributes);
const attrsOf = (item: { attributes?: OtlpSpanJson['attributes'] }): AttributeMap =>
  attributesToObject(item.attributes);
const ofFunction = <T>(items: Scoped<T>[], fn: string): Scoped<T>[] =>
  items.filter((s) => resourceOf(s)['faas.name'] === fn);

function invocationSpans(out: CollectorOutput, fn: string): Scoped<OtlpSpanJson>[] {
  return ofFunction(out.spans, fn).filter((s) => attrsOf(s.item)['faas.invocation_id'] !== undefined);
}

/** `Root=1-5759e988-bd862e3fe1be46a994272793;…` → the 32-hex OTLP trace id. */
function xrayTraceId(tracingValue: string): string {
  const root = /Root=1-([0-9a-f]{8})-([0-9a-f]{24})/.exec(tracingValue);
  assert.ok(root, `no X-Ray root in ${tracingValue}`);
  return `${root[1]}${root[2]}`;
}

/** The X-Ray Parent; '' for a PassThrough header without one (`Root=…;Lineage=…`). */
function xrayParent(tracingValue: string): string {
  return /Parent=([0-9a-f]{16})/.exec(tracingValue)?.[1] ?? '';
}

const nanos = (v: string | undefined): bigint => BigInt(v ?? '0');

interface Point {
  resource: AttributeMap;
  metric: OtlpMetricJson;
  attributes: AttributeMap;
  startNs: bigint;
  timeNs: bigint;
  /** Sum value, or histogram count. */
  value: number;
  raw: Record<string, unknown>;
}

/** Every data point of `name` from `fn`'s platform telemetry, in export order. */
function points(out: CollectorOutput, fn: string, name: string): Point[] {
  const list: Point[] = [];
  for (const m of ofFunction(out.metricPoints, fn)) {
    if (m.item.name !== name) continue;
    const data = m.item.sum?.dataPoints ?? m.item.gauge?.dataPoints ?? m.item.histogram?.dataPoints ?? [];
    for (const p of data as Record<string, unknown>[]) {
      const value = p['asInt'] ?? p['asDouble'] ?? p['count'] ?? 0;
      list.push({
        resource: resourceOf(m),
        metric: m.item,
        attributes: attributesToObject(p['attributes'] as OtlpSpanJson['attributes']),
        startNs: nanos(p['startTimeUnixNano'] as string),
        timeNs: nanos(p['timeUnixNano'] as string),
        value: Number(value),
        raw: p,
      });
    }
  }
  return list;
}

const seriesKey = (p: Point): string => `${p.resource['faas.instance']}|${JSON.stringify(p.attributes)}`;

/** The last cumulative value of each series (per execution environment), summed. */
function cumulativeTotal(list: Point[], filter: (p: Point) => boolean = () => true): number {
  const last = new Map<string, Point>();
  for (const p of list) {
    if (!filter(p)) continue;
    const prev = last.get(seriesKey(p));
    if (!prev || p.timeNs >= prev.timeNs) last.set(seriesKey(p), p);
  }
  return [...last.values()].reduce((n, p) => n + p.value, 0);
}

/** Cumulative series: one start time per series, values never decrease. */
function assertCumulative(list: Point[], name: string): void {
  const bySeries = new Map<string, Point[]>();
  for (const p of list) bySeries.set(seriesKey(p), [...(bySeries.get(seriesKey(p)) ?? []), p]);
  for (const [key, series] of bySeries) {
    series.sort((a, b) => (a.timeNs < b.timeNs ? -1 : a.timeNs > b.timeNs ? 1 : 0));
    for (let i = 1; i < series.length; i++) {
      const [prev, cur] = [series[i - 1] as Point, series[i] as Point];
      assert.equal(cur.startNs, prev.startNs, `${name} ${key}: cumulative start time moved`);
      assert.ok(cur.value >= prev.value, `${name} ${key}: cumulative value went down`);
    }
  }
}

function logRecordsOf(out: CollectorOutput, fn: string): Scoped<OtlpLogRecordJson>[] {
  return ofFunction(out.logRecords, fn).filter((r) => attrsOf(r.item)['aws.lambda.log.type'] === 'function');
}

const bodyOf = (r: Scoped<OtlpLogRecordJson>): string => String(r.item.body?.stringValue ?? '');

/** Checks a log record's correlation with the invocation it was written in. */
function assertCorrelated(r: Scoped<OtlpLogRecordJson>, inv: InvocationResult, what: string): void {
  assert.equal(attrsOf(r.item)['faas.invocation_id'], inv.requestId, `${what}: faas.invocation_id`);
  assert.equal(r.item.traceId, xrayTraceId(inv.tracing.value), `${what}: trace id`);
  assert.equal(r.item.spanId, inv.tracing.spanId, `${what}: span id`);
}

async function runAndShutdown(sim: LambdaSimulator, payloads: unknown[]): Promise<InvocationResult[]> {
  const results: InvocationResult[] = [];
  for (const payload of payloads) results.push(await sim.invoke(payload));
  const down = await sim.shutdown();
  assert.ok(
    down.extensions.every((e) => e.exitedBeforeDeadline),
    'the extension exits before the SHUTDOWN deadline',
  );
  return results;
}

// ---- the full lifecycle ---------------------------------------------------------------------------

test('cold, warm, error, timeout and re-init: spans, metrics and logs arrive field by field', async () => {
  const fn = 'orders-lifecycle';
  const { sim, extensionLines } = await extensionEnvironment({
    handler: 'scenario.mjs',
    endpoint: col.endpoint,
    functionName: fn,
    functionVersion: '7',
    memorySizeMB: MEMORY_MB,
    timeoutMs: 1500,
    region: REGION,
    accountId: ACCOUNT,
  });
  let results: InvocationResult[];
  try {
    results = await runAndShutdown(sim, [
      { log: ['cold line'], raw: ['[WARN] raw warning line'] },
      { log: ['warm line one'] },
      { log: ['warm line two'] },
      { log: ['about to fail'], throw: { name: 'OrderRejected', message: 'no stock' } },
      { log: ['about to hang'], sleepMs: 30_000 },
      { log: ['after re-init'] },
      { log: ['warm after re-init'] },
    ]);
  } finally {
    await sim.close();
  }
  const [cold, warm1, warm2, failed, timedOut, reinit, warm3] = results as [
    InvocationResult,
    InvocationResult,
    InvocationResult,
    InvocationResult,
    InvocationResult,
    InvocationResult,
    InvocationResult,
  ];
  // What the simulator did, which the telemetry must describe.
  assert.deepEqual(
    results.map((r) => [r.status, r.coldStart]),
    [
      ['success', true],
      ['success', false],
      ['success', false],
      ['error', false],
      ['timeout', false],
      ['success', true],
      ['success', false],
    ],
  );
  assert.equal(timedOut.reset?.reason, 'timeout');
  assert.equal(sim.inits.length, 2);

  const out = await col.waitFor(
    (o) =>
      invocationSpans(o, fn).length >= results.length &&
      ofFunction(o.metricPoints, fn).some((m) => m.item.name.startsWith('otel_lambda_extension.')),
    15_000,
  );
  const arn = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${fn}`;

  // Resource: identical attributes on every signal, one faas.instance per execution environment.
  const resources = [
    ...ofFunction(out.spans, fn),
    ...ofFunction(out.metricPoints, fn),
    ...logRecordsOf(out, fn),
  ].map(resourceOf);
  const instances = new Set(resources.map((r) => r['faas.instance']));
  assert.equal(instances.size, 2, 'two execution environments, two faas.instance values');
  for (const r of resources) {
    assert.equal(r['cloud.provider'], 'aws');
    assert.equal(r['cloud.platform'], 'aws_lambda');
    assert.equal(r['cloud.region'], REGION);
    assert.equal(r['cloud.account.id'], ACCOUNT);
    assert.equal(r['faas.name'], fn);
    assert.equal(r['faas.version'], '7');
    assert.match(String(r['faas.instance']), /^\S{8,}$/);
    assert.equal(r['faas.max_memory'], MEMORY_MB * 1024 * 1024, 'faas.max_memory in bytes');
    assert.deepEqual(r['aws.log.group.names'], [`/aws/lambda/${fn}`]);
    assert.equal(r['service.name'], fn);
    // Learnt from the first INVOKE: absent before it is known, never wrong.
    if (r['cloud.resource_id'] !== undefined) assert.equal(r['cloud.resource_id'], arn);
    if (r['faas.id'] !== undefined) assert.equal(r['faas.id'], arn);
  }

  // One SERVER span per invocation, in the X-Ray trace of that invocation.
  const spans = invocationSpans(out, fn);
  assert.equal(new Set(spans.map((s) => s.item.spanId)).size, spans.length, 'no invocation span twice');
  assert.equal(spans.length, results.length);
  const spanOf = new Map(spans.map((s) => [attrsOf(s.item)['faas.invocation_id'], s]));
  for (const inv of results) {
    const s = spanOf.get(inv.requestId);
    assert.ok(s, `invocation span for ${inv.requestId}`);
    const a = attrsOf(s.item);
    assert.equal(s.item.name, fn);
    assert.equal(s.item.kind, SPAN_KIND_SERVER);
    assert.equal(s.item.traceId, xrayTraceId(inv.tracing.value), 'trace id = X-Ray Root');
    assert.equal(s.item.spanId, inv.tracing.spanId, 'span id = platform.start tracing spanId');
    assert.equal(s.item.parentSpanId ?? '', xrayParent(inv.tracing.value), 'parent = X-Ray Parent');
    assert.equal(a['faas.coldstart'], inv.coldStart, `faas.coldstart of ${inv.requestId}`);
    assert.equal(a['faas.trigger'], 'other');
    assert.equal(resourceOf(s)['cloud.resource_id'], arn);
    assert.equal(a['cloud.resource_id'], arn);
    assert.equal(a['aws.lambda.invoked_arn'], sim.invokedFunctionArn);
    assert.ok(nanos(s.item.endTimeUnixNano) > nanos(s.item.startTimeUnixNano), 'span has a duration');
    if (inv.status === 'success') {
      assert.notEqual(s.item.status?.code, STATUS_ERROR);
      assert.equal(a['error.type'], undefined);
    } else {
      assert.equal(s.item.status?.code, STATUS_ERROR, `${inv.status} invocation has status ERROR`);
      const accepted = inv.status === 'timeout' ? [inv.errorType, 'timeout'] : [inv.errorType];
      assert.ok(
        accepted.includes(String(a['error.type'])),
        `error.type ${a['error.type']} for ${inv.status}`,
      );
    }
  }
  assert.equal(attrsOf(spanOf.get(failed.requestId)!.item)['error.type'], 'OrderRejected');

  // Child spans from runtimeDone and the report.
  const children = ofFunction(out.spans, fn).filter(
    (s) => s.item.kind === SPAN_KIND_INTERNAL && attrsOf(s.item)['aws.lambda.phase'] === undefined,
  );
  for (const inv of results) {
    const parent = spanOf.get(inv.requestId)!.item;
    const mine = children.filter((c) => c.item.parentSpanId === parent.spanId);
    for (const c of mine) {
      assert.equal(c.item.traceId, parent.traceId);
      assert.ok(nanos(c.item.startTimeUnixNano) >= nanos(parent.startTimeUnixNano), `${c.item.name} start`);
      // The invocation span ends with the response (the extensions' time after it is reported
      // apart); record times carry whole milliseconds, so a response span may overhang by < 1 ms.
      if (c.item.name !== 'extensionOverhead') {
        assert.ok(
          nanos(c.item.endTimeUnixNano) < nanos(parent.endTimeUnixNano) + 1_000_000n,
          `${c.item.name} ends with the invocation`,
        );
      }
    }
    const names = mine.map((c) => c.item.name);
    if (inv.status !== 'timeout') {
      assert.ok(names.includes('responseLatency'), `responseLatency of ${inv.requestId}: ${names}`);
      assert.ok(names.includes('responseDuration'), `responseDuration of ${inv.requestId}: ${names}`);
    }
    const report = sim
      .records(['platform.report'])
      .find((r) => (r.record as { requestId?: string }).requestId === inv.requestId);
    const reportHasOverhead = JSON.stringify(report?.record ?? {}).includes('extensionOverhead');
    assert.equal(
      names.includes('extensionOverhead'),
      reportHasOverhead,
      `extensionOverhead of ${inv.requestId}`,
    );
  }
  assert.ok(
    children.some((c) => c.item.name === 'extensionOverhead'),
    'reports arrived with extensionOverhead',
  );

  // An init span for each init, in the trace of the first invocation after it.
  const initSpans = ofFunction(out.spans, fn).filter(
    (s) => attrsOf(s.item)['aws.lambda.phase'] !== undefined,
  );
  assert.equal(initSpans.length, sim.inits.length);
  for (const [init, first] of [
    [sim.inits[0]!, cold],
    [sim.inits[1]!, reinit],
  ] as const) {
    const span = initSpans.find((s) => s.item.traceId === xrayTraceId(first.tracing.value));
    assert.ok(span, `init span in the trace of ${first.requestId}`);
    const a = attrsOf(span.item);
    assert.equal(a['aws.lambda.phase'], init.phase);
    assert.equal(a['aws.lambda.initialization_type'], init.initializationType);
    assert.equal(span.item.parentSpanId, first.tracing.spanId);
    const durationMs = Number(nanos(span.item.endTimeUnixNano) - nanos(span.item.startTimeUnixNano)) / 1e6;
    assert.ok(
      durationMs > 0 && durationMs <= init.durationMs + 5,
      `init span ${durationMs} ms vs ${init.durationMs}`,
    );
  }

  // Metrics: cumulative by default, counts matching what happened.
  const platformMetrics = ofFunction(out.metricPoints, fn);
  for (const m of platformMetrics) {
    const temporality = m.item.sum?.aggregationTemporality ?? m.item.histogram?.aggregationTemporality;
    if (temporality !== undefined)
      assert.equal(temporality, TEMPORALITY_CUMULATIVE, `${m.item.name} temporality`);
  }
  const invocations = points(out, fn, 'faas.invocations');
  assertCumulative(invocations, 'faas.invocations');
  assert.equal(invocations[0]?.metric.unit, '{invocation}');
  assert.equal(cumulativeTotal(invocations), results.length, 'faas.invocations');
  const errors = points(out, fn, 'faas.errors');
  assertCumulative(errors, 'faas.errors');
  assert.equal(cumulativeTotal(errors), results.filter((r) => r.status !== 'success').length, 'faas.errors');
  assert.equal(
    cumulativeTotal(errors, (p) => p.attributes['error.type'] === 'OrderRejected'),
    1,
    'faas.errors by error.type',
  );
  assert.equal(cumulativeTotal(points(out, fn, 'faas.timeouts')), 1, 'faas.timeouts');
  assert.equal(
    cumulativeTotal(points(out, fn, 'faas.coldstarts')),
    results.filter((r) => r.coldStart).length,
    'faas.coldstarts',
  );
  const invokeDuration = points(out, fn, 'faas.invoke_duration');
  assertCumulative(invokeDuration, 'faas.invoke_duration');
  assert.equal(invokeDuration[0]?.metric.unit, 's');
  for (const p of invokeDuration) assert.deepEqual(p.raw['explicitBounds'], DURATION_BOUNDS_S);
  assert.equal(cumulativeTotal(invokeDuration), results.length, 'faas.invoke_duration count');
  assert.equal(
    cumulativeTotal(invokeDuration, (p) => p.attributes['faas.coldstart'] === true),
    2,
    'cold invocations in faas.invoke_duration',
  );
  const initDuration = points(out, fn, 'faas.init_duration');
  assert.equal(initDuration[0]?.metric.unit, 's');
  for (const p of initDuration) assert.deepEqual(p.raw['explicitBounds'], DURATION_BOUNDS_S);
  assert.equal(cumulativeTotal(initDuration), sim.inits.length, 'faas.init_duration count');
  const memUsage = points(out, fn, 'faas.mem_usage');
  assert.equal(memUsage[0]?.metric.unit, 'By');
  const reported = results.filter((r) => r.maxMemoryUsedMB !== undefined);
  assert.equal(cumulativeTotal(memUsage), reported.length, 'faas.mem_usage count');
  const lastSums = new Map<string, number>();
  for (const p of memUsage) lastSums.set(seriesKey(p), Number(p.raw['sum']));
  assert.equal(
    [...lastSums.values()].reduce((a, b) => a + b, 0),
    reported.reduce((n, r) => n + (r.maxMemoryUsedMB ?? 0) * 1024 * 1024, 0),
    'faas.mem_usage sum = reported MB × 2^20',
  );
  const lambdaMetrics = platformMetrics.filter((m) => m.item.name.startsWith('aws.lambda.'));
  assert.ok(lambdaMetrics.length > 0, 'aws.lambda.* metrics exported');
  for (const m of lambdaMetrics) assert.match(m.item.unit ?? '', UCUM_UNIT, `${m.item.name} unit`);
  const billed = points(out, fn, 'aws.lambda.billed_duration');
  assert.equal(billed[0]?.metric.unit, 's');
  assert.equal(cumulativeTotal(billed), results.filter((r) => r.billedDurationMs !== undefined).length);

  // Logs: each line once, correlated with its invocation, severity parsed.
  const logs = logRecordsOf(out, fn);
  for (const [inv, line] of [
    [cold, 'cold line'],
    [warm1, 'warm line one'],
    [warm2, 'warm line two'],
    [failed, 'about to fail'],
    [timedOut, 'about to hang'],
    [reinit, 'after re-init'],
    [warm3, 'warm after re-init'],
  ] as const) {
    const found = logs.filter((r) => bodyOf(r) === line);
    assert.equal(found.length, 1, `log line "${line}" exported once`);
    const r = found[0]!;
    assert.equal(r.item.severityText, 'INFO');
    assert.equal(r.item.severityNumber, 9);
    assertCorrelated(r, inv, line);
  }
  const invokeError = logs.find((r) => bodyOf(r).startsWith('Invoke Error'));
  assert.ok(invokeError, 'the runtime error line');
  assert.equal(invokeError.item.severityText, 'ERROR');
  assert.equal(invokeError.item.severityNumber, 17);
  assertCorrelated(invokeError, failed, 'Invoke Error');
  const warning = logs.find((r) => bodyOf(r).includes('raw warning line'));
  assert.ok(warning, 'a raw stdout line');
  assert.equal(warning.item.severityText, 'WARN');
  assert.equal(warning.item.severityNumber, 13);

  // Nothing lost on the way: the extension's accounting matches what the collector holds.
  const summaries = extensionLines().filter((l) => / shutdown \(/.test(l));
  assert.equal(summaries.length, 2, 'one summary per execution environment');
  for (const line of summaries) {
    const s = exportSummary([line]);
    assert.ok(s);
    assert.equal(s.dropped, 0, line);
    assert.equal(s.unsent, 0, line);
    assert.equal(s.queued, s.exported, line);
  }
  const all = [
    ...ofFunction(out.spans, fn),
    ...ofFunction(out.metricPoints, fn),
    ...ofFunction(out.logRecords, fn),
  ];
  const exported = summaries.reduce((n, l) => n + (exportSummary([l])?.exported ?? 0), 0);
  const metricItems = ofFunction(out.metricPoints, fn).reduce((n, m) => n + dataPointCount(m.item), 0);
  assert.equal(
    ofFunction(out.spans, fn).length + metricItems + ofFunction(out.logRecords, fn).length,
    exported,
    `collector holds exactly what the extension exported (${all.length} entries)`,
  );
});

function dataPointCount(m: OtlpMetricJson): number {
  return (
    m.sum?.dataPoints?.length ??
    m.gauge?.dataPoints?.length ??
    m.histogram?.dataPoints?.length ??
    m.exponentialHistogram?.dataPoints?.length ??
    m.summary?.dataPoints?.length ??
    0
  );
}

// ---- temporality, encodings ------------------------------------------------------------------------

test('delta temporality on request: every point covers its own interval and the sums add up', async () => {
  const fn = 'orders-delta';
  const { sim } = await extensionEnvironment({
    handler: 'scenario.mjs',
    endpoint: col.endpoint,
    functionName: fn,
    region: REGION,
    accountId: ACCOUNT,
    env: {
      OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'delta',
      OTEL_SERVICE_NAME: 'orders-service',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=e2e,team=payments',
    },
  });
  let results: InvocationResult[];
  try {
    results = await runAndShutdown(sim, [
      { log: ['one'] },
      { log: ['two'] },
      { throw: { name: 'Boom' } },
      { log: ['four'] },
    ]);
  } finally {
    await sim.close();
  }
  const out = await col.waitFor((o) => invocationSpans(o, fn).length >= results.length, 10_000);
  const r = resourceOf(invocationSpans(out, fn)[0]!);
  assert.equal(r['service.name'], 'orders-service', 'OTEL_SERVICE_NAME wins over the function name');
  assert.equal(r['deployment.environment.name'], 'e2e');
  assert.equal(r['team'], 'payments');
  assert.equal(r['faas.name'], fn);

  const metrics = ofFunction(out.metricPoints, fn);
  assert.ok(metrics.length > 0);
  for (const m of metrics) {
    const temporality = m.item.sum?.aggregationTemporality ?? m.item.histogram?.aggregationTemporality;
    if (temporality !== undefined) assert.equal(temporality, TEMPORALITY_DELTA, `${m.item.name} is delta`);
  }
  const sum = (list: Point[]): number => list.reduce((n, p) => n + p.value, 0);
  const invocations = points(out, fn, 'faas.invocations');
  assert.equal(sum(invocations), results.length, 'delta faas.invocations add up to the invocations');
  assert.equal(sum(points(out, fn, 'faas.errors')), 1);
  assert.equal(sum(points(out, fn, 'faas.coldstarts')), 1);
  assert.equal(sum(points(out, fn, 'faas.invoke_duration')), results.length);
  // Consecutive delta points of a series do not overlap.
  for (const name of ['faas.invocations', 'faas.invoke_duration']) {
    const bySeries = new Map<string, Point[]>();
    for (const p of points(out, fn, name))
      bySeries.set(seriesKey(p), [...(bySeries.get(seriesKey(p)) ?? []), p]);
    for (const series of bySeries.values()) {
      series.sort((a, b) => (a.startNs < b.startNs ? -1 : 1));
      for (let i = 1; i < series.length; i++) {
        assert.ok(series[i]!.startNs >= series[i - 1]!.timeNs, `${name}: delta intervals overlap`);
      }
    }
  }
});

/** Runs two invocations through a recording proxy in front of the collector. */
async function encodedRun(fn: string, env: Record<string, string>) {
  const proxy: FaultProxy = await startFaultProxy(col.endpoint);
  try {
    const { sim } = await extensionEnvironment({
      handler: 'scenario.mjs',
      endpoint: proxy.url,
      functionName: fn,
      env,
    });
    let results: InvocationResult[];
    try {
      results = await runAndShutdown(sim, [{ log: [`${fn} first`] }, { log: [`${fn} second`] }]);
    } finally {
      await sim.close();
    }
    const out = await col.waitFor((o) => invocationSpans(o, fn).length >= results.length, 10_000);
    return { out, results, requests: [...proxy.log] };
  } finally {
    await proxy.close();
  }
}

/** The same checks for any encoding: spans, log records and the invocation count made it through. */
function assertDelivered(
  out: CollectorOutput,
  fn: string,
  results: InvocationResult[],
  requests: FaultProxy['log'],
): void {
  assert.ok(requests.length >= 3, 'traces, metrics and logs were sent');
  for (const path of ['/v1/traces', '/v1/metrics', '/v1/logs']) {
    assert.ok(
      requests.some((r) => r.path === path && r.status === 200),
      `collector answered 200 on ${path}`,
    );
  }
  assert.deepEqual(
    requests.filter((r) => r.status !== 200),
    [],
    'the collector accepted every request',
  );
  const spans = invocationSpans(out, fn);
  for (const inv of results) {
    const s = spans.find((x) => attrsOf(x.item)['faas.invocation_id'] === inv.requestId);
    assert.ok(s, `span of ${inv.requestId}`);
    assert.equal(s.item.traceId, xrayTraceId(inv.tracing.value));
    assert.equal(s.item.spanId, inv.tracing.spanId);
  }
  const logs = logRecordsOf(out, fn);
  for (const [inv, line] of [
    [results[0]!, `${fn} first`],
    [results[1]!, `${fn} second`],
  ] as const) {
    const r = logs.find((x) => bodyOf(x) === line);
    assert.ok(r, `log line ${line}`);
    assertCorrelated(r, inv, line);
  }
  assert.equal(cumulativeTotal(points(out, fn, 'faas.invocations')), results.length);
  assert.deepEqual(points(out, fn, 'faas.invoke_duration').at(-1)?.raw['explicitBounds'], DURATION_BOUNDS_S);
}

test('OTLP/JSON (LAMBDA_OTEL_EXPORTER_PROTOCOL=http/json) is accepted by the collector', async () => {
  const fn = 'orders-json';
  const { out, results, requests } = await encodedRun(fn, { LAMBDA_OTEL_EXPORTER_PROTOCOL: 'http/json' });
  for (const r of requests) assert.match(String(r.headers['content-type']), /^application\/json/);
  assert.ok(
    requests.every((r) => r.headers['content-encoding'] === 'gzip'),
    'still gzip by default',
  );
  assertDelivered(out, fn, results, requests);
});

test('uncompressed bodies (LAMBDA_OTEL_EXPORTER_COMPRESSION=none) are accepted by the collector', async () => {
  const fn = 'orders-plain';
  const { out, results, requests } = await encodedRun(fn, { LAMBDA_OTEL_EXPORTER_COMPRESSION: 'none' });
  for (const r of requests) {
    assert.match(String(r.headers['content-type']), /^application\/x-protobuf/);
    assert.equal(r.headers['content-encoding'], undefined);
  }
  assertDelivered(out, fn, results, requests);
});
