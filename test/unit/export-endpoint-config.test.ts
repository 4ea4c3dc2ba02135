import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportConfigFromLoaded, loadConfig } from '../../src/config/index.js';
import {
  ExporterConfigError,
  parseOtlpHeaders,
  resolveExportConfig,
} from '../../src/export/endpoint-config.js';

const opts = { localPorts: [4318] };

/** The configuration as the extension loads it, from variables and optionally a function file. */
async function load(env: Record<string, string>, functionFile?: string) {
  const dir = await mkdtemp(join(tmpdir(), 'export-config-'));
  try {
    if (functionFile !== undefined) await writeFile(join(dir, 'otel-lambda-extension.yaml'), functionFile);
    return await loadConfig({ env, layerDir: dir, taskRoot: dir });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Our own settings are validated once, by the configuration: its error messages. */
async function configProblems(env: Record<string, string>, functionFile?: string): Promise<string[]> {
  const loaded = await load(env, functionFile);
  assert.ok(loaded.errors.length > 0, 'expected a configuration error');
  return loaded.errors.map((e) => e.message);
}

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ExporterConfigError, `expected ExporterConfigError, got ${String(error)}`);
    return [...error.problems];
  }
  assert.fail('expected a configuration error');
}

describe('endpoint configuration: own settings', () => {
  it('base endpoint gets /v1/<signal>, signal endpoints are used as is and win', () => {
    const config = resolveExportConfig(
      {
        endpoint: 'https://collector.example.com:4318/prefix/',
        tracesEndpoint: 'https://traces.example.com/custom',
      },
      {},
      opts,
    );
    assert.equal(config.destinations.length, 1);
    const d = config.destinations[0]!;
    assert.equal(d.name, 'default');
    assert.equal(d.signals.traces?.url, 'https://traces.example.com/custom');
    assert.equal(d.signals.metrics?.url, 'https://collector.example.com:4318/prefix/v1/metrics');
    assert.equal(d.signals.logs?.url, 'https://collector.example.com:4318/prefix/v1/logs');
    assert.equal(d.signals.logs?.protocol, 'http/protobuf');
    assert.equal(d.signals.logs?.compression, 'gzip');
    assert.equal(d.signals.logs?.timeoutMs, 10_000);
  });

  it('refuses a self-export loop in our own settings, naming the variable', async () => {
    for (const endpoint of [
      'http://localhost:4318',
      'http://127.0.0.1:4318',
      'http://127.1.2.3:4318/',
      'http://[::1]:4318',
      'http://0.0.0.0:4318',
      'http://sandbox.localdomain:4318',
    ]) {
      const found = await configProblems({ LAMBDA_OTEL_EXPORTER_ENDPOINT: endpoint });
      assert.equal(found.length, 1, endpoint);
      assert.match(found[0]!, /LAMBDA_OTEL_EXPORTER_ENDPOINT/);
      assert.match(found[0]!, /loop/);
    }
    const found = await configProblems({
      LAMBDA_OTEL_EXPORTER_TRACES_ENDPOINT: 'http://LOCALHOST:4318/v1/traces',
    });
    assert.match(found[0]!, /LAMBDA_OTEL_EXPORTER_TRACES_ENDPOINT/);
  });

  it('allows local endpoints on other ports (a collector sidecar) and remote hosts on 4318', () => {
    const config = resolveExportConfig({ endpoint: 'http://localhost:4319' }, {}, opts);
    assert.equal(config.destinations[0]?.signals.traces?.url, 'http://localhost:4319/v1/traces');
    const remote = resolveExportConfig({ endpoint: 'http://collector.internal:4318' }, {}, opts);
    assert.equal(remote.destinations[0]?.signals.traces?.url, 'http://collector.internal:4318/v1/traces');
  });

  it('reports every invalid own value at once, with grpc explained', async () => {
    const found = await configProblems({
      LAMBDA_OTEL_EXPORTER_ENDPOINT: 'ftp://x',
      LAMBDA_OTEL_EXPORTER_PROTOCOL: 'grpc',
      LAMBDA_OTEL_EXPORTER_COMPRESSION: 'zstd',
      LAMBDA_OTEL_EXPORTER_TIMEOUT: 'NaN',
      LAMBDA_OTEL_EXPORTER_HEADERS: 'novalue',
    });
    assert.equal(found.length, 5, found.join('\n'));
    assert.ok(found.some((p) => /PROTOCOL.*grpc is not supported.*http\/protobuf/.test(p)));
    assert.ok(found.some((p) => /ENDPOINT.*a ftp:\/\/ URL/.test(p)));
    assert.ok(found.some((p) => /COMPRESSION.*gzip \| none.*"zstd"/.test(p)));
    assert.ok(found.some((p) => /TIMEOUT/.test(p)));
    assert.ok(found.some((p) => /HEADERS.*entry 1/.test(p)));
  });
});

