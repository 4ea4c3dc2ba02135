// The function's own telemetry, end to end: an instrumented handler running the real OpenTelemetry
// Node SDK exports traces, metrics and logs over OTLP/HTTP protobuf to the extension's local
// receiver inside the simulator, and the real collector's output shows ONE connected trace per
// invocation: the platform invocation span (with its phase children) and the handler span with its
// children. How they join depends on the function's trace:
//   xray   handler continues _X_AMZN_TRACE_ID: it sits under the platform span, nothing to rewrite;
//   root   handler starts a random trace: it is re-parented under the platform span, which adopts
//          the function's trace id;
//   event  handler continues an upstream W3C traceparent: the platform span joins that trace as the
//          handler's sibling.
// Without a force-flush (the batch processor's default 5 s delay) data arrives late, during a later
// invocation or at SHUTDOWN (the SDK shuts down on SIGTERM): all of it must still be exported, and
// what can no longer join must not point at a parent in another trace.

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  type AttributeMap,
  attributesToObject,
  type CollectorOutput,
  type OtlpSpanJson,
} from '../support/collector/collector.js';
import type { InvocationResult } from '../../tools/simulator/types.js';
import {
  extensionEnvironment,
  SETUP_MODULE,
  EXTENSION_SCOPE,
  FUNCTION_SCOPE,
  randomHex,
} from '../support/e2e-harness.js';
import { useCollector } from '../support/collector-suite.js';

const FUNCTION_SERVICE = 'otel-fixture-fn';
const SPAN_KIND_SERVER = 2;

type ParentMode = 'xray' | 'root' | 'event';

interface Variant {
  name: string;
  parent: ParentMode;
  forceFlush: boolean;
  invocations: number;
  /** Frozen idle before the last invocation (lets the batch processor's timer come due meanwhile). */
  idleBeforeLastMs?: number;
  /** strict: every invocation must join; best-effort: late spans may stay in their own trace. */
  expect: 'strict' | 'best-effort';
}

/** What the fixture handler answers: the ids it made. */
interface HandlerReport {
  requestId: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  children: { traceId: string; spanId: string }[];
}

interface Upstream {
  traceId: string;
  parentSpanId: string;
}

interface Invoked {
  result: InvocationResult;
  report: HandlerReport;
  upstream?: Upstream;
}

interface Examination {
  /** The invocation's telemetry is complete and forms one trace with the expected parentage. */
  joined: boolean;
  problems: string[];
}

const col = useCollector();

/** X-Ray Root=1-<8 hex>-<24 hex> as a W3C trace id. */
function xrayTraceId(tracingValue: string): string {
  const root = /Root=1-([0-9a-f]{8})-([0-9a-f]{24})/i.exec(tracingValue);
  assert.ok(root, `no X-Ray Root in ${tracingValue}`);
  return `${root[1]}${root[2]}`.toLowerCase();
}

function attrs(kvs: Parameters<typeof attributesToObject>[0]): AttributeMap {
  return attributesToObject(kvs);
}

const parentOf = (span: OtlpSpanJson) => span.parentSpanId ?? '';

