// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these tests are about literal ${env:NAME} references
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { expandEnvReferences } from '../../src/config/substitute.js';

function expand(text: string, env: Record<string, string | undefined>) {
  const missing: string[] = [];
  const malformed: string[] = [];
  const value = expandEnvReferences(text, env, {
    missing: (name) => missing.push(name),
    malformed: (problem) => malformed.push(problem),
  });
  return { value, missing, malformed };
}

describe('${env:...} expansion', () => {
  const env = { HOST: 'collector', PORT: '4318', EMPTY: '', NESTED: '${env:HOST}' };

  it('expands the Collector forms', () => {
    assert.equal(expand('http://${env:HOST}:${env:PORT}', env).value, 'http://collector:4318');
    assert.equal(expand('${HOST}', env).value, 'collector');
    assert.equal(expand('a${env:HOST}b${PORT}c', env).value, 'acollectorb4318c');
  });

  it('uses the default when the variable is unset or empty', () => {
    assert.equal(expand('${env:NOPE:-fallback}', env).value, 'fallback');
    assert.equal(expand('${env:EMPTY:-fallback}', env).value, 'fallback');
    assert.equal(expand('${env:HOST:-fallback}', env).value, 'collector');
    assert.equal(expand('${NOPE:-a:b}', env).value, 'a:b');
    assert.equal(expand('${env:NOPE:-}', env).value, '');
  });

  it('treats $$ as a literal $ and keeps a lone $', () => {
    assert.equal(expand('$${env:HOST}', env).value, '${env:HOST}');
    assert.equal(expand('$$$${env:HOST}', env).value, '$${env:HOST}');
    assert.equal(expand('$$${env:HOST}', env).value, '$collector');
    assert.equal(expand('price: 5$ or $HOST', env).value, 'price: 5$ or $HOST');
    assert.equal(expand('trailing $', env).value, 'trailing $');
  });

  it('never expands expanded text again', () => {
    assert.equal(expand('${env:NESTED}', env).value, '${env:HOST}');
  });

  it('expands an unset variable to an empty string and reports it', () => {
    const result = expand('Bearer ${env:TOKEN}', env);
    assert.equal(result.value, 'Bearer ');
    assert.deepEqual(result.missing, ['TOKEN']);
    assert.equal(expand('${EMPTY}', env).missing.length, 0);
  });

  it('keeps ${secretsmanager:…} and ${ssm:…} as written: they are resolved at start-up', () => {
    const text =
      'Bearer ${secretsmanager:arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf#token} ${ssm:/a/b} ${env:HOST}';
    const result = expand(text, env);
    assert.deepEqual(result.malformed, []);
    assert.equal(
      result.value,
      `Bearer \${secretsmanager:arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf#token} \${ssm:/a/b} ${env['HOST']}`,
    );
  });

  it('rejects malformed references', () => {
    for (const [text, pattern] of [
      ['${env:HOST', /unterminated reference/],
      ['${file:/etc/passwd}', /expected \$\{env:NAME\}, \$\{secretsmanager:ARN\} or \$\{ssm:\/name\}/],
      ['${env:1ABC}', /invalid variable name/],
      ['${env:A-B}', /invalid variable name/],
      ['${}', /invalid variable name/],
    ] as const) {
      const result = expand(text, env);
      assert.equal(result.value, undefined, text);
      assert.equal(result.malformed.length, 1, text);
      assert.match(result.malformed[0]!, pattern, text);
    }
  });
});