describe('endpoint configuration: standard OTEL_EXPORTER_OTLP_* fallback', () => {
  it('uses a remote OTEL_EXPORTER_OTLP_ENDPOINT with its headers, protocol, compression and timeout', () => {
    const config = resolveExportConfig(
      undefined,
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: 'https://api.backend.example.com',
        OTEL_EXPORTER_OTLP_HEADERS: 'x-team=abc%20def, x-other = 1',
        OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-team=traces',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/protobuf',
        OTEL_EXPORTER_OTLP_COMPRESSION: 'none',
        OTEL_EXPORTER_OTLP_TIMEOUT: '3000',
        OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'https://logs.backend.example.com/custom/path',
      },
      opts,
    );
    const d = config.destinations[0]!;
    assert.equal(d.signals.traces?.url, 'https://api.backend.example.com/v1/traces');
    assert.equal(d.signals.logs?.url, 'https://logs.backend.example.com/custom/path');
    assert.deepEqual(d.signals.traces?.headers, { 'x-team': 'traces', 'x-other': '1' });
    assert.deepEqual(d.signals.metrics?.headers, { 'x-team': 'abc def', 'x-other': '1' });
    assert.equal(d.signals.traces?.protocol, 'http/json');
    assert.equal(d.signals.metrics?.protocol, 'http/protobuf');
    assert.equal(d.signals.traces?.compression, 'none');
    assert.equal(d.signals.traces?.timeoutMs, 3000);
  });

  it('ignores a standard endpoint pointing at our receiver, with a debug note, and exports nowhere', () => {
    const config = resolveExportConfig(
      undefined,
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://localhost:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' },
      opts,
    );
    assert.equal(config.destinations.length, 0);
    assert.ok(
      config.notes.some(
        (n) => n.level === 'debug' && /OTEL_EXPORTER_OTLP_ENDPOINT.*local receiver/.test(n.message),
      ),
    );
    assert.ok(config.notes.some((n) => n.level === 'warn' && /no export destination/.test(n.message)));
  });

  it('a looping signal endpoint falls through to a remote generic endpoint', () => {
    const config = resolveExportConfig(
      undefined,
      {
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'https://backend.example.com',
      },
      opts,
    );
    assert.equal(config.destinations[0]?.signals.traces?.url, 'https://backend.example.com/v1/traces');
  });

  it('our own endpoint wins over the standard one, and the standard transport settings are not mixed in', () => {
    const config = resolveExportConfig(
      { endpoint: 'https://ours.example.com' },
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: 'https://theirs.example.com',
        OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20fn-token',
        OTEL_EXPORTER_OTLP_COMPRESSION: 'none',
      },
      opts,
    );
    const t = config.destinations[0]?.signals.traces;
    assert.equal(t?.url, 'https://ours.example.com/v1/traces');
    assert.deepEqual(t?.headers, {});
    assert.equal(t?.compression, 'gzip');
    const note = config.notes.find((n) => /not applied/.test(n.message));
    assert.ok(note);
    assert.doesNotMatch(note.message, /fn-token/);
  });

  it('grpc from the standard variables is a clear error only when their endpoint is used', () => {
    const found = problems(() =>
      resolveExportConfig(
        undefined,
        { OTEL_EXPORTER_OTLP_ENDPOINT: 'https://b.example.com', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
        opts,
      ),
    );
    assert.match(found[0]!, /OTEL_EXPORTER_OTLP_PROTOCOL=grpc: grpc is not supported/);
    // The function's SDK talking grpc to a local receiver does not concern our export.
    const config = resolveExportConfig(
      { endpoint: 'https://ours.example.com' },
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://localhost:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
      opts,
    );
    assert.equal(config.destinations[0]?.signals.traces?.protocol, 'http/protobuf');
  });

  it('bad standard values are noted and skipped, never echoing header values', () => {
    const config = resolveExportConfig(
      undefined,
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: 'https://b.example.com',
        OTEL_EXPORTER_OTLP_HEADERS: 'good=1,bad name=2,secret=%E0%A4%A',
        OTEL_EXPORTER_OTLP_TIMEOUT: 'soon',
      },
      opts,
    );
    const t = config.destinations[0]?.signals.traces;
    assert.deepEqual(t?.headers, { good: '1' });
    assert.equal(t?.timeoutMs, 10_000);
    const text = config.notes.map((n) => n.message).join('\n');
    assert.match(text, /OTEL_EXPORTER_OTLP_TIMEOUT/);
    assert.match(text, /secret is not valid URL encoding/);
    assert.match(text, /"bad name" is not a valid header name/);
    assert.doesNotMatch(text, /E0%A4/);
  });
});

