// AWS destinations and secrets through the built layer, in the simulator: the Datadog API key is
// read at start-up from Secrets Manager (DD_API_KEY_SECRET_ARN, served by a moto server with IAM
// enforcement), and traces and logs go SigV4-signed to "X-Ray" and "CloudWatch Logs" (an endpoint
// that re-computes every signature with botocore). The secret value never shows in the extension's
// log nor in any exported payload (self-telemetry included).

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDatadogIntake } from '../support/fakes/datadog-intake.js';
import { allLogRecords, allMetrics, allSpans } from '../../tools/otlp/decode.js';
import { pythonPath } from '../support/python/python-env.js';
import { startMoto } from '../support/fakes/moto.js';
import { ensureLayer, exportSummary, extensionEnvironment } from '../support/e2e-harness.js';

const SECRET_VALUE = 'dd-key-from-secrets-manager-0001';

async function startVerifier(accessKeyId: string, secretAccessKey: string) {
  const server: ChildProcess = spawn(
    pythonPath(),
    [join(import.meta.dirname, '../support/python/aws_sigv4.py'), 'verify-server'],
    {
      env: { ...process.env, VERIFY_ACCESS_KEY_ID: accessKeyId, VERIFY_SECRET_ACCESS_KEY: secretAccessKey },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const [line] = (await once(server.stdout!, 'data')) as [Buffer];
  const url = `http://127.0.0.1:${Number.parseInt(line.toString(), 10)}`;
  return {
    url,
    verdicts: async () =>
      (await (await fetch(`${url}/_requests`)).json()) as {
        path: string;
        ok: boolean;
        reason: string;
        scope: { service: string } | null;
        logGroup: string | null;
      }[],
    stop: () => server.kill(),
  };
}

test('Datadog key from Secrets Manager at start-up, SigV4 export to the AWS endpoints, from the built layer', async () => {
  ensureLayer();
  const moto = await startMoto();
  const verifier = await startVerifier(moto.setup.accessKeyId, moto.setup.secretAccessKey);
  const intake = await startDatadogIntake({ apiKey: SECRET_VALUE });
  try {
    const { sim, extensionLines } = await extensionEnvironment({
      handler: 'scenario.mjs',
      functionName: 'orders-aws',
      region: 'us-east-1',
      accountId: '123456789012',
      timeoutMs: 3000,
      logLevel: 'debug',
      env: {
        AWS_ACCESS_KEY_ID: moto.setup.accessKeyId,
        AWS_SECRET_ACCESS_KEY: moto.setup.secretAccessKey,
        AWS_ENDPOINT_URL: moto.url,
        DD_API_KEY_SECRET_ARN: moto.setup.plainArn,
        DD_SERVICE: 'orders',
        DD_ENV: 'staging',
        DD_VERSION: '2.0.1',
        DD_TAGS: 'team:payments',
        LAMBDA_OTEL_DATADOG_TRACES_ENDPOINT: `${intake.url}/v1/traces`,
        LAMBDA_OTEL_DATADOG_METRICS_ENDPOINT: `${intake.url}/v1/metrics`,
        LAMBDA_OTEL_DATADOG_LOGS_ENDPOINT: `${intake.url}/v1/logs`,
        LAMBDA_OTEL_AWS_SIGNALS: 'traces,logs',
        LAMBDA_OTEL_AWS_LOG_GROUP: '/otel/orders',
        LAMBDA_OTEL_AWS_TRACES_ENDPOINT: `${verifier.url}/v1/traces`,
        LAMBDA_OTEL_AWS_LOGS_ENDPOINT: `${verifier.url}/v1/logs`,
      },
    });
    try {
      const first = await sim.invoke({ log: ['orders cold'] });
      const second = await sim.invoke({ log: ['orders warm'] });
      assert.deepEqual([first.status, second.status], ['success', 'success']);
      await sim.shutdown();
    } finally {
      await sim.close();
    }
    const lines = extensionLines();
    assert.ok(!lines.some((l) => / ERROR /.test(l)), lines.filter((l) => / ERROR /.test(l)).join('\n'));
    assert.ok(
      lines.some((l) => /secrets: 1 lookups in \d+ ms/.test(l)),
      'the lookup is reported (without the value)',
    );

    // Datadog got everything with the key read from Secrets Manager, and the DD_* resource.
    assert.ok(intake.log.length >= 3);
    assert.deepEqual(
      intake.log.filter((r) => r.status !== 202).map((r) => `${r.signal} ${r.status} ${r.reason}`),
      [],
    );
    for (const r of intake.log) assert.equal(r.headers['dd-api-key'], SECRET_VALUE);
    const spans = intake.tracesPayloads.flatMap(allSpans);
    assert.ok(spans.length > 0);
    for (const s of spans) {
      assert.equal(s.resource['service.name'], 'orders');
      assert.equal(s.resource['deployment.environment.name'], 'staging');
      assert.equal(s.resource['service.version'], '2.0.1');
      assert.equal(s.resource['team'], 'payments');
    }

    // Every request to the AWS endpoints carried a signature botocore agrees with.
    const verdicts = await verifier.verdicts();
    assert.ok(
      verdicts.some((v) => v.path === '/v1/traces'),
      'traces sent to X-Ray',
    );
    assert.ok(
      verdicts.some((v) => v.path === '/v1/logs'),
      'logs sent to CloudWatch Logs',
    );
    for (const v of verdicts) {
      assert.equal(v.ok, true, `${v.path}: ${v.reason}`);
      assert.equal(v.scope?.service, v.path === '/v1/traces' ? 'xray' : 'logs');
    }
    assert.ok(verdicts.filter((v) => v.path === '/v1/logs').every((v) => v.logGroup === '/otel/orders'));
    const s = exportSummary(lines);
    assert.ok(s, 'export summary logged');
    assert.equal(s.dropped, 0);

    // The secret is nowhere: not in the log, not in any payload (self-telemetry included).
    assert.ok(!lines.some((l) => l.includes(SECRET_VALUE)), 'the secret never appears in the log');
    const payloads = JSON.stringify([
      intake.tracesPayloads,
      intake.metricsPayloads,
      intake.logsPayloads,
      intake.metricsPayloads.flatMap(allMetrics).map((m) => m.name),
      intake.logsPayloads.flatMap(allLogRecords).map((r) => r.body),
    ]);
    assert.ok(!payloads.includes(SECRET_VALUE), 'the secret never appears in exported telemetry');
  } finally {
    await intake.close();
    verifier.stop();
    moto.stop();
  }
});

test('a secret that cannot be read: pass-through mode, an error naming the reference, the function unaffected', async () => {
  ensureLayer();
  const moto = await startMoto();
  try {
    const { sim, extensionLines } = await extensionEnvironment({
      handler: 'scenario.mjs',
      functionName: 'orders-denied',
      region: 'us-east-1',
      accountId: '123456789012',
      timeoutMs: 3000,
      env: {
        AWS_ACCESS_KEY_ID: moto.setup.deniedAccessKeyId,
        AWS_SECRET_ACCESS_KEY: moto.setup.deniedSecretAccessKey,
        AWS_ENDPOINT_URL: moto.url,
        DD_API_KEY_SECRET_ARN: moto.setup.plainArn,
      },
    });
    try {
      const result = await sim.invoke({ log: ['denied'] });
      assert.equal(result.status, 'success');
      await sim.shutdown();
    } finally {
      await sim.close();
    }
    const lines = extensionLines();
    const error = lines.find((l) => / ERROR /.test(l));
    assert.ok(error, 'an error is logged');
    assert.match(
      error,
      /datadog\.api_key_secret_arn \(env\): Secrets Manager reference .* not resolved: AccessDenied/,
    );
    assert.match(error, /pass-through mode/);
    assert.ok(error.includes(moto.setup.plainArn), 'the reference is named');
    assert.ok(!lines.some((l) => l.includes(SECRET_VALUE)));
  } finally {
    moto.stop();
  }
});
