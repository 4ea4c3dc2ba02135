// The Datadog preset end to end: the extension from the built layer, configured only with DD_API_KEY
// and the LAMBDA_OTEL_DATADOG_*_ENDPOINT overrides, exports to a fake Datadog OTLP intake that
// enforces the intake's rules (API key, protobuf, delta-only metrics, size limits). A wrong key is
// refused: the drops are counted and the function does not notice.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type DatadogIntake, startDatadogIntake } from '../support/fakes/datadog-intake.js';
import { allLogRecords, allMetrics, allSpans, attrs } from '../../tools/otlp/decode.js';
import type { InvocationResult } from '../../tools/simulator/types.js';
import { ensureLayer, exportSummary, extensionEnvironment } from '../support/e2e-harness.js';

const API_KEY = 'dd0123456789abcdef0123456789abcd';
const REGION = 'us-west-2';
const ACCOUNT = '345678901234';
const TEMPORALITY_DELTA = 1;

function datadogEnv(intake: DatadogIntake, apiKey: string): Record<string, string> {
  return {
    DD_API_KEY: apiKey,
    LAMBDA_OTEL_DATADOG_TRACES_ENDPOINT: `${intake.url}/v1/traces`,
    LAMBDA_OTEL_DATADOG_METRICS_ENDPOINT: `${intake.url}/v1/metrics`,
    LAMBDA_OTEL_DATADOG_LOGS_ENDPOINT: `${intake.url}/v1/logs`,
  };
}

async function run(fn: string, intake: DatadogIntake, apiKey: string) {
  ensureLayer();
  const { sim, extensionLines } = await extensionEnvironment({
    handler: 'scenario.mjs',
    functionName: fn,
    region: REGION,
    accountId: ACCOUNT,
    timeoutMs: 3000,
    env: datadogEnv(intake, apiKey),
  });
  const results: InvocationResult[] = [];
  try {
    results.push(await sim.invoke({ log: [`${fn} cold`] }));
    results.push(await sim.invoke({ log: [`${fn} warm`] }));
    results.push(await sim.invoke({ log: [`${fn} failing`], throw: { name: 'PaymentDeclined' } }));
    const down = await sim.shutdown();
    assert.ok(
      down.extensions.every((e) => e.exitedBeforeDeadline),
      'the extension exits before the deadline',
    );
  } finally {
    await sim.close();
  }
  return { results, lines: extensionLines(), arn: sim.invokedFunctionArn };
}

/** The function saw nothing of the export: right status, released quickly, no reset. */
function assertUnaffected(results: InvocationResult[]): void {
  assert.deepEqual(
    results.map((r) => r.status),
    ['success', 'success', 'error'],
  );
  for (const r of results) {
    assert.equal(r.reset, undefined);
    assert.equal(r.errorType, r.status === 'error' ? 'PaymentDeclined' : undefined);
    assert.ok(
      (r.postRuntimeExtensionsDurationMs ?? Number.POSITIVE_INFINITY) < 2000,
      `released ${r.postRuntimeExtensionsDurationMs} ms after the response`,
    );
  }
}

