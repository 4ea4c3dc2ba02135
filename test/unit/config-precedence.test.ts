import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CONFIG_SCHEMA } from '../../src/config/extension-config.js';
import { loadConfig } from '../../src/config/index.js';
import { CONFIG_LEAVES } from '../../src/config/load.js';
import { sectionDefaults } from '../../src/config/schema.js';

const root = mkdtempSync(join(tmpdir(), 'config-precedence-'));
after(() => rmSync(root, { recursive: true, force: true }));

let counter = 0;
/** A fresh directory holding the given files. */
function dir(files: Record<string, string> = {}): string {
  const path = join(root, String(counter++));
  mkdirSync(path);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(path, name), text);
  return path;
}

const FUNCTION_FILE = 'otel-lambda-extension.yaml';

describe('configuration precedence', () => {
  it('gives the built-in defaults when nothing is configured', async () => {
    const loaded = await loadConfig({ env: {}, layerDir: dir(), taskRoot: dir() });
    assert.deepEqual(loaded.errors, []);
    assert.deepEqual(loaded.warnings, []);
    assert.deepEqual(loaded.files, []);
    assert.deepEqual(loaded.config, sectionDefaults(CONFIG_SCHEMA));
    for (const { path } of CONFIG_LEAVES)
      assert.equal(loaded.sources[path as keyof typeof loaded.sources], 'default');
    assert.equal(loaded.config.flush.grace_ms, 100);
    assert.deepEqual(loaded.config.flush.strategy, { kind: 'adaptive' });
  });

  it('applies layer < function file < environment, key by key', async () => {
    const layerDir = dir({
      'config.yaml':
        'log_level: debug\nflush:\n  grace_ms: 10\n  deadline_margin_ms: 200\nreceiver:\n  port: 5000\n',
    });
    const taskRoot = dir({ [FUNCTION_FILE]: 'log_level: info\nflush:\n  grace_ms: 20\n' });
    const env = { LAMBDA_OTEL_LOG_LEVEL: 'ERROR' };

    const layerOnly = await loadConfig({ env: {}, layerDir, taskRoot: dir() });
    assert.equal(layerOnly.config.log_level, 'debug');
    assert.equal(layerOnly.sources.log_level, 'layer');

    const withFunction = await loadConfig({ env: {}, layerDir, taskRoot });
    assert.equal(withFunction.config.log_level, 'info');
    assert.equal(withFunction.config.flush.grace_ms, 20);
    assert.equal(withFunction.sources['flush.grace_ms'], 'function');
    // Keys the function file does not mention keep the layer's values.
    assert.equal(withFunction.config.flush.deadline_margin_ms, 200);
    assert.equal(withFunction.sources['flush.deadline_margin_ms'], 'layer');
    assert.equal(withFunction.config.receiver.port, 5000);

    const withEnv = await loadConfig({ env, layerDir, taskRoot });
    assert.deepEqual(withEnv.errors, []);
    assert.equal(withEnv.config.log_level, 'error');
    assert.equal(withEnv.sources.log_level, 'env');
    assert.equal(withEnv.config.flush.grace_ms, 20);
    assert.equal(withEnv.sources['strict_config'], 'default');
    assert.deepEqual(withEnv.files, [join(layerDir, 'config.yaml'), join(taskRoot, FUNCTION_FILE)]);
  });

  it('reads the file named by LAMBDA_OTEL_CONFIG_FILE instead of the function package lookup', async () => {
    const taskRoot = dir({ [FUNCTION_FILE]: 'log_level: info\ntraces:\n  export_unsampled: true\n' });
    const elsewhere = dir({ 'custom.yml': 'log_level: debug\n' });
    const path = join(elsewhere, 'custom.yml');
    const loaded = await loadConfig({ env: { LAMBDA_OTEL_CONFIG_FILE: path }, layerDir: dir(), taskRoot });
    assert.deepEqual(loaded.errors, []);
    assert.equal(loaded.config.log_level, 'debug');
    assert.equal(loaded.sources.log_level, 'function');
    // The /var/task file is not read at all.
    assert.equal(loaded.config.traces.export_unsampled, false);
    assert.deepEqual(loaded.files, [path]);
    // And the environment still wins over it.
    const overridden = await loadConfig({
      env: { LAMBDA_OTEL_CONFIG_FILE: path, LAMBDA_OTEL_LOG_LEVEL: 'warn' },
      layerDir: dir(),
      taskRoot,
    });
    assert.equal(overridden.config.log_level, 'warn');
  });

  it('accepts .yml and .json function files, and says which one wins when several exist', async () => {
    const yml = await loadConfig({
      env: {},
      layerDir: dir(),
      taskRoot: dir({ 'otel-lambda-extension.yml': 'log_level: info' }),
    });
    assert.equal(yml.config.log_level, 'info');
    const json = await loadConfig({
      env: {},
      layerDir: dir(),
      taskRoot: dir({ 'otel-lambda-extension.json': '{"log_level": "debug", "receiver": {"port": 4400}}' }),
    });
    assert.deepEqual(json.errors, []);
    assert.equal(json.config.log_level, 'debug');
    assert.equal(json.config.receiver.port, 4400);

    const both = await loadConfig({
      env: {},
      layerDir: dir(),
      taskRoot: dir({
        [FUNCTION_FILE]: 'log_level: info',
        'otel-lambda-extension.json': '{"log_level": "debug"}',
      }),
    });
    assert.equal(both.config.log_level, 'info');
    assert.equal(both.warnings.length, 1);
    assert.match(
      both.warnings[0]!,
      /otel-lambda-extension\.json: ignored; .*otel-lambda-extension\.yaml is read instead/,
    );
  });

  it('merges headers by (case-insensitive) name across sources and replaces lists', async () => {
    const layerDir = dir({
      'config.yaml': [
        'exporter:',
        '  headers:',
        '    Authorization: layer-token',
        '    x-layer: one',
        'additional_exporters:',
        '  - name: from-layer',
        '    endpoint: https://layer.example.com',
      ].join('\n'),
    });
    const taskRoot = dir({
      [FUNCTION_FILE]: [
        'exporter:',
        '  headers:',
        '    authorization: function-token',
        '    x-function: two',
        'additional_exporters:',
        '  - name: from-function',
        '    endpoint: https://function.example.com',
        '    signals: [traces]',
      ].join('\n'),
    });
    const loaded = await loadConfig({
      env: { LAMBDA_OTEL_EXPORTER_HEADERS: 'X-Env=three%2Cfour' },
      layerDir,
      taskRoot,
    });
    assert.deepEqual(loaded.errors, []);
    assert.deepEqual(loaded.config.exporter.headers, {
      authorization: 'function-token',
      'x-layer': 'one',
      'x-function': 'two',
      'x-env': 'three,four',
    });
    assert.equal(loaded.sources['exporter.headers'], 'env');
    assert.deepEqual(loaded.config.additional_exporters, [
      {
        name: 'from-function',
        endpoint: 'https://function.example.com',
        traces_endpoint: undefined,
        metrics_endpoint: undefined,
        logs_endpoint: undefined,
        protocol: 'http/protobuf',
        compression: 'gzip',
        headers: {},
        timeout_ms: undefined,
        signals: ['traces'],
      },
    ]);
  });

  it('puts the default back for an explicit empty value', async () => {
    const layerDir = dir({
      'config.yaml': 'exporter:\n  endpoint: https://layer.example.com\n  timeout_ms: 500\n',
    });
    const taskRoot = dir({ [FUNCTION_FILE]: 'exporter:\n  endpoint:\n  timeout_ms: ~\n' });
    const loaded = await loadConfig({ env: {}, layerDir, taskRoot });
    assert.deepEqual(loaded.errors, []);
    assert.equal(loaded.config.exporter.endpoint, undefined);
    assert.equal(loaded.config.exporter.timeout_ms, 10_000);
    assert.equal(loaded.sources['exporter.endpoint'], 'function');
  });

  it('treats empty environment variables as unset', async () => {
    const taskRoot = dir({ [FUNCTION_FILE]: 'log_level: info' });
    const loaded = await loadConfig({ env: { LAMBDA_OTEL_LOG_LEVEL: '  ' }, layerDir: dir(), taskRoot });
    assert.deepEqual(loaded.errors, []);
    assert.equal(loaded.config.log_level, 'info');
  });

  it('honours the standard temporality variable below its own, and only warns about it', async () => {
    const standard = await loadConfig({
      env: { OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'LowMemory' },
      layerDir: dir(),
      taskRoot: dir(),
    });
    assert.equal(standard.config.metrics.temporality, 'lowmemory');
    assert.equal(standard.sources['metrics.temporality'], 'env');

    const own = await loadConfig({
      env: {
        OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'lowmemory',
        LAMBDA_OTEL_METRICS_TEMPORALITY: 'cumulative',
      },
      layerDir: dir(),
      taskRoot: dir(),
    });
    assert.equal(own.config.metrics.temporality, 'cumulative');

    const invalid = await loadConfig({
      env: { OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'sometimes' },
      layerDir: dir(),
      taskRoot: dir(),
    });
    assert.deepEqual(invalid.errors, []);
    assert.equal(invalid.config.metrics.temporality, 'cumulative');
    assert.deepEqual(invalid.warnings, [
      'metrics.temporality (env OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE): expected one of cumulative | delta | lowmemory, got "sometimes"; ignored',
    ]);
  });

  it('enables the Datadog preset from DD_API_KEY, with delta temporality unless told otherwise', async () => {
    const loaded = await loadConfig({
      env: { DD_API_KEY: '0123456789abcdef0123456789abcdef', DD_SITE: 'datadoghq.eu' },
      layerDir: dir(),
      taskRoot: dir(),
    });
    assert.deepEqual(loaded.errors, []);
    assert.equal(loaded.config.datadog.api_key, '0123456789abcdef0123456789abcdef');
    assert.equal(loaded.config.datadog.site, 'datadoghq.eu');
    assert.equal(loaded.config.metrics.temporality, 'delta');

    const cumulative = await loadConfig({
      env: { DD_API_KEY: 'k', LAMBDA_OTEL_METRICS_TEMPORALITY: 'cumulative' },
      layerDir: dir(),
      taskRoot: dir(),
    });
    assert.equal(cumulative.config.metrics.temporality, 'cumulative');
    assert.equal(cumulative.warnings.length, 1);
    assert.match(
      cumulative.warnings[0]!,
      /^metrics\.temporality \(env LAMBDA_OTEL_METRICS_TEMPORALITY\): Datadog/,
    );
  });

  it('hands the standard exporter variables to the exporter untouched', async () => {
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://localhost:4318',
      OTEL_EXPORTER_OTLP_HEADERS: 'a=b',
      OTEL_SERVICE_NAME: 'not-an-exporter-variable',
    };
    const loaded = await loadConfig({ env, layerDir: dir(), taskRoot: dir() });
    assert.deepEqual(loaded.otlpEnv, {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://localhost:4318',
      OTEL_EXPORTER_OTLP_HEADERS: 'a=b',
    });
    // They never set the extension's own exporter.
    assert.equal(loaded.config.exporter.endpoint, undefined);
    assert.equal(loaded.sources['exporter.endpoint'], 'default');
  });

  it('returns a frozen configuration', async () => {
    const loaded = await loadConfig({
      env: { LAMBDA_OTEL_EXPORTER_HEADERS: 'a=b' },
      layerDir: dir(),
      taskRoot: dir(),
    });
    assert.throws(() => {
      (loaded.config.flush as { grace_ms: number }).grace_ms = 1;
    }, TypeError);
    assert.throws(() => {
      (loaded.config.exporter.headers as Record<string, string>).b = 'c';
    }, TypeError);
  });

  it('parses every flush strategy form from the environment', async () => {
    const cases: [string, unknown][] = [
      ['adaptive', { kind: 'adaptive' }],
      ['END', { kind: 'end' }],
      ['end,500', { kind: 'end', backstopMs: 500 }],
      ['periodic, 20000', { kind: 'periodic', intervalMs: 20_000 }],
      ['continuous,100', { kind: 'continuous', intervalMs: 100 }],
    ];
    for (const [text, expected] of cases) {
      const loaded = await loadConfig({
        env: { LAMBDA_OTEL_FLUSH_STRATEGY: text },
        layerDir: dir(),
        taskRoot: dir(),
      });
      assert.deepEqual(loaded.errors, [], text);
      assert.deepEqual(loaded.config.flush.strategy, expected, text);
    }
  });
});
