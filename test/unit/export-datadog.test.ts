// The Datadog preset: configuration rules, and behaviour against a fake intake that enforces the real
// one's rules (API key, delta temporality, payload limits).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PlatformResource } from '../../src/convert/resource.js';
import { SequentialIds } from '../support/telemetry-fixtures.js';
import {
  DATADOG_SITES,
  datadogExtensionPresent,
  datadogResourceEnv,
  resolveDatadog,
} from '../../src/export/datadog.js';
import { ExporterConfigError, resolveExportConfig } from '../../src/export/endpoint-config.js';
import type { DestinationConfig } from '../../src/export/destination.js';
import { ExportPipeline } from '../../src/pipeline/export-pipeline.js';
import { allMetrics } from '../../tools/otlp/decode.js';
import { logChunk, metricChunk, spanChunk } from '../support/fakes/chunks.js';
import { type DatadogIntake, startDatadogIntake } from '../support/fakes/datadog-intake.js';
import { FAST_RETRIES, recordingLog } from '../support/fakes/destinations.js';

const ports = [4318];
const API_KEY = 'abcdef0123456789abcdef0123456789';

describe('Datadog preset configuration', () => {
  it('DD_API_KEY + DD_SITE configure endpoints, headers, protobuf, limits and delta temporality', () => {
    const config = resolveExportConfig(
      undefined,
      { DD_API_KEY: API_KEY, DD_SITE: 'datadoghq.eu' },
      { localPorts: ports },
    );
    assert.equal(config.destinations.length, 1);
    const dd = config.destinations[0]!;
    assert.equal(dd.name, 'datadog');
    assert.equal(dd.signals.metrics?.url, 'https://otlp.datadoghq.eu/v1/metrics');
    assert.equal(dd.signals.logs?.url, 'https://otlp.datadoghq.eu/v1/logs');
    assert.equal(dd.signals.traces?.url, 'https://trace.agent.datadoghq.eu/v1/traces');
    assert.deepEqual(dd.signals.traces?.headers, {
      'dd-api-key': API_KEY,
      'dd-protocol': 'otlp',
      'dd-otlp-source': 'serverless',
    });
    assert.deepEqual(dd.signals.logs?.headers, { 'dd-api-key': API_KEY, 'dd-protocol': 'otlp' });
    assert.deepEqual(dd.signals.metrics?.headers, { 'dd-api-key': API_KEY });
    assert.equal(dd.signals.metrics?.protocol, 'http/protobuf');
    assert.ok(dd.signals.metrics!.batch.maxBytes < 500_000);
    assert.ok(dd.signals.traces!.batch.maxBytes < 3_200_000);
    assert.equal(config.requiredMetricsTemporality, 'delta');
    assert.ok(!JSON.stringify(config.notes).includes(API_KEY));
  });

  it('defaults to datadoghq.com, accepts any Datadog site by pattern, and rejects others by name', () => {
    const r = resolveDatadog({ apiKey: 'k' }, {}, ports);
    assert.equal(r.destination?.signals.metrics?.url, 'https://otlp.datadoghq.com/v1/metrics');
    // Listed sites, and ones a fixed list would not know yet.
    for (const site of [
      ...DATADOG_SITES,
      'us7.datadoghq.com',
      'ap3.datadoghq.com',
      'DatadogHQ.EU',
      'https://datadoghq.eu/',
    ])
      assert.equal(resolveDatadog({ apiKey: 'k', site }, {}, ports).problems.length, 0, site);
    assert.equal(
      resolveDatadog({ apiKey: 'k', site: 'us7.datadoghq.com' }, {}, ports).destination?.signals.logs?.url,
      'https://otlp.us7.datadoghq.com/v1/logs',
    );
    for (const site of [
      'datadog.com',
      'example.com',
      'datadoghq.com.example.net',
      'a.b.datadoghq.com',
      'gov.ddog-gov.co',
    ]) {
      const bad = resolveDatadog(undefined, { DD_API_KEY: 'k', DD_SITE: site }, ports);
      assert.equal(bad.destination, undefined, site);
      assert.match(bad.problems[0]!, /^Datadog: DD_SITE=".*" is not a Datadog site \(datadoghq\.<tld>/, site);
    }
  });

  it('DD_API_KEY_SECRET_ARN: the key read from it at start-up is used; unread, it is an error naming the variable', () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:dd-key';
    // Start-up resolves the secret into datadog.api_key (src/secrets); without that, nothing to send with.
    assert.throws(
      () => resolveExportConfig(undefined, { DD_API_KEY_SECRET_ARN: arn }, { localPorts: ports }),
      (e: unknown) =>
        e instanceof ExporterConfigError &&
        /the API key in DD_API_KEY_SECRET_ARN was not read/.test(e.message) &&
        !e.message.includes(arn),
    );
    const resolved = resolveExportConfig(
      { datadog: { apiKey: 'from-the-secret', apiKeySecretArn: arn } },
      {},
      { localPorts: ports },
    );
    assert.equal(resolved.destinations[0]?.signals.metrics?.headers['dd-api-key'], 'from-the-secret');
    assert.deepEqual(resolved.notes, []);
  });

  it("stays off next to Datadog's own extension unless switched on, and says so", () => {
    const auto = resolveExportConfig(
      { datadog: { datadogExtension: true } },
      { DD_API_KEY: 'k' },
      { localPorts: ports },
    );
    assert.equal(auto.destinations.length, 0);
    assert.ok(
      auto.notes.some(
        (n) => n.level === 'info' && /Datadog's own Lambda extension is in this function/.test(n.message),
      ),
    );
    const forced = resolveExportConfig(
      { datadog: { enabled: true, datadogExtension: true } },
      { DD_API_KEY: 'k' },
      { localPorts: ports },
    );
    assert.deepEqual(
      forced.destinations.map((d) => d.name),
      ['datadog'],
    );
    assert.ok(forced.notes.some((n) => n.level === 'warn' && /both send/.test(n.message)));
  });

  it('can be switched off, needs a key when switched on, and refuses an override pointing at our receiver', () => {
    assert.equal(
      resolveExportConfig({ datadog: { enabled: false } }, { DD_API_KEY: 'k' }, { localPorts: ports })
        .destinations.length,
      0,
    );
    assert.throws(
      () => resolveExportConfig({ datadog: { enabled: true } }, {}, { localPorts: ports }),
      /no API key is set: set DD_API_KEY/,
    );
    assert.throws(
      () =>
        resolveExportConfig(
          { datadog: { apiKey: 'k', tracesEndpoint: 'http://127.0.0.1:4318/v1/traces' } },
          {},
          { localPorts: ports },
        ),
      /datadog.tracesEndpoint points at this extension's own local receiver/,
    );
  });

  it('fans out next to a primary endpoint and forces delta for everyone', () => {
    const config = resolveExportConfig(
      { endpoint: 'https://collector.example.com' },
      { DD_API_KEY: 'k' },
      { localPorts: ports },
    );
    assert.deepEqual(
      config.destinations.map((d) => d.name),
      ['default', 'datadog'],
    );
    assert.equal(config.requiredMetricsTemporality, 'delta');
    const tracesOnly = resolveExportConfig(undefined, {}, { localPorts: ports });
    assert.equal(tracesOnly.requiredMetricsTemporality, undefined);
  });
});