async function runVariant(variant: Variant): Promise<{ invoked: Invoked[]; extensionLines: string[] }> {
  const { sim, extensionLines } = await extensionEnvironment({
    handler: 'otel-handler.mjs',
    endpoint: col.endpoint,
    functionNodeArgs: ['--import', SETUP_MODULE],
    // X-Ray active tracing: the xray variant's handler continues the header, so it must say Sampled=1.
    tracing: 'active',
    // Generous: the SDK's start-up and two cores shared with other suites.
    timeoutMs: 10_000,
    initTimeoutMs: 20_000,
    env: {
      FIXTURE_OTEL_PARENT: variant.parent,
      FIXTURE_OTEL_FLUSH: variant.forceFlush ? 'force' : 'none',
      FIXTURE_OTEL_VARIANT: variant.name,
    },
  });
  const invoked: Invoked[] = [];
  try {
    const init = await sim.start();
    assert.equal(init.status, 'success', `init failed: ${init.errorType}`);
    for (let i = 0; i < variant.invocations; i++) {
      if (i === variant.invocations - 1 && variant.idleBeforeLastMs) await sim.idle(variant.idleBeforeLastMs);
      const upstream: Upstream | undefined =
        variant.parent === 'event' ? { traceId: randomHex(16), parentSpanId: randomHex(8) } : undefined;
      const payload = upstream
        ? { headers: { traceparent: `00-${upstream.traceId}-${upstream.parentSpanId}-01` } }
        : { n: i };
      const result = await sim.invoke(payload);
      assert.equal(result.status, 'success', `invocation ${i}: ${result.errorType} ${result.responseText}`);
      invoked.push({ result, report: result.response as HandlerReport, ...(upstream && { upstream }) });
    }
    const down = await sim.shutdown();
    assert.ok(
      down.extensions.every((e) => e.exitedBeforeDeadline),
      `extension did not exit in time: ${JSON.stringify(down.extensions)}`,
    );
    return { invoked, extensionLines: extensionLines() };
  } finally {
    await sim.close();
  }
}

function functionResourceProblems(resource: AttributeMap, variant: Variant, what: string): string[] {
  const problems: string[] = [];
  if (resource['service.name'] !== FUNCTION_SERVICE)
    problems.push(`${what}: service.name ${resource['service.name']}`);
  if (resource['fixture.variant'] !== variant.name) problems.push(`${what}: fixture.variant lost`);
  if (resource['telemetry.sdk.language'] !== 'nodejs') problems.push(`${what}: telemetry.sdk.language lost`);
  return problems;
}

