import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { formatConfigErrors, type LoadedConfig, loadConfig } from '../../src/config/index.js';

const root = mkdtempSync(join(tmpdir(), 'config-validation-'));
after(() => rmSync(root, { recursive: true, force: true }));
const noLayer = join(root, 'no-layer');
const noTask = join(root, 'no-task');

let counter = 0;
/** Writes a function file and returns its task root and path. */
function functionFile(text: string, name = 'otel-lambda-extension.yaml') {
  const taskRoot = join(root, String(counter++));
  mkdirSync(taskRoot);
  const path = join(taskRoot, name);
  writeFileSync(path, text);
  return { taskRoot, path };
}

async function fromFile(text: string, env: Record<string, string> = {}, name?: string) {
  const { taskRoot, path } = functionFile(text, name);
  const loaded = await loadConfig({ env, layerDir: noLayer, taskRoot });
  return { loaded, path };
}

function fromEnv(env: Record<string, string>) {
  return loadConfig({ env, layerDir: noLayer, taskRoot: noTask });
}

const messages = (loaded: LoadedConfig) => loaded.errors.map((e) => e.message);

describe('configuration validation', () => {
  it('reports an invalid environment value with key, variable, expectation and value', async () => {
    const loaded = await fromEnv({ LAMBDA_OTEL_FLUSH_GRACE_MS: 'abc' });
    assert.deepEqual(messages(loaded), [
      'flush.grace_ms (env LAMBDA_OTEL_FLUSH_GRACE_MS): expected an integer between 0 and 2000, got "abc"',
    ]);
    const [error] = loaded.errors;
    assert.equal(error!.key, 'flush.grace_ms');
    assert.equal(error!.where, 'env LAMBDA_OTEL_FLUSH_GRACE_MS');
    assert.equal(error!.problem, 'expected an integer between 0 and 2000, got "abc"');
    // The invalid value is not applied.
    assert.equal(loaded.config.flush.grace_ms, 100);
  });

  it('keeps the file value when the environment value is invalid', async () => {
    const { loaded } = await fromFile('flush:\n  grace_ms: 70\n', { LAMBDA_OTEL_FLUSH_GRACE_MS: '-1' });
    assert.equal(loaded.errors.length, 1);
    assert.equal(loaded.config.flush.grace_ms, 70);
    assert.equal(loaded.sources['flush.grace_ms'], 'function');
  });

  it('checks types, ranges and words, with the file line of each problem', async () => {
    const text = [
      'log_level: verbose', // 1
      'strict_config: yes', // 2
      'telemetry_api:', // 3
      '  buffering:', // 4
      '    max_items: 50', // 5
      '    timeout_ms: 30001', // 6
      'exporter:', // 7
      '  endpoint: ftp://collector.example.com', // 8
      '  compression: zstd', // 9
      '  max_concurrency: [1]', // 10
      '  timeout_ms: 1.5', // 11
      'receiver: 4318', // 12
      'traces:', // 13
      '  correlation_hold_ms: "2000"', // 14 (a quoted number is fine)
      'logs:', // 15
      '  function: {on: true}', // 16
    ].join('\n');
    const { loaded, path } = await fromFile(text);
    assert.deepEqual(messages(loaded), [
      `log_level (${path}:1): expected one of error | warn | info | debug, got "verbose"`,
      `strict_config (${path}:2): expected true or false, got "yes"`,
      `telemetry_api.buffering.max_items (${path}:5): expected an integer between 1000 and 10000, got 50`,
      `telemetry_api.buffering.timeout_ms (${path}:6): expected an integer between 25 and 30000, got 30001`,
      `exporter.endpoint (${path}:8): expected an http:// or https:// URL, got a ftp:// URL`,
      `exporter.compression (${path}:9): expected one of gzip | none, got "zstd"`,
      `exporter.max_concurrency (${path}:10): expected an integer between 1 and 32, got a list`,
      `exporter.timeout_ms (${path}:11): expected an integer between 100 and 60000, got 1.5`,
      `receiver (${path}:12): expected a mapping of settings, got a single value`,
      `logs.function (${path}:16): expected true or false, got a mapping`,
    ]);
    assert.equal(loaded.config.traces.correlation_hold_ms, 2000);
  });

  it('collects every problem from every source', async () => {
    const { loaded } = await fromFile('log_level: loud\nflush:\n  grace_ms: -5\n', {
      LAMBDA_OTEL_RECEIVER_PORT: '70000',
      LAMBDA_OTEL_TRACES_ENABLED: 'yes',
      LAMBDA_OTEL_EXPORTER_PROTOCOL: 'grpc',
    });
    assert.deepEqual(
      loaded.errors.map((e) => e.key),
      ['log_level', 'flush.grace_ms', 'exporter.protocol', 'traces.enabled', 'receiver.port'],
    );
    const line = formatConfigErrors(loaded.errors);
    assert.match(line, /^invalid configuration \(5 problems\): log_level \(.*\): expected one of/);
    assert.ok(
      line.includes(
        '; receiver.port (env LAMBDA_OTEL_RECEIVER_PORT): expected an integer between 1 and 65535, got "70000"',
      ),
    );
  });

  it('names the nearest known key for an unknown one', async () => {
    const text = [
      'flush:',
      '  stratgy: end', // 2: typo
      '  graceMs: 10', // 3: camelCase
      'exporter:',
      '  timeout: 5', // 5: missing unit
      'grace_ms: 4', // 6: right key, wrong section
      'colour: blue', // 7: nothing close
    ].join('\n');
    const { loaded, path } = await fromFile(text);
    assert.deepEqual(messages(loaded), [
      `flush.stratgy (${path}:2): unknown key; did you mean "strategy"?`,
      `flush.graceMs (${path}:3): unknown key; did you mean "grace_ms"?`,
      `exporter.timeout (${path}:5): unknown key; did you mean "timeout_ms"?`,
      `grace_ms (${path}:6): unknown key; did you mean "flush.grace_ms"?`,
      `colour (${path}:7): unknown key; known keys here: log_level, strict_config, telemetry_api, exporter, additional_exporters, datadog, aws, secrets, metrics, traces, logs, flush, queue, memory, batch, receiver, processors`,
    ]);
  });

  it('warns about unknown LAMBDA_OTEL_* variables with the nearest known name', async () => {
    const loaded = await fromEnv({
      LAMBDA_OTEL_EXPORTER_ENDPIONT: 'https://x.example.com',
      LAMBDA_OTEL_ZZZ: '1',
    });
    assert.deepEqual(loaded.errors, []);
    assert.deepEqual(loaded.warnings, [
      'env LAMBDA_OTEL_EXPORTER_ENDPIONT: not a known setting; did you mean LAMBDA_OTEL_EXPORTER_ENDPOINT?; ignored',
      'env LAMBDA_OTEL_ZZZ: not a known setting; ignored',
    ]);
  });

  it('reports malformed YAML with line and column, and applies nothing from that file', async () => {
    const { loaded, path } = await fromFile(
      'log_level: info\nexporter:\n  endpoint: [https://a\n  protocol: http/json\n',
    );
    assert.ok(loaded.errors.length >= 1);
    for (const error of loaded.errors) {
      assert.equal(error.key, '');
      assert.match(error.message, new RegExp(`^${path.replaceAll('.', '\\.')}:\\d+:\\d+: malformed YAML: `));
    }
    assert.equal(loaded.config.log_level, 'warn');
    // Duplicate keys are a syntax error too, at the duplicate's line.
    const duplicate = await fromFile('log_level: info\nflush:\n  grace_ms: 1\nlog_level: debug\n');
    assert.equal(duplicate.loaded.errors.length, 1);
    assert.match(duplicate.loaded.errors[0]!.message, /:4:1: malformed YAML: Map keys must be unique/);
  });

  it('reports malformed JSON with a line number', async () => {
    const { loaded, path } = await fromFile(
      '{\n  "log_level": "info",\n  "flush": {"grace_ms": 1,,}\n}',
      {},
      'otel-lambda-extension.json',
    );
    assert.ok(loaded.errors.length >= 1);
    assert.match(
      loaded.errors[0]!.message,
      new RegExp(`^${path.replaceAll('.', '\\.')}:3:\\d+: malformed YAML`),
    );
  });

  it('rejects a file whose top level is not a mapping', async () => {
    const { loaded, path } = await fromFile('- log_level: info\n');
    assert.deepEqual(messages(loaded), [`${path}:1: expected a mapping of settings, got a list`]);
  });

  it('reports unreadable and missing files', async () => {
    const taskRoot = join(root, String(counter++));
    mkdirSync(join(taskRoot, 'otel-lambda-extension.yaml'), { recursive: true });
    const directory = await loadConfig({ env: {}, layerDir: noLayer, taskRoot });
    assert.deepEqual(messages(directory), [
      `${join(taskRoot, 'otel-lambda-extension.yaml')}: the configuration file cannot be read: it is a directory`,
    ]);

    const missing = await fromEnv({ LAMBDA_OTEL_CONFIG_FILE: join(root, 'nowhere.yaml') });
    assert.deepEqual(messages(missing), [
      `env LAMBDA_OTEL_CONFIG_FILE: the configuration file ${join(root, 'nowhere.yaml')} does not exist`,
    ]);

    const relative = await fromEnv({ LAMBDA_OTEL_CONFIG_FILE: 'config/otel.yaml' });
    assert.deepEqual(messages(relative), [
      'env LAMBDA_OTEL_CONFIG_FILE: expected an absolute path (e.g. /var/task/otel-lambda-extension.yaml), got "config/otel.yaml"',
    ]);
  });

  it('validates every flush strategy form', async () => {
    const forms = 'expected one of adaptive | end | end,<ms> | periodic,<ms> | continuous,<ms>';
    const cases: [string, string][] = [
      ['periodic', `${forms}, got "periodic"`],
      ['continuous', `${forms}, got "continuous"`],
      ['adaptive,100', `${forms}, got "adaptive,100"`],
      ['sometimes', `${forms}, got "sometimes"`],
      ['end,', 'expected <ms> in "end,<ms>" to be an integer between 100 and 900000, got ""'],
      ['periodic,abc', 'expected <ms> in "periodic,<ms>" to be an integer between 100 and 900000, got "abc"'],
      [
        'continuous,99',
        'expected <ms> in "continuous,<ms>" to be an integer between 100 and 900000, got "99"',
      ],
      ['end,900001', 'expected <ms> in "end,<ms>" to be an integer between 100 and 900000, got "900001"'],
      ['periodic,1.5', 'expected <ms> in "periodic,<ms>" to be an integer between 100 and 900000, got "1.5"'],
    ];
    for (const [text, problem] of cases) {
      const loaded = await fromEnv({ LAMBDA_OTEL_FLUSH_STRATEGY: text });
      assert.deepEqual(
        messages(loaded),
        [`flush.strategy (env LAMBDA_OTEL_FLUSH_STRATEGY): ${problem}`],
        text,
      );
      assert.deepEqual(loaded.config.flush.strategy, { kind: 'adaptive' });
    }
    const { loaded } = await fromFile('flush:\n  strategy: 5\n');
    assert.match(messages(loaded)[0]!, /flush\.strategy \(.*:2\): expected one of adaptive .*, got 5$/);
  });

  it('validates additional exporters item by item', async () => {
    const text = [
      'additional_exporters:', // 1
      '  - endpoint: https://a.example.com', // 2: no name
      '  - name: b', // 3
      '    logs_endpoint: https://b.example.com', // 4: traces and metrics have no endpoint
      '  - name: c', // 5
      '    endpoint: https://c.example.com',
      '    signls: [traces]', // 7: typo
      '  - name: d',
      '    endpoint: https://d.example.com',
      '    signals: [traces, profiles]', // 10
      '  - name: e',
      '    endpoint: https://e.example.com',
      '    signals: []', // 13
    ].join('\n');
    const { loaded, path } = await fromFile(text);
    assert.deepEqual(messages(loaded), [
      `additional_exporters[0].name (${path}:2): missing: this key is required`,
      `additional_exporters[1] (${path}:3): no endpoint for traces: set endpoint or traces_endpoint, or remove traces from signals`,
      `additional_exporters[1] (${path}:3): no endpoint for metrics: set endpoint or metrics_endpoint, or remove metrics from signals`,
      `additional_exporters[2].signls (${path}:7): unknown key; did you mean "signals"?`,
      `additional_exporters[3].signals[1] (${path}:10): expected one of traces | metrics | logs, got "profiles"`,
      `additional_exporters[4].signals (${path}:13): expected at least 1 of traces | metrics | logs, got an empty list`,
    ]);
    assert.deepEqual(loaded.config.additional_exporters, []);

    const duplicate = await fromFile(
      'additional_exporters:\n  - name: a\n    endpoint: https://a.example.com\n  - name: a\n    endpoint: https://b.example.com\n',
    );
    assert.deepEqual(messages(duplicate.loaded), [
      `additional_exporters (${duplicate.path}:2): the name "a" is used more than once`,
    ]);
  });

  it('checks rules across keys, naming where each value came from', async () => {
    const { loaded, path } = await fromFile('batch:\n  max_items: 30000\n', {
      LAMBDA_OTEL_RECEIVER_MAX_DECOMPRESSED_BYTES: '1048576',
    });
    assert.deepEqual(messages(loaded), [
      `batch.max_items (${path}:2): must not exceed queue.max_items_per_signal (20000), got 30000`,
      'receiver.max_decompressed_bytes (env LAMBDA_OTEL_RECEIVER_MAX_DECOMPRESSED_BYTES): must be at least receiver.max_body_bytes (16777216), got 1048576',
    ]);
  });

  it('lets a default batch size follow a smaller queue bound instead of failing', async () => {
    const loaded = await fromEnv({
      LAMBDA_OTEL_QUEUE_MAX_ITEMS_PER_SIGNAL: '1000',
      LAMBDA_OTEL_QUEUE_MAX_BYTES_PER_SIGNAL: '2097152',
    });
    assert.deepEqual(messages(loaded), []);
    assert.equal(loaded.config.batch.max_items, 1000);
    assert.equal(loaded.config.batch.max_bytes, 2097152);
    const explicit = await fromEnv({
      LAMBDA_OTEL_QUEUE_MAX_ITEMS_PER_SIGNAL: '1000',
      LAMBDA_OTEL_BATCH_MAX_ITEMS: '1500',
    });
    assert.deepEqual(messages(explicit), [
      'batch.max_items (env LAMBDA_OTEL_BATCH_MAX_ITEMS): must not exceed queue.max_items_per_signal (1000), got 1500',
    ]);
  });

  it("refuses an exporter endpoint that is the extension's own receiver", async () => {
    for (const endpoint of [
      'http://localhost:4318',
      'http://127.0.0.1:4318/',
      'http://[::1]:4318',
      'http://sandbox.localdomain:4318',
    ]) {
      const loaded = await fromEnv({ LAMBDA_OTEL_EXPORTER_ENDPOINT: endpoint });
      assert.equal(loaded.errors.length, 1, endpoint);
      assert.match(
        loaded.errors[0]!.message,
        /^exporter\.endpoint \(env LAMBDA_OTEL_EXPORTER_ENDPOINT\): points at the extension's own receiver \(port 4318\)/,
      );
    }
    // Another port, or the receiver turned off, is fine.
    assert.deepEqual((await fromEnv({ LAMBDA_OTEL_EXPORTER_ENDPOINT: 'http://localhost:4317' })).errors, []);
    assert.deepEqual(
      (
        await fromEnv({
          LAMBDA_OTEL_EXPORTER_ENDPOINT: 'http://localhost:4318',
          LAMBDA_OTEL_RECEIVER_ENABLED: 'false',
        })
      ).errors,
      [],
    );
    const moved = await fromEnv({
      LAMBDA_OTEL_EXPORTER_TRACES_ENDPOINT: 'http://localhost:9000/v1/traces',
      LAMBDA_OTEL_RECEIVER_PORT: '9000',
    });
    assert.equal(moved.errors[0]?.key, 'exporter.traces_endpoint');
  });

  it('validates header names, URLs, sites and ARNs', async () => {
    const { loaded, path } = await fromFile(
      [
        'exporter:',
        '  headers:',
        '    "bad header": x', // 3
        'datadog:',
        '  site: "datadog hq"', // 5
        '  api_key_secret_arn: arn:aws:ssm:us-east-1:123456789012:parameter/key', // 6
        '  traces_endpoint: not a url', // 7
      ].join('\n'),
    );
    assert.deepEqual(messages(loaded), [
      `exporter.headers (${path}:3): expected header names made of letters, digits and !#$%&'*+.^_\`|~-, entry 1 is not (name not shown: secret)`,
      `datadog.site (${path}:5): expected a Datadog site such as datadoghq.com, us5.datadoghq.com, datadoghq.eu or ddog-gov.com, got "datadog hq"`,
      `datadog.api_key_secret_arn (${path}:6): expected a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>), got "arn:aws:ssm:us-east-1:123456789012:parameter/key"`,
      `datadog.traces_endpoint (${path}:7): expected an http:// or https:// URL, got "not a url"`,
    ]);
  });

  it('reads words case-insensitively and booleans in either case', async () => {
    const loaded = await fromEnv({
      LAMBDA_OTEL_LOG_LEVEL: 'DEBUG',
      LAMBDA_OTEL_EXPORTER_PROTOCOL: 'HTTP/JSON',
      LAMBDA_OTEL_STRICT_CONFIG: 'True',
    });
    assert.deepEqual(loaded.errors, []);
    assert.equal(loaded.config.log_level, 'debug');
    assert.equal(loaded.config.exporter.protocol, 'http/json');
    assert.equal(loaded.config.strict_config, true);
  });
});