describe('Datadog preset: environment', () => {
  it("finds Datadog's extension as <extensions dir>/datadog-agent", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dd-ext-'));
    try {
      const extensions = join(dir, 'extensions');
      mkdirSync(extensions);
      assert.equal(await datadogExtensionPresent(extensions), false);
      writeFileSync(join(extensions, 'datadog-agent'), '#!/bin/sh\n');
      assert.equal(await datadogExtensionPresent(extensions), true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('DD_SERVICE, DD_ENV, DD_VERSION and DD_TAGS become the resource attributes Datadog reads', () => {
    const env = {
      AWS_LAMBDA_FUNCTION_NAME: 'orders',
      AWS_REGION: 'eu-west-1',
      DD_SERVICE: 'checkout',
      DD_ENV: 'prod',
      DD_VERSION: '1.4.2',
      DD_TAGS: 'team:payments,cost-center:42 owner:a=b, flag',
      OTEL_RESOURCE_ATTRIBUTES: 'team=ignored,region.note=kept',
      OTEL_SERVICE_NAME: 'otel-name',
    };
    const resource = new PlatformResource({ ...env, ...datadogResourceEnv(env) }, new SequentialIds());
    const a = resource.attributes();
    assert.equal(a['service.name'], 'checkout');
    assert.equal(a['deployment.environment.name'], 'prod');
    assert.equal(a['service.version'], '1.4.2');
    assert.equal(a['team'], 'payments');
    assert.equal(a['cost-center'], '42');
    assert.equal(a['owner'], 'a=b');
    assert.equal(a['flag'], '');
    assert.equal(a['region.note'], 'kept');
    assert.deepEqual(resource.problems, []);
    assert.deepEqual(datadogResourceEnv({}), {});
  });
});

describe('Datadog preset against the fake intake', () => {
  let intake: DatadogIntake;
  before(async () => {
    intake = await startDatadogIntake({ apiKey: API_KEY });
  });
  after(() => intake.close());

  function presetDestination(apiKey: string): DestinationConfig {
    const r = resolveDatadog(
      {
        apiKey,
        tracesEndpoint: `${intake.url}/v1/traces`,
        metricsEndpoint: `${intake.url}/v1/metrics`,
        logsEndpoint: `${intake.url}/v1/logs`,
      },
      {},
      ports,
    );
    assert.deepEqual(r.problems, []);
    return r.destination!;
  }

  function pipelineFor(dest: DestinationConfig, log = recordingLog()) {
    return new ExportPipeline({ destinations: [dest], log, exporter: FAST_RETRIES });
  }

  it('accepts delta metrics, traces with the serverless source header, and logs', async () => {
    const pipeline = pipelineFor(presetDestination(API_KEY));
    pipeline.enqueue(metricChunk({ temporality: 'delta', points: 3 }));
    pipeline.enqueue(spanChunk(2));
    pipeline.enqueue(logChunk(2));
    const report = await pipeline.flush({ deadlineMs: Date.now() + 3000, reason: 'test' });
    pipeline.shutdown();
    assert.deepEqual(report.droppedByReason, {});
    assert.equal(report.exportedItems, 8);
    assert.equal(intake.acceptedItems('metrics'), 4);
    assert.equal(intake.acceptedItems('traces'), 2);
    assert.equal(intake.acceptedItems('logs'), 2);
    assert.equal(intake.accepted('traces')[0]?.headers['dd-otlp-source'], 'serverless');
    assert.equal(intake.accepted('metrics')[0]?.headers['dd-otlp-source'], undefined);
    assert.equal(intake.accepted('metrics')[0]?.headers['content-encoding'], 'gzip');
    const temporalities = intake.metricsPayloads.flatMap((p) =>
      allMetrics(p).map((m) => m.sum?.aggregationTemporality ?? m.histogram?.aggregationTemporality),
    );
    assert.ok(temporalities.length > 0 && temporalities.every((t) => t === 1));
  });

  it('cumulative metrics are refused (400) and counted as dropped, not retried', async () => {
    const pipeline = pipelineFor(presetDestination(API_KEY));
    pipeline.enqueue(metricChunk({ temporality: 'cumulative', points: 2 }));
    const report = await pipeline.flush({ deadlineMs: Date.now() + 3000, reason: 'test' });
    pipeline.shutdown();
    assert.deepEqual(report.droppedByReason, { http_400: 3 });
    // A 400 for several items is bisected (one bad item must not cost the rest): both metrics are
    // then refused on their own.
    assert.equal(report.requests, 3);
    assert.match(intake.log.at(-1)!.reason!, /cumulative temporality/);
  });

  it('a wrong or missing API key is a counted drop, and the key never reaches the log', async () => {
    const log = recordingLog();
    const wrong = pipelineFor(presetDestination('revoked-key-0000'), log);
    wrong.enqueue(spanChunk(2));
    wrong.enqueue(metricChunk({ temporality: 'delta' }));
    const report = await wrong.flush({ deadlineMs: Date.now() + 3000, reason: 'test' });
    wrong.shutdown();
    assert.deepEqual(report.droppedByReason, { http_403: 4 });
    assert.match(log.text(), /HTTP 403/);
    assert.doesNotMatch(log.text(), /revoked-key-0000/);

    const dest = presetDestination(API_KEY);
    for (const target of Object.values(dest.signals)) delete target.headers['dd-api-key'];
    const missing = pipelineFor(dest);
    missing.enqueue(logChunk(3));
    const r2 = await missing.flush({ deadlineMs: Date.now() + 3000, reason: 'test' });
    missing.shutdown();
    assert.deepEqual(r2.droppedByReason, { http_403: 3 });
    assert.equal(intake.log.at(-1)?.reason, 'missing API key');
  });

  it('keeps metrics requests under the intake limit by batching', async () => {
    const pipeline = pipelineFor(presetDestination(API_KEY));
    const before = intake.accepted('metrics').length;
    // 8 chunks of ~100 KB: one naive request would be ~800 KB.
    for (let i = 0; i < 8; i++)
      pipeline.enqueue(metricChunk({ temporality: 'delta', points: 50, padBytes: 2_000 }));
    const report = await pipeline.flush({ deadlineMs: Date.now() + 5000, reason: 'test' });
    pipeline.shutdown();
    assert.deepEqual(report.droppedByReason, {});
    assert.equal(report.exportedItems, 8 * 51);
    const sent = intake.accepted('metrics').slice(before);
    assert.ok(sent.length >= 2);
    assert.ok(sent.every((r) => r.bytes <= 500_000));
    assert.ok(!intake.log.slice(-sent.length).some((r) => r.status === 413));
  });

  it('an oversize payload (413) is split and resent; a single chunk over the limit is dropped', async () => {
    const dest = presetDestination(API_KEY);
    // Limits set too high on purpose: the intake's 413 must drive the split.
    dest.signals.metrics!.batch = { maxItems: 100_000, maxBytes: 10_000_000 };
    const pipeline = pipelineFor(dest);
    for (let i = 0; i < 6; i++)
      pipeline.enqueue(metricChunk({ temporality: 'delta', points: 50, padBytes: 2_000 }));
    pipeline.enqueue(metricChunk({ temporality: 'delta', points: 300, padBytes: 2_000 }));
    const start = intake.log.length;
    const report = await pipeline.flush({ deadlineMs: Date.now() + 5000, reason: 'test' });
    pipeline.shutdown();
    const answers = intake.log.slice(start).map((r) => r.status);
    assert.ok(answers.filter((s) => s === 413).length >= 2, answers.join(','));
    assert.deepEqual(report.droppedByReason, { payload_too_large: 301 });
    assert.equal(report.exportedItems, 6 * 51);
  });
});
