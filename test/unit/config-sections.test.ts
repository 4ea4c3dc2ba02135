// The configuration hands each component its section, already valid; what only the environment can
// make wrong is a configuration error like any other, with its key, in the one error line.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { environmentFacts, formatConfigErrors, loadConfig, resolveSections } from '../../src/config/index.js';
import { DEFAULT_FLUSH_SETTINGS } from '../../src/flush/index.js';

async function resolve(env: Record<string, string>) {
  const dir = await mkdtemp(join(tmpdir(), 'config-sections-'));
  try {
    const loaded = await loadConfig({ env, layerDir: dir, taskRoot: dir });
    const facts = await environmentFacts(join(dir, 'extensions'));
    return { loaded, resolved: resolveSections(loaded, env, facts) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('configuration sections', () => {
  it('hands the flush manager and the exporter their settings', async () => {
    const { resolved } = await resolve({
      LAMBDA_OTEL_EXPORTER_ENDPOINT: 'https://collector.example.com',
      LAMBDA_OTEL_FLUSH_GRACE_MS: '0',
      LAMBDA_OTEL_FLUSH_STRATEGY: 'periodic,20000',
      LAMBDA_OTEL_FLUSH_MAX_STALENESS_MS: '1000',
    });
    assert.ok(resolved.ok, JSON.stringify(resolved.errors));
    const { flush, export: exportConfig } = resolved.sections;
    assert.deepEqual(flush.strategy, { kind: 'periodic', intervalMs: 20_000 });
    assert.equal(flush.settings.graceMaxMs, 0);
    // Dependent defaults follow the values given: a grace of 0 and a 1 s staleness bound combine.
    assert.equal(flush.settings.graceQuietMs, 0);
    assert.equal(flush.settings.backgroundIntervalMs, 500);
    assert.equal(flush.settings.blockingFlushTimeoutMs, DEFAULT_FLUSH_SETTINGS.blockingFlushTimeoutMs);
    assert.equal(
      exportConfig.destinations[0]?.signals.traces?.url,
      'https://collector.example.com/v1/traces',
    );
  });

  it('reports what the environment makes wrong as configuration errors with their keys, all at once', async () => {
    const { resolved } = await resolve({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'https://backend.example.com',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      LAMBDA_OTEL_AWS_SIGNALS: 'logs',
      LAMBDA_OTEL_DATADOG_ENABLED: 'true',
    });
    assert.equal(resolved.ok, false);
    const keys = resolved.errors.map((e) => e.key);
    assert.deepEqual([...new Set(keys)].sort(), ['', 'aws', 'datadog']);
    const line = formatConfigErrors(resolved.errors);
    assert.match(line, /^invalid configuration \(\d+ problems\): /);
    assert.match(line, /OTEL_EXPORTER_OTLP_PROTOCOL=grpc: grpc is not supported/);
    assert.match(line, /datadog \(env\): Datadog export is enabled but no API key is set/);
    assert.match(line, /aws \(env\): aws\.signals includes logs but aws\.log_group is not set/);
  });

  it("the loader's own errors come first and alone", async () => {
    const { loaded, resolved } = await resolve({
      LAMBDA_OTEL_FLUSH_GRACE_MS: '-1',
      LAMBDA_OTEL_DATADOG_ENABLED: 'true',
    });
    assert.equal(resolved.ok, false);
    assert.deepEqual(resolved.errors, loaded.errors);
    assert.deepEqual(
      resolved.errors.map((e) => e.key),
      ['flush.grace_ms'],
    );
  });
});
