// The platform span sampler's settings: OpenTelemetry's sampler words under our own names (env and
// file), never the function's OTEL_TRACES_SAMPLER.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.js';

const root = mkdtempSync(join(tmpdir(), 'config-sampler-'));
after(() => rmSync(root, { recursive: true, force: true }));
const noLayer = join(root, 'no-layer');

function load(env: Record<string, string>, file?: string) {
  const taskRoot = join(root, String(Math.random()).slice(2));
  mkdirSync(taskRoot);
  if (file !== undefined) writeFileSync(join(taskRoot, 'otel-lambda-extension.yaml'), file);
  return loadConfig({ env, layerDir: noLayer, taskRoot });
}

describe('traces.sampler', () => {
  it('defaults to always_on with ratio 1, and ignores the function SDK variables', async () => {
    const loaded = await load({ OTEL_TRACES_SAMPLER: 'always_off', OTEL_TRACES_SAMPLER_ARG: '0.1' });
    assert.deepEqual(loaded.errors, []);
    assert.equal(loaded.config.traces.sampler, 'always_on');
    assert.equal(loaded.config.traces.sampler_arg, 1);
  });

  it('reads LAMBDA_OTEL_TRACES_SAMPLER and LAMBDA_OTEL_TRACES_SAMPLER_ARG', async () => {
    const loaded = await load({
      LAMBDA_OTEL_TRACES_SAMPLER: 'ParentBased_TraceIdRatio',
      LAMBDA_OTEL_TRACES_SAMPLER_ARG: '0.25',
    });
    assert.deepEqual(loaded.errors, []);
    assert.equal(loaded.config.traces.sampler, 'parentbased_traceidratio');
    assert.equal(loaded.config.traces.sampler_arg, 0.25);
  });

  it('reads the config file, a number or a string', async () => {
    const loaded = await load({}, 'traces:\n  sampler: traceidratio\n  sampler_arg: 0.5\n');
    assert.deepEqual(loaded.errors, []);
    assert.equal(loaded.config.traces.sampler, 'traceidratio');
    assert.equal(loaded.config.traces.sampler_arg, 0.5);
  });

  it('refuses unknown sampler names and ratios outside [0, 1] with a clear message', async () => {
    const loaded = await load({ LAMBDA_OTEL_TRACES_SAMPLER: 'xray', LAMBDA_OTEL_TRACES_SAMPLER_ARG: '1.5' });
    const messages = loaded.errors.map((e) => e.message);
    assert.equal(messages.length, 2, messages.join('\n'));
    assert.match(
      messages[0] ?? '',
      /traces\.sampler \(env LAMBDA_OTEL_TRACES_SAMPLER\): expected one of always_on/,
    );
    assert.match(messages[1] ?? '', /traces\.sampler_arg .*expected a number between 0 and 1, got "1\.5"/);
  });
});
