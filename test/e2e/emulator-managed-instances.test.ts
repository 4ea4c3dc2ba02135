// The built layer under AWS's Runtime Interface Emulator in Lambda Managed Instances mode
// (AWS_LAMBDA_MAX_CONCURRENCY): AWS's own Telemetry API (schema 2025-01-29 only), no INVOKE event
// for extensions, invocations running concurrently in one environment (AWS's Node.js runtime
// interface client runs one worker thread per concurrent invocation, each with its own
// OpenTelemetry SDK). Spans, metrics and logs must reach the real Collector, and the function's
// spans must be joined to the platform invocation span: same trace, the handler span a child of it.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  anyValueToJs,
  attributesToObject,
  type CollectorOutput,
  type OtlpSpanJson,
} from '../support/collector/collector.js';
import { freeLoopbackPort as freePort } from '../../tools/simulator/ports.js';
import { startEmulator } from '../support/emulator/emulator.js';
import {
  FUNCTIONS_DIR,
  SETUP_MODULE,
  EXTENSION_SCOPE,
  FUNCTION_SCOPE,
  randomHex,
  LAYER_DIR,
} from '../support/e2e-harness.js';
import { useCollector } from '../support/collector-suite.js';

const SPAN_KIND_SERVER = 2;
const VARIANT = 'rie-managed-instances';
const CONCURRENCY = 2;
const ROUNDS = 3; // of CONCURRENCY invocations at once

const col = useCollector({ emulator: true });

interface HandlerReport {
  requestId: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  children: { traceId: string; spanId: string }[];
}

interface Invoked {
  requestId: string;
  header?: { traceId: string; parent: string };
  report: HandlerReport;
}

const parentOf = (span: OtlpSpanJson) => span.parentSpanId ?? '';