/** Everything one invocation should have produced, checked against the collector's output. */
function examine(out: CollectorOutput, variant: Variant, { result, report, upstream }: Invoked): Examination {
  const problems: string[] = [];
  const requestId = result.requestId;
  const fail = (problem: string): Examination => ({ joined: false, problems: [...problems, problem] });

  const platforms = out.spans.filter(
    (s) =>
      s.scope.name === EXTENSION_SCOPE &&
      s.item.kind === SPAN_KIND_SERVER &&
      attrs(s.item.attributes)['faas.invocation_id'] === requestId,
  );
  if (platforms.length !== 1) return fail(`${platforms.length} platform invocation spans`);
  const platform = (platforms[0] as (typeof platforms)[number]).item;
  const phases = out.spans
    .filter((s) => s.scope.name === EXTENSION_SCOPE && parentOf(s.item) === platform.spanId)
    .map((s) => s.item);
  for (const name of ['responseLatency', 'responseDuration']) {
    if (!phases.some((s) => s.name === name)) problems.push(`no ${name} under the platform span`);
  }

  const handlers = out.spans.filter(
    (s) => s.scope.name === FUNCTION_SCOPE && s.item.spanId === report.spanId,
  );
  if (handlers.length !== 1) return fail(`${handlers.length} copies of the handler span`);
  const handlerScoped = handlers[0] as (typeof handlers)[number];
  const handler = handlerScoped.item;
  problems.push(
    ...functionResourceProblems(attrs(handlerScoped.resource.attributes), variant, 'handler span'),
  );
  if (handler.kind !== SPAN_KIND_SERVER) problems.push(`handler span kind ${handler.kind}`);
  if (attrs(handler.attributes)['faas.invocation_id'] !== requestId)
    problems.push('handler lost faas.invocation_id');
  const children: OtlpSpanJson[] = [];
  for (const child of report.children) {
    const found = out.spans.find((s) => s.scope.name === FUNCTION_SCOPE && s.item.spanId === child.spanId);
    if (found) children.push(found.item);
    else problems.push(`child span ${child.spanId} missing`);
  }

  // Logs: the SDK's records carry the handler's context; the Telemetry API's function lines carry
  // the invocation's (the platform span, in whatever trace it ended up).
  const sdkLogs = out.logRecords.filter(
    (r) => r.scope.name === FUNCTION_SCOPE && String(r.item.body?.stringValue ?? '').includes(requestId),
  );
  if (sdkLogs.length !== 2) problems.push(`${sdkLogs.length} SDK log records (expected 2)`);
  for (const r of sdkLogs) {
    if (r.item.traceId !== handler.traceId || r.item.spanId !== handler.spanId) {
      problems.push(`SDK log record in ${r.item.traceId}/${r.item.spanId}, not the handler's context`);
    }
    problems.push(...functionResourceProblems(attrs(r.resource.attributes), variant, 'SDK log record'));
  }
  const lines = out.logRecords.filter((r) => {
    const a = attrs(r.item.attributes);
    return (
      r.scope.name === EXTENSION_SCOPE &&
      a['faas.invocation_id'] === requestId &&
      a['aws.lambda.log.type'] === 'function' &&
      /^console (line|warning) for /.test(String(r.item.body?.stringValue ?? ''))
    );
  });
  if (lines.length !== 2) problems.push(`${lines.length} function log lines (expected 2)`);
  for (const r of lines) {
    if (r.item.traceId !== platform.traceId || r.item.spanId !== platform.spanId) {
      problems.push(
        `log line in ${r.item.traceId}/${r.item.spanId}, platform span is ${platform.traceId}/${platform.spanId}`,
      );
    }
  }

  const xray = xrayTraceId(result.tracing.value);
  const functionSpans = [handler, ...children];
  const invocationSpans = [platform, ...phases, ...functionSpans];
  let joined: boolean;
  switch (variant.parent) {
    case 'xray':
      joined = handler.traceId === xray && platform.traceId === xray && parentOf(handler) === platform.spanId;
      if (platform.spanId !== result.tracing.spanId)
        problems.push('platform span id is not Lambda tracing.spanId');
      break;
    case 'root':
      joined =
        handler.traceId === report.traceId &&
        handler.traceId !== xray &&
        platform.traceId === handler.traceId &&
        parentOf(handler) === platform.spanId &&
        parentOf(platform) === '';
      break;
    case 'event':
      assert.ok(upstream);
      joined =
        handler.traceId === upstream.traceId &&
        platform.traceId === upstream.traceId &&
        parentOf(handler) === upstream.parentSpanId &&
        parentOf(platform) === upstream.parentSpanId;
      break;
  }
  if (joined) {
    // One trace, and one tree: every span's parent is in it, except the roots, which share one
    // (external or no) parent.
    const ids = new Set(invocationSpans.map((s) => s.spanId));
    const traces = new Set(invocationSpans.map((s) => s.traceId));
    const externalParents = new Set(invocationSpans.filter((s) => !ids.has(parentOf(s))).map(parentOf));
    if (traces.size !== 1 || externalParents.size !== 1) {
      joined = false;
      problems.push(`not one tree: ${traces.size} trace ids, roots under ${[...externalParents].join(', ')}`);
    }
  } else {
    const where = `handler ${handler.traceId}/${parentOf(handler) || 'root'}, platform ${platform.traceId}/${platform.spanId} (parent ${parentOf(platform) || 'none'})`;
    if (variant.expect === 'strict') problems.push(`not joined: ${where}`);
    else {
      // Too late to join: both halves must still be whole traces of their own, never a span whose
      // parent lives in another trace.
      const fnIds = new Set(functionSpans.map((s) => s.spanId));
      const dangling = functionSpans.filter(
        (s) => !fnIds.has(parentOf(s)) && parentOf(s) !== report.parentSpanId,
      );
      if (dangling.length > 0) problems.push(`function spans with a foreign parent: ${where}`);
      if (handler.traceId !== report.traceId) problems.push(`handler moved to another trace: ${where}`);
      if (platform.traceId !== xray)
        problems.push(`platform span left the X-Ray trace without the handler: ${where}`);
    }
  }
  return { joined: joined && problems.length === 0, problems };
}