describe('endpoint configuration: fan-out and limits', () => {
  it('builds additional destinations with their own settings and signals', () => {
    const config = resolveExportConfig(
      {
        endpoint: 'https://primary.example.com',
        additionalDestinations: [
          {
            name: 'archive',
            endpoint: 'https://archive.example.com',
            signals: ['logs'],
            compression: 'none',
          },
          {
            metricsEndpoint: 'https://m.example.com/ingest',
            headers: { 'X-Key': 'k' },
            maxBatchBytes: 100_000,
          },
        ],
        maxConcurrentRequests: 6,
        queueMaxItems: 500,
      },
      {},
      opts,
    );
    assert.deepEqual(
      config.destinations.map((d) => [d.name, Object.keys(d.signals)]),
      [
        ['default', ['traces', 'metrics', 'logs']],
        ['archive', ['logs']],
        ['additional-2', ['metrics']],
      ],
    );
    assert.equal(config.destinations[1]?.signals.logs?.compression, 'none');
    assert.deepEqual(config.destinations[2]?.signals.metrics?.headers, { 'x-key': 'k' });
    assert.equal(config.destinations[2]?.signals.metrics?.batch.maxBytes, 100_000);
    assert.equal(config.maxConcurrentRequests, 6);
    assert.deepEqual(config.queue, { maxBytes: 8 * 1024 * 1024, maxItems: 500 });
  });

  it('rejects additional destinations without endpoint, looping, or with duplicate names', async () => {
    const env = { LAMBDA_OTEL_EXPORTER_ENDPOINT: 'https://p.example.com' };
    const file = (item: string) => `additional_exporters:\n  - ${item}\n`;
    const none = await configProblems(env, file('name: x'));
    assert.ok(
      none.every((p) => /additional_exporters\[0\].*no endpoint for/.test(p)),
      none.join('\n'),
    );
    const looping = await configProblems(env, file('{ name: y, endpoint: "http://127.0.0.1:4318" }'));
    assert.equal(looping.length, 1, looping.join('\n'));
    assert.match(looping[0]!, /additional_exporters\[0\]\.endpoint points at .* loop/);
    const taken = await configProblems(env, file('{ name: default, endpoint: "https://d.example.com" }'));
    assert.equal(taken.length, 1, taken.join('\n'));
    assert.match(taken[0]!, /the name "default" is reserved for the main exporter/);
  });
});