describe('AWS Runtime Interface Emulator, Managed Instances mode (Telemetry API 2025-01-29)', () => {
  test('spans, metrics and logs arrive, the function joined to the platform span', {
    timeout: 300_000,
  }, async (t) => {
    const receiverPort = await freePort();
    const rie = await startEmulator({
      mode: 'managed-instances',
      layer: LAYER_DIR,
      maxConcurrency: CONCURRENCY,
      handlerModule: join(FUNCTIONS_DIR, 'otel-handler.mjs'),
      nodeArgs: ['--import', SETUP_MODULE],
      env: {
        LAMBDA_OTEL_EXPORTER_ENDPOINT: col.endpoint,
        LAMBDA_OTEL_RECEIVER_PORT: String(receiverPort),
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiverPort}`,
        FIXTURE_OTEL_PARENT: 'xray',
        FIXTURE_OTEL_VARIANT: VARIANT,
        // The emulator deadlocks when a push to a subscriber is still in flight as the next batch
        // is due: it reports the dropped batch as platform.logsDropped to that same subscriber from
        // the loop that feeds it, and every invocation then hangs. With the default 25 ms batches
        // a loaded machine trips it; 1 s batches keep the test about the extension.
        LAMBDA_OTEL_TELEMETRY_API_BUFFERING_TIMEOUT_MS: '1000',
      },
    });
    const invoked: Invoked[] = [];
    let unavailable = 0;
    let lines: string[];
    try {
      // Each round: one invocation in a sampled upstream trace (the handler continues it), one
      // without a trace header (the handler starts a trace of its own), at the same time.
      for (let round = 0; round < ROUNDS; round++) {
        const results = await Promise.all(
          Array.from({ length: CONCURRENCY }, async (_, i) => {
            const header = i % 2 === 0 ? { traceId: randomHex(16), parent: randomHex(8) } : undefined;
            const traceHeader = header
              ? `Root=1-${header.traceId.slice(0, 8)}-${header.traceId.slice(8)};Parent=${header.parent};Sampled=1`
              : undefined;
            // A worker thread still starting (or finishing its last invocation) is not available
            // yet: the emulator answers 400 Runtime.Unavailable, and the caller sends a new request
            // (with a new request id, as a new request has).
            const attempt = async () => {
              const requestId = randomUUID();
              return {
                requestId,
                res: await rie.invoke({ round, i }, { requestId, ...(traceHeader && { traceHeader }) }),
              };
            };
            let { requestId, res } = await attempt();
            const until = Date.now() + 90_000; // workers start slowly on a loaded machine
            while (res.status === 400 && /Runtime\.Unavailable/.test(res.body) && Date.now() < until) {
              unavailable++;
              await new Promise((r) => setTimeout(r, 100));
              ({ requestId, res } = await attempt());
            }
            assert.equal(res.status, 200, `${requestId}: ${res.body}`);
            const report = JSON.parse(res.body) as HandlerReport;
            assert.equal(report.requestId, requestId, `${requestId}: ${res.status} ${res.body}`);
            return { requestId, ...(header && { header }), report };
          }),
        );
        invoked.push(...results);
      }
    } catch (err) {
      const tail = rie
        .lines()
        .filter((l) => !/WARN export to/.test(l))
        .slice(-40);
      throw new Error(`${(err as Error).message}\nemulator output:\n${tail.join('\n')}`, { cause: err });
    } finally {
      await rie.stop();
      lines = rie.lines();
    }
    t.diagnostic(`${unavailable} invoke attempts answered Runtime.Unavailable`);
    const extensionLines = lines.filter((l) => l.includes('[otel-lambda-extension]'));
    const context = `\nextension log:\n${extensionLines.slice(-20).join('\n')}`;
    assert.ok(
      lines.some((l) => /Telemetry subscription created.*otel-lambda-extension/.test(l)),
      `the extension did not subscribe to the Telemetry API:\n${lines.slice(-30).join('\n')}`,
    );

    const sdkLogsOf = (out: CollectorOutput, requestId: string) =>
      out.logRecords.filter(
        (r) => r.scope.name === FUNCTION_SCOPE && String(r.item.body?.stringValue ?? '').includes(requestId),
      );
    // Every signal is waited for: traces, metrics and logs go out in separate requests.
    const complete = (out: CollectorOutput) =>
      counterValue(out) >= invoked.length &&
      invoked.every(
        (inv) =>
          platformSpans(out, inv.requestId).length > 0 &&
          handlerSpan(out, inv.report) !== undefined &&
          functionLogLines(out, inv.requestId).length >= 2 &&
          sdkLogsOf(out, inv.requestId).length >= 2,
      );
    const out = await col.waitFor(complete, 20_000).catch(() => col.read());
    t.diagnostic(
      `exported: ${out.spans.length} spans (${out.spans.filter((s) => s.scope.name === EXTENSION_SCOPE).length} by the extension), ${out.metricPoints.length} metrics (${out.metricPoints.filter((m) => m.scope.name === EXTENSION_SCOPE).length} by the extension), ${out.logRecords.length} log records`,
    );

    // Everything arrived.
    const missing: string[] = [];
    for (const inv of invoked) {
      const platforms = platformSpans(out, inv.requestId);
      if (platforms.length !== 1)
        missing.push(`${inv.requestId}: ${platforms.length} platform invocation spans`);
      if (!handlerSpan(out, inv.report)) missing.push(`${inv.requestId}: handler span missing`);
      for (const child of inv.report.children) {
        if (!out.spans.some((s) => s.item.spanId === child.spanId))
          missing.push(`${inv.requestId}: child missing`);
      }
      const consoleLines = functionLogLines(out, inv.requestId);
      if (consoleLines.length !== 2)
        missing.push(`${inv.requestId}: ${consoleLines.length} function log lines (expected 2)`);
      const sdkLogs = sdkLogsOf(out, inv.requestId);
      if (sdkLogs.length !== 2)
        missing.push(`${inv.requestId}: ${sdkLogs.length} SDK log records (expected 2)`);
    }
    const extensionMetrics = out.metricPoints.filter((m) => m.scope.name === EXTENSION_SCOPE);
    if (extensionMetrics.length === 0) missing.push('no platform metrics from the extension');
    assert.equal(counterValue(out), invoked.length, `function counter${context}`);
    assert.deepEqual(missing, [], context);

    // Joined: the handler span in the platform span's trace, as its child — or, when a caller upstream
    // traced the request (the header's Parent is the caller's span), as the platform span's sibling
    // under that same parent, as the README documents; the function's log lines in the platform
    // span's context.
    const notJoined: string[] = [];
    for (const inv of invoked) {
      const platform = (platformSpans(out, inv.requestId)[0] as { item: OtlpSpanJson }).item;
      const handler = handlerSpan(out, inv.report) as OtlpSpanJson;
      if (inv.header && platform.traceId !== inv.header.traceId) {
        notJoined.push(`${inv.requestId}: platform span left the upstream trace ${inv.header.traceId}`);
      }
      const child = parentOf(handler) === platform.spanId;
      const sibling =
        inv.header !== undefined &&
        parentOf(platform) === inv.header.parent &&
        parentOf(handler) === inv.header.parent;
      if (handler.traceId !== platform.traceId || !(child || sibling)) {
        notJoined.push(
          `${inv.requestId} (${inv.header ? 'upstream trace' : 'no trace header'}): handler ${handler.traceId}/${parentOf(handler) || 'root'}, platform ${platform.traceId}/${platform.spanId}`,
        );
      }
      for (const r of functionLogLines(out, inv.requestId)) {
        if (r.item.traceId !== platform.traceId || r.item.spanId !== platform.spanId) {
          notJoined.push(`${inv.requestId}: log line in ${r.item.traceId}/${r.item.spanId}`);
        }
      }
    }
    const about = (inv: Invoked, what: RegExp) =>
      notJoined.some((p) => p.startsWith(inv.requestId) && what.test(p));
    const spansJoined = invoked.filter((inv) => !about(inv, /handler|platform span/)).length;
    const logsJoined = invoked.filter((inv) => !about(inv, /log line/)).length;
    const joined = invoked.filter((inv) => !about(inv, /./)).length;
    t.diagnostic(
      `handler span under the platform span: ${spansJoined}/${invoked.length}; log lines in its context: ${logsJoined}/${invoked.length}`,
    );
    t.diagnostic(`joined: ${joined}/${invoked.length} invocations`);
    assert.deepEqual(notJoined, [], context);
  });
});

function platformSpans(out: CollectorOutput, requestId: string) {
  return out.spans.filter(
    (s) =>
      s.scope.name === EXTENSION_SCOPE &&
      s.item.kind === SPAN_KIND_SERVER &&
      attributesToObject(s.item.attributes)['faas.invocation_id'] === requestId,
  );
}

/** The function's console lines for one invocation, as the extension got them from the Telemetry
 *  API (Managed Instances log in JSON by default: the body may be the record or its message). */
function functionLogLines(out: CollectorOutput, requestId: string) {
  const line = new RegExp(`console (line|warning) for ${requestId}`);
  return out.logRecords.filter(
    (r) => r.scope.name === EXTENSION_SCOPE && line.test(JSON.stringify(anyValueToJs(r.item.body))),
  );
}

function handlerSpan(out: CollectorOutput, report: HandlerReport): OtlpSpanJson | undefined {
  return out.spans.find((s) => s.scope.name === FUNCTION_SCOPE && s.item.spanId === report.spanId)?.item;
}

function counterValue(out: CollectorOutput): number {
  // One counter per worker thread (each has its own SDK and meter provider, with the same
  // resource): cumulative series told apart by their start time; sum their last values.
  const perSeries = new Map<string, number>();
  for (const m of out.metricPoints) {
    if (m.item.name !== 'fixture.requests' || m.scope.name !== FUNCTION_SCOPE) continue;
    const resource = attributesToObject(m.resource.attributes);
    if (resource['fixture.variant'] !== VARIANT) continue;
    for (const point of m.item.sum?.dataPoints ?? []) {
      const key = point.startTimeUnixNano ?? '';
      perSeries.set(key, Math.max(perSeries.get(key) ?? 0, Number(point.asDouble ?? point.asInt ?? 0)));
    }
  }
  return [...perSeries.values()].reduce((a, b) => a + b, 0);
}
