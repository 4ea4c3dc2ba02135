// biome-ignore-all lint/suspicious/noTemplateCurlyInString: configuration text with literal ${env:NAME} references
// Configuration files through the shipped artifact: the built layer in the simulator, with a
// config.yaml of its own (a copy of build/layer) and a function file named by LAMBDA_OTEL_CONFIG_FILE.
// - YAML only the full reader takes (flow mappings, anchors and aliases, tags, `---`) and a JSON file
//   are applied in precedence order (layer < function file < environment, ${env:…} expanded): the
//   headers they set reach the backend;
// - malformed YAML (a duplicate key, an unclosed flow sequence): one error line naming each file and
//   line, then pass-through; the function never fails;
// - files past a limit (an alias bomb, 5,000 levels of nesting, /dev/zero, a FIFO): refused promptly
//   with the file named; strict_config turns that into init/error Extension.ConfigInvalid.
// Each start carries two files (the layer's and the function's) to keep extension starts few.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type OtlpSink, startOtlpSink } from '../../tools/otlp/sink.js';
import { allSpans, type TracesRequest } from '../../tools/otlp/decode.js';
import { ensureLayer, extensionEnvironment } from '../support/e2e-harness.js';

let sink: OtlpSink;
let scratch: string;

before(async () => {
  ensureLayer();
  sink = await startOtlpSink();
  scratch = mkdtempSync(join(tmpdir(), 'otel-config-files-'));
});

