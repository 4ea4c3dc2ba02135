// biome-ignore-all lint/suspicious/noTemplateCurlyInString: configuration text with literal ${env:NAME} references
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { describeConfig, formatConfigErrors, type LoadedConfig, loadConfig } from '../../src/config/index.js';

const root = mkdtempSync(join(tmpdir(), 'config-secrets-'));
after(() => rmSync(root, { recursive: true, force: true }));
const noLayer = join(root, 'no-layer');

let counter = 0;
async function load(text: string | undefined, env: Record<string, string>): Promise<LoadedConfig> {
  const taskRoot = join(root, String(counter++));
  mkdirSync(taskRoot);
  if (text !== undefined) writeFileSync(join(taskRoot, 'otel-lambda-extension.yaml'), text);
  return loadConfig({ env, layerDir: noLayer, taskRoot });
}

/** Everything the loader lets a caller log. */
function everythingLogged(loaded: LoadedConfig): string {
  return [describeConfig(loaded.config), formatConfigErrors(loaded.errors), ...loaded.warnings].join('\n');
}

const SECRET = 'S3cr3tValue-9f8e7d';

describe('secrets', () => {
  it('are redacted from describeConfig, wherever they were set', async () => {
    const text = [
      'exporter:',
      '  endpoint: https://user:pa55word@otlp.example.com:4318/base?api_key=qs-secret',
      '  headers:',
      `    authorization: Bearer ${SECRET}-file`,
      '    x-from-env: Bearer ${env:TOKEN}',
      'additional_exporters:',
      '  - name: archive',
      '    endpoint: https://archive.example.com',
      '    headers:',
      `      x-api-key: ${SECRET}-item`,
    ].join('\n');
    const loaded = await load(text, {
      TOKEN: `${SECRET}-expanded`,
      DD_API_KEY: `${SECRET}-dd`,
      LAMBDA_OTEL_EXPORTER_HEADERS: `x-env=${SECRET}-env`,
    });
    assert.deepEqual(loaded.errors, []);
    // The values are really there …
    assert.equal(loaded.config.exporter.headers['x-from-env'], `Bearer ${SECRET}-expanded`);
    assert.equal(loaded.config.datadog.api_key, `${SECRET}-dd`);
    // … and never in the log line.
    const line = describeConfig(loaded.config);
    assert.ok(!line.includes(SECRET), line);
    assert.ok(!line.includes('pa55word'), line);
    assert.ok(!line.includes('qs-secret'), line);
    // What is not secret stays useful: header names, hosts, other settings.
    const described = JSON.parse(line);
    assert.deepEqual(described.exporter.headers, {
      authorization: '<redacted>',
      'x-from-env': '<redacted>',
      'x-env': '<redacted>',
    });
    assert.equal(described.exporter.endpoint, 'https://<redacted>@otlp.example.com:4318/base?<redacted>');
    assert.deepEqual(described.additional_exporters[0].headers, { 'x-api-key': '<redacted>' });
    assert.equal(described.datadog.api_key, '<redacted>');
    assert.equal(described.datadog.site, 'datadoghq.com');
    assert.equal(described.flush.strategy, 'adaptive');
  });

  it('never appear in error messages or warnings', async () => {
    const cases: { name: string; text?: string; env: Record<string, string>; key: string }[] = [
      {
        name: 'a header value with a newline (environment, percent-encoded)',
        env: { LAMBDA_OTEL_EXPORTER_HEADERS: `authorization=Bearer%20${SECRET}%0Ainjected` },
        key: 'exporter.headers.authorization',
      },
      {
        name: 'a header value with a newline (file, escaped)',
        text: `exporter:\n  headers:\n    authorization: "Bearer ${SECRET}\\ninjected"\n`,
        env: {},
        key: 'exporter.headers.authorization',
      },
      {
        name: 'a header entry without "=" (may be a bare credential)',
        env: { LAMBDA_OTEL_EXPORTER_HEADERS: `x-ok=1,${SECRET}` },
        key: 'exporter.headers',
      },
      {
        name: 'a credential where a header name belongs',
        env: { LAMBDA_OTEL_EXPORTER_HEADERS: `x-ok=1,Bearer ${SECRET}=` },
        key: 'exporter.headers',
      },
      {
        name: 'a credential where a header name belongs, with a malformed escape',
        env: { LAMBDA_OTEL_EXPORTER_HEADERS: `Bearer ${SECRET}=%zz` },
        key: 'exporter.headers',
      },
      {
        name: 'malformed percent-encoding in a header value',
        env: { LAMBDA_OTEL_EXPORTER_HEADERS: `authorization=${SECRET}%zz` },
        key: 'exporter.headers',
      },
      {
        name: 'an API key with a space',
        env: { DD_API_KEY: `${SECRET} extra` },
        key: 'datadog.api_key',
      },
      {
        name: 'an API key of the wrong type',
        text: `datadog:\n  api_key: [${SECRET}]\n`,
        env: {},
        key: 'datadog.api_key',
      },
      {
        name: 'a malformed reference inside a secret header',
        text: `exporter:\n  headers:\n    authorization: "Bearer ${SECRET} \${env:TOKEN"\n`,
        env: {},
        key: 'exporter.headers.authorization',
      },
      {
        name: 'an item header value with a control character',
        text: `additional_exporters:\n  - name: a\n    endpoint: https://a.example.com\n    headers:\n      k: "${SECRET}\\u0007"\n`,
        env: {},
        key: 'additional_exporters[0].headers.k',
      },
    ];
    for (const { name, text, env, key } of cases) {
      const loaded = await load(text, env);
      assert.equal(loaded.errors.length, 1, `${name}: ${formatConfigErrors(loaded.errors)}`);
      assert.equal(loaded.errors[0]!.key, key, name);
      assert.ok(!everythingLogged(loaded).includes(SECRET), `${name}: ${everythingLogged(loaded)}`);
    }
  });

  it('show which header is wrong and why, without its value', async () => {
    const loaded = await load(undefined, { LAMBDA_OTEL_EXPORTER_HEADERS: `authorization=${SECRET}%0D%0Ax` });
    assert.deepEqual(
      loaded.errors.map((e) => e.message),
      [
        'exporter.headers.authorization (env LAMBDA_OTEL_EXPORTER_HEADERS): invalid header value: contains a control character (value not shown: secret)',
      ],
    );
  });
});