describe('${env:...} in configuration files', () => {
  const root = mkdtempSync(join(tmpdir(), 'config-substitution-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  let counter = 0;
  function taskRoot(text: string, name = 'otel-lambda-extension.yaml'): string {
    const path = join(root, String(counter++));
    mkdirSync(path);
    writeFileSync(join(path, name), text);
    return path;
  }
  const layerDir = join(root, 'no-layer');

  it('types expanded values by the schema: integers, booleans, lists, headers, URLs', async () => {
    const text = [
      'receiver:',
      '  port: ${env:RECEIVER_PORT}',
      '  enabled: ${env:RECEIVER_ON}',
      'exporter:',
      '  endpoint: https://${env:OTLP_HOST}:4318',
      '  headers:',
      '    authorization: Bearer ${env:OTLP_TOKEN}',
      'additional_exporters:',
      '  - name: second',
      '    endpoint: ${env:SECOND_URL:-https://second.example.com}',
      '    signals: ${env:SECOND_SIGNALS}',
      '    protocol: ${env:SECOND_PROTOCOL:-http/json}',
    ].join('\n');
    const loaded = await loadConfig({
      env: {
        RECEIVER_PORT: '4400',
        RECEIVER_ON: 'false',
        OTLP_HOST: 'otlp.example.com',
        OTLP_TOKEN: 'tok',
        SECOND_SIGNALS: 'traces, logs',
      },
      layerDir,
      taskRoot: taskRoot(text),
    });
    assert.deepEqual(loaded.errors, []);
    assert.deepEqual(loaded.warnings, []);
    assert.equal(loaded.config.receiver.port, 4400);
    assert.equal(loaded.config.receiver.enabled, false);
    assert.equal(loaded.config.exporter.endpoint, 'https://otlp.example.com:4318');
    assert.deepEqual(loaded.config.exporter.headers, { authorization: 'Bearer tok' });
    const second = loaded.config.additional_exporters[0]!;
    assert.equal(second.endpoint, 'https://second.example.com');
    assert.deepEqual(second.signals, ['traces', 'logs']);
    assert.equal(second.protocol, 'http/json');
  });

  it('warns with key and line about unset variables; an unset optional value stays unset', async () => {
    const loaded = await loadConfig({
      env: {},
      layerDir,
      taskRoot: taskRoot('log_level: info\nexporter:\n  endpoint: ${env:OTLP_ENDPOINT}\n'),
    });
    assert.deepEqual(loaded.errors, []);
    assert.equal(loaded.config.exporter.endpoint, undefined);
    const file = join(root, String(counter - 1), 'otel-lambda-extension.yaml');
    assert.deepEqual(loaded.warnings, [
      `exporter.endpoint (${file}:3): \${env:OTLP_ENDPOINT} is not set; it expands to an empty string`,
    ]);
  });

  it('reports an expanded value that is invalid against the schema, with its key and line', async () => {
    const loaded = await loadConfig({
      env: { GRACE: 'soon' },
      layerDir,
      taskRoot: taskRoot('flush:\n  grace_ms: ${env:GRACE}\n'),
    });
    assert.equal(loaded.errors.length, 1);
    assert.equal(loaded.errors[0]!.key, 'flush.grace_ms');
    assert.match(loaded.errors[0]!.message, /:2\): expected an integer between 0 and 2000, got "soon"$/);
  });

  it('keeps $$ escapes in file values', async () => {
    const loaded = await loadConfig({
      env: {},
      layerDir,
      taskRoot: taskRoot('exporter:\n  headers:\n    x-literal: "cost $$5 ${env:NOPE:-none}"\n'),
    });
    assert.deepEqual(loaded.errors, []);
    assert.deepEqual(loaded.config.exporter.headers, { 'x-literal': 'cost $5 none' });
  });

  it('reports a malformed reference as an error naming the key', async () => {
    const loaded = await loadConfig({
      env: {},
      layerDir,
      taskRoot: taskRoot('exporter:\n  endpoint: "${file:/etc/endpoint}"\n'),
    });
    assert.equal(loaded.errors.length, 1);
    assert.match(loaded.errors[0]!.message, /^exporter\.endpoint \(.*:2\): unsupported reference/);
  });

  it('does not expand references in environment variables', async () => {
    const loaded = await loadConfig({
      env: { LAMBDA_OTEL_EXPORTER_HEADERS: 'x-a=${env:SECRET}', SECRET: 'nope' },
      layerDir,
      taskRoot: join(root, 'none'),
    });
    assert.deepEqual(loaded.config.exporter.headers, { 'x-a': '${env:SECRET}' });
  });
});