describe('OTLP header list parsing', () => {
  it('decodes values, trims, lowercases names and reports malformed entries by position', () => {
    const { headers, errors } = parseOtlpHeaders(' A=1 ,b=x%2Cy,,c=a=b,=nokey,d');
    assert.deepEqual(headers, { a: '1', b: 'x,y', c: 'a=b' });
    assert.deepEqual(errors, ['entry 5 is not key=value', 'entry 6 is not key=value']);
  });

  it('refuses header values with line breaks', () => {
    const { headers, errors } = parseOtlpHeaders('x=a%0D%0Ainjected: 1');
    assert.deepEqual(headers, {});
    assert.match(errors[0]!, /not allowed/);
  });
});

describe('from the loaded extension configuration', () => {
  it('maps LAMBDA_OTEL_EXPORTER_* variables onto the main destination', async () => {
    const env = {
      LAMBDA_OTEL_EXPORTER_ENDPOINT: 'https://c.example.com',
      LAMBDA_OTEL_EXPORTER_LOGS_ENDPOINT: 'https://logs.example.com/in',
      LAMBDA_OTEL_EXPORTER_HEADERS: 'x-api-key=s%3Dcret,x-team=a',
      LAMBDA_OTEL_EXPORTER_PROTOCOL: 'http/json',
      LAMBDA_OTEL_EXPORTER_COMPRESSION: 'none',
      LAMBDA_OTEL_EXPORTER_TIMEOUT: '2500',
    };
    const loaded = await load(env);
    assert.deepEqual(loaded.errors, []);
    const config = exportConfigFromLoaded(loaded, env);
    const d = config.destinations[0]!;
    assert.equal(d.signals.logs?.url, 'https://logs.example.com/in');
    assert.equal(d.signals.traces?.url, 'https://c.example.com/v1/traces');
    assert.deepEqual(d.signals.traces?.headers, { 'x-api-key': 's=cret', 'x-team': 'a' });
    assert.equal(d.signals.traces?.protocol, 'http/json');
    assert.equal(d.signals.traces?.compression, 'none');
    assert.equal(d.signals.traces?.timeoutMs, 2500);
  });

  it('leaves schema defaults out, so the standard variables still describe a standard endpoint', async () => {
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'https://backend.example.com',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_TIMEOUT: '1500',
      LAMBDA_OTEL_RECEIVER_PORT: '4400',
    };
    const loaded = await load(env);
    const config = exportConfigFromLoaded(loaded, env);
    const t = config.destinations[0]?.signals.traces;
    assert.equal(t?.url, 'https://backend.example.com/v1/traces');
    assert.equal(t?.protocol, 'http/json');
    assert.equal(t?.timeoutMs, 1500);
    // The receiver port from the configuration is what counts as a loop.
    const looping = {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://localhost:4400',
      LAMBDA_OTEL_RECEIVER_PORT: '4400',
    };
    assert.equal(exportConfigFromLoaded(await load(looping), looping).destinations.length, 0);
  });

  it('sends the main destination only the signals exporter.signals lists', async () => {
    const env = {
      LAMBDA_OTEL_EXPORTER_ENDPOINT: 'https://c.example.com',
      LAMBDA_OTEL_EXPORTER_SIGNALS: 'logs',
    };
    const config = exportConfigFromLoaded(await load(env), env);
    assert.deepEqual(Object.keys(config.destinations[0]?.signals ?? {}), ['logs']);
  });

  it('turns DD_API_KEY and DD_SITE into the Datadog destination', async () => {
    const env = { DD_API_KEY: 'k123', DD_SITE: 'us5.datadoghq.com' };
    const config = exportConfigFromLoaded(await load(env), env);
    const dd = config.destinations.find((d) => d.name === 'datadog');
    assert.equal(dd?.signals.metrics?.url, 'https://otlp.us5.datadoghq.com/v1/metrics');
    assert.equal(config.requiredMetricsTemporality, 'delta');
  });
});