test('traces, delta metrics and logs are accepted by the Datadog intake with the headers it needs', async () => {
  const intake = await startDatadogIntake({ apiKey: API_KEY });
  const fn = 'checkout-dd';
  try {
    const { results, lines, arn } = await run(fn, intake, API_KEY);
    assertUnaffected(results);

    assert.ok(intake.log.length >= 3);
    assert.deepEqual(
      intake.log.filter((r) => r.status !== 202).map((r) => `${r.signal} ${r.status} ${r.reason}`),
      [],
      'the intake accepted every request',
    );
    for (const signal of ['traces', 'metrics', 'logs'] as const) {
      assert.ok(intake.accepted(signal).length > 0, `${signal} accepted`);
    }
    for (const r of intake.log) {
      assert.equal(r.headers['dd-api-key'], API_KEY, `dd-api-key on ${r.signal}`);
      assert.match(String(r.headers['content-type']), /^application\/x-protobuf/);
      assert.equal(r.headers['content-encoding'], 'gzip');
      assert.equal(
        r.headers['dd-otlp-source'],
        r.signal === 'traces' ? 'serverless' : undefined,
        `dd-otlp-source on ${r.signal}`,
      );
    }

    // The resource Datadog keys a serverless function on.
    const spans = intake.tracesPayloads.flatMap(allSpans);
    const records = intake.logsPayloads.flatMap(allLogRecords);
    const metrics = intake.metricsPayloads.flatMap(allMetrics);
    for (const resource of [...spans, ...records, ...metrics].map((x) => x.resource)) {
      assert.equal(resource['cloud.provider'], 'aws');
      assert.equal(resource['cloud.platform'], 'aws_lambda');
      assert.equal(resource['cloud.region'], REGION);
      assert.equal(resource['cloud.account.id'], ACCOUNT);
      assert.equal(resource['faas.name'], fn);
      assert.equal(resource['service.name'], fn);
      assert.deepEqual(resource['aws.log.group.names'], [`/aws/lambda/${fn}`]);
      if (resource['faas.id'] !== undefined) assert.equal(resource['faas.id'], arn);
      if (resource['cloud.resource_id'] !== undefined) assert.equal(resource['cloud.resource_id'], arn);
    }
    const invocationSpans = spans.filter((s) => attrs(s.attributes)['faas.invocation_id'] !== undefined);
    assert.deepEqual(
      invocationSpans.map((s) => attrs(s.attributes)['faas.invocation_id']).sort(),
      results.map((r) => r.requestId).sort(),
      'one invocation span per invocation',
    );
    for (const s of invocationSpans) assert.equal(s.resource['faas.id'], arn, 'faas.id on invocation spans');

    // Delta metrics only, and the counts add up.
    for (const m of metrics) {
      const temporality = m.sum?.aggregationTemporality ?? m.histogram?.aggregationTemporality;
      if (temporality !== undefined) assert.equal(temporality, TEMPORALITY_DELTA, `${m.name} is delta`);
    }
    const sumOf = (name: string): number =>
      metrics
        .filter((m) => m.name === name)
        .flatMap((m) => m.sum?.dataPoints ?? [])
        .reduce((n, p) => n + Number(p.asInt ?? p.asDouble ?? 0), 0);
    assert.equal(sumOf('faas.invocations'), results.length);
    assert.equal(sumOf('faas.errors'), 1);

    const bodies = records.map((r) => r.body?.stringValue);
    for (const line of [`${fn} cold`, `${fn} warm`, `${fn} failing`]) {
      assert.equal(bodies.filter((b) => b === line).length, 1, `log line ${line}`);
    }

    const s = exportSummary(lines);
    assert.ok(s, 'export summary logged');
    assert.equal(s.dropped, 0);
    assert.equal(s.unsent, 0);
    assert.equal(s.queued, s.exported);
    const accepted =
      intake.acceptedItems('traces') + intake.acceptedItems('metrics') + intake.acceptedItems('logs');
    assert.equal(accepted, s.exported, 'the intake holds exactly what the extension exported');
    assert.ok(!lines.some((l) => l.includes(API_KEY)), 'the API key never appears in the log');
  } finally {
    await intake.close();
  }
});

test('a wrong API key: every request refused with 403, the drops counted, the function unaffected', async () => {
  const intake = await startDatadogIntake({ apiKey: API_KEY });
  const fn = 'checkout-dd-badkey';
  const wrongKey = 'ffffffffffffffffffffffffffffffff';
  try {
    const { results, lines } = await run(fn, intake, wrongKey);
    assertUnaffected(results);

    assert.ok(intake.log.length >= 3, 'the extension tried');
    for (const r of intake.log) {
      assert.equal(r.status, 403);
      assert.equal(r.headers['dd-api-key'], wrongKey);
    }
    assert.equal(intake.accepted('traces').length + intake.accepted('metrics').length, 0);
    // 403 is final: no retry storm, one attempt per batch.
    const s = exportSummary(lines);
    assert.ok(s, 'export summary logged');
    assert.equal(s.retries, 0, 'a refused key is not retried');
    assert.equal(s.requests, intake.log.length);
    assert.equal(s.exported, 0);
    assert.ok(s.dropped > 0);
    assert.equal(s.dropped, s.queued, 'everything queued was counted as dropped');
    assert.deepEqual(s.droppedByReason, { http_403: s.dropped });
    assert.equal(s.unsent, 0);
    assert.ok(
      lines.some((l) => / WARN .*datadog.*403/i.test(l)),
      'the refusal is reported in the log',
    );
    assert.ok(!lines.some((l) => l.includes(wrongKey)), 'the API key never appears in the log');
  } finally {
    await intake.close();
  }
});