/** The function's counter as the collector last saw it for this variant (cumulative). */
function functionCounter(out: CollectorOutput, variant: Variant): { value: number; problems: string[] } {
  let value = 0;
  const problems: string[] = [];
  for (const m of out.metricPoints) {
    if (m.item.name !== 'fixture.requests' || m.scope.name !== FUNCTION_SCOPE) continue;
    const resource = attrs(m.resource.attributes);
    if (resource['fixture.variant'] !== variant.name) continue;
    problems.push(...functionResourceProblems(resource, variant, 'metric'));
    // The JS SDK's counters are doubles unless created with valueType INT.
    for (const point of m.item.sum?.dataPoints ?? []) {
      value = Math.max(value, Number(point.asDouble ?? point.asInt ?? 0));
    }
  }
  return { value, problems: [...new Set(problems)] };
}

async function checkVariant(
  variant: Variant,
  diagnostic: (message: string) => void,
): Promise<{ joined: number; total: number }> {
  const { invoked, extensionLines } = await runVariant(variant);
  assert.equal(invoked.length, variant.invocations);
  const complete = (out: CollectorOutput) =>
    functionCounter(out, variant).value >= variant.invocations &&
    invoked.every(
      (inv) => !examine(out, variant, inv).problems.some((p) => /missing|copies|spans$|\(expected/.test(p)),
    );
  // The extension exported everything before exiting; the wait only covers the collector's file writes.
  const out = await col.waitFor(complete, 15_000).catch(() => col.read());

  const examined = invoked.map((inv) => ({ requestId: inv.result.requestId, ...examine(out, variant, inv) }));
  const joined = examined.filter((e) => e.joined).length;
  diagnostic(`${variant.name}: ${joined}/${invoked.length} invocations in one connected trace`);
  const counter = functionCounter(out, variant);
  const context = () => `\nextension log:\n${extensionLines.slice(-15).join('\n')}`;
  assert.equal(counter.value, variant.invocations, `function counter: ${counter.value}${context()}`);
  assert.deepEqual(counter.problems, []);

  if (variant.expect === 'strict') {
    const failures = examined.filter((e) => !e.joined);
    assert.deepEqual(
      failures,
      [],
      `${variant.name}: ${failures.length} invocations not correlated${context()}`,
    );
  } else {
    // Everything must have arrived and be well-formed; joining is what could be caught in time.
    const broken = examined.filter((e) => e.problems.length > 0);
    assert.deepEqual(broken, [], `${variant.name}: malformed or missing telemetry${context()}`);
  }
  return { joined, total: invoked.length };
}

describe('function telemetry through the extension into the collector', { concurrency: 2 }, () => {
  const rates: string[] = [];
  after(() => {
    if (rates.length > 0) process.stderr.write(`correlation success: ${rates.join('; ')}\n`);
  });

  for (const variant of [
    { name: 'xray-parent', parent: 'xray', forceFlush: true, invocations: 5, expect: 'strict' },
    { name: 'root-trace', parent: 'root', forceFlush: true, invocations: 5, expect: 'strict' },
    { name: 'upstream-traceparent', parent: 'event', forceFlush: true, invocations: 5, expect: 'strict' },
    // The batch processor's timer comes due during the frozen idle: the first invocations' spans
    // arrive during the last one, the last one's at SHUTDOWN (SIGTERM).
    {
      name: 'no-flush-xray',
      parent: 'xray',
      forceFlush: false,
      invocations: 4,
      idleBeforeLastMs: 5500,
      expect: 'strict',
    },
    { name: 'no-flush-root', parent: 'root', forceFlush: false, invocations: 3, expect: 'best-effort' },
  ] satisfies Variant[]) {
    test(`${variant.name}: ${variant.invocations} invocations`, { timeout: 90_000 }, async (t) => {
      const { joined, total } = await checkVariant(variant, (m) => t.diagnostic(m));
      rates.push(`${variant.name} ${joined}/${total}`);
    });
  }
});