after(async () => {
  await sink?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** A copy of the built layer whose config.yaml holds `layerConfig`. */
function layerWithConfig(name: string, layerConfig: string): string {
  const dir = join(scratch, name);
  cpSync(ensureLayer(), dir, { recursive: true });
  writeFileSync(join(dir, 'otel-lambda-extension', 'config.yaml'), layerConfig);
  return dir;
}

function file(name: string, text: string): string {
  const path = join(scratch, name);
  writeFileSync(path, text);
  return path;
}

/** Nine levels of ten aliases: 10^9 values if expanded. */
const ALIAS_BOMB = [
  'a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]',
  ...Array.from({ length: 8 }, (_, i) => `a${i + 1}: &a${i + 1} [${Array(10).fill(`*a${i}`).join(', ')}]`),
  'exporter:',
  '  headers: {x-bomb: *a8}',
  '',
].join('\n');

const DEEP_FLOW = `exporter:\n  headers: ${'['.repeat(5000)}${']'.repeat(5000)}\n`;

test('layer < function file < environment through the built layer, with YAML only the full reader takes', async () => {
  const optDir = layerWithConfig(
    'full-yaml',
    [
      '%YAML 1.2',
      '---',
      'log_level: debug',
      'metrics: {enabled: &on true}',
      'logs:',
      '  enabled: *on',
      'exporter:',
      '  headers: {x-team: orders, x-tier: !!str 1, x-layer: "flow \\u0041"}',
      '...',
      '',
    ].join('\n'),
  );
  // JSON, read without the YAML library; header names merge case-insensitively, key by key.
  const functionFile = file(
    'function.json',
    '{"exporter": {"headers": {"X-Team": "payments", "x-function": "${env:FN_HEADER}"}}}\n',
  );
  const before = sink.requests.length;
  const { sim, extensionLines } = await extensionEnvironment({
    handler: 'echo.mjs',
    endpoint: sink.url,
    optDir,
    // The harness sets LAMBDA_OTEL_LOG_LEVEL=info: it wins over the layer's debug.
    env: {
      LAMBDA_OTEL_CONFIG_FILE: functionFile,
      FN_HEADER: 'from-env',
      LAMBDA_OTEL_EXPORTER_HEADERS: 'x-tier=2',
    },
  });
  try {
    const init = await sim.start();
    assert.equal(init.status, 'success', `${JSON.stringify(init)}\n${extensionLines().join('\n')}`);
    assert.equal((await sim.invoke({})).status, 'success');
    await sim.shutdown();
    const noisy = extensionLines().filter((l) => / (ERROR|WARN|DEBUG) /.test(l));
    assert.deepEqual(noisy, []);
    const traces = sink.requests.slice(before).filter((r) => r.signal === 'traces');
    assert.ok(traces.length > 0, 'nothing exported');
    assert.ok(traces.some((r) => allSpans(r.decoded as TracesRequest).length > 0));
    for (const r of traces) {
      assert.equal(r.headers['x-team'], 'payments');
      assert.equal(r.headers['x-tier'], '2');
      assert.equal(r.headers['x-layer'], 'flow A');
      assert.equal(r.headers['x-function'], 'from-env');
    }
  } finally {
    await sim.close();
  }
});

test('malformed YAML in both files: one error line naming each file and line, pass-through', async () => {
  const optDir = layerWithConfig('malformed', 'log_level: info\nlog_level: debug\n');
  const functionFile = file('unclosed.yaml', 'exporter:\n  headers: {x-team: orders\n');
  const quiet = await startOtlpSink();
  const { sim, extensionLines } = await extensionEnvironment({
    handler: 'echo.mjs',
    endpoint: quiet.url,
    optDir,
    env: { LAMBDA_OTEL_CONFIG_FILE: functionFile },
  });
  try {
    const init = await sim.start();
    assert.equal(init.status, 'success', `${JSON.stringify(init)}\n${extensionLines().join('\n')}`);
    for (let i = 0; i < 2; i++) assert.equal((await sim.invoke({ i })).status, 'success');
    const down = await sim.shutdown();
    assert.equal(down.extensions[0]?.exitCode, 0);
    assert.equal(quiet.attempts.length, 0, 'exported in pass-through mode');
    const errors = extensionLines().filter((l) => l.includes(' ERROR '));
    assert.equal(errors.length, 1, extensionLines().join('\n'));
    const line = errors[0]!;
    assert.match(line, /invalid configuration \(2 problems\)/);
    assert.match(
      line,
      /malformed\/otel-lambda-extension\/config\.yaml:2:1: malformed YAML: Map keys must be unique/,
    );
    assert.match(line, /unclosed\.yaml:\d+:\d+: malformed YAML: /);
    assert.match(line, /pass-through mode/);
    assert.doesNotMatch(line, /orders/, 'an error line quotes the file');
  } finally {
    await sim.close();
    await quiet.close();
  }
});

test('an alias bomb and a FIFO under strict_config: init/error Extension.ConfigInvalid naming both, promptly', async () => {
  const optDir = layerWithConfig('bomb', ALIAS_BOMB);
  const fifo = join(scratch, 'config.fifo');
  execFileSync('mkfifo', [fifo]);
  const { sim, extensionLines } = await extensionEnvironment({
    handler: 'echo.mjs',
    endpoint: sink.url,
    optDir,
    env: { LAMBDA_OTEL_CONFIG_FILE: fifo, LAMBDA_OTEL_STRICT_CONFIG: 'true' },
  });
  try {
    const init = await sim.start();
    assert.equal(init.status, 'error', JSON.stringify(init));
    assert.equal(init.errorType, 'Extension.ConfigInvalid', extensionLines().join('\n'));
    const report = sim.timeline.of('extension-error')[0];
    const message = String((report?.body as { errorMessage?: string } | undefined)?.errorMessage);
    assert.match(message, /^invalid configuration \(2 problems\)/);
    assert.match(
      message,
      /bomb\/otel-lambda-extension\/config\.yaml:\d+:\d+: refused: aliases expand to more than \d+ values/,
    );
    assert.match(
      message,
      /config\.fifo: the configuration file cannot be read: it is not a regular file \(a FIFO\)/,
    );
    // Generous under load; unbounded expansion ran for minutes.
    assert.ok(init.durationMs < 5000, `init took ${init.durationMs} ms`);
  } finally {
    await sim.close();
  }
});

test('5,000 levels of nesting and /dev/zero: refused with the file named, pass-through, promptly', async () => {
  const optDir = layerWithConfig('deep', DEEP_FLOW);
  const quiet = await startOtlpSink();
  const { sim, extensionLines } = await extensionEnvironment({
    handler: 'echo.mjs',
    endpoint: quiet.url,
    optDir,
    env: { LAMBDA_OTEL_CONFIG_FILE: '/dev/zero' },
  });
  try {
    const init = await sim.start();
    assert.equal(init.status, 'success', `${JSON.stringify(init)}\n${extensionLines().join('\n')}`);
    assert.ok(init.durationMs < 5000, `init took ${init.durationMs} ms`);
    assert.equal((await sim.invoke({})).status, 'success');
    await sim.shutdown();
    assert.equal(quiet.attempts.length, 0, 'exported in pass-through mode');
    const errors = extensionLines().filter((l) => l.includes(' ERROR '));
    assert.equal(errors.length, 1, extensionLines().join('\n'));
    assert.match(
      errors[0]!,
      /deep\/otel-lambda-extension\/config\.yaml:2:\d+: refused: nested deeper than 64 levels/,
    );
    assert.match(
      errors[0]!,
      /\/dev\/zero: the configuration file cannot be read: it is not a regular file \(a character device\)/,
    );
  } finally {
    await sim.close();
    await quiet.close();
  }
});
