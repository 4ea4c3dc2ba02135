import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CONFIG_SCHEMA } from '../../src/config/extension-config.js';
import { loadConfig } from '../../src/config/index.js';
import { CONFIG_LEAVES } from '../../src/config/load.js';
import { renderLayerConfig, renderReference } from '../../src/config/reference.js';
import { sectionDefaults } from '../../src/config/schema.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const REGENERATE =
  'node --import tsx src/config/reference.ts --write docs/configuration.md --write layer/config.yaml';

const scratch = mkdtempSync(join(tmpdir(), 'config-reference-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('generated configuration documents', () => {
  it('docs/configuration.md matches the schema', () => {
    const actual = readFileSync(join(repo, 'docs', 'configuration.md'), 'utf8');
    assert.ok(actual === renderReference(), `docs/configuration.md is out of date; run: ${REGENERATE}`);
  });

  it('the reference has a row for every setting, with its variables', () => {
    const reference = renderReference();
    for (const { path, env, standardEnv } of CONFIG_LEAVES) {
      const row = reference.split('\n').find((line) => line.startsWith(`| \`${path}\` |`));
      assert.ok(row, `no row for ${path}`);
      for (const name of [...env, ...standardEnv]) assert.ok(row.includes(`\`${name}\``), `${path}: ${name}`);
    }
    for (const key of Object.keys(CONFIG_SCHEMA.fields.additional_exporters.item!.fields)) {
      assert.ok(reference.includes(`| \`additional_exporters[].${key}\` |`), key);
    }
  });

  it('layer/config.yaml matches the schema', () => {
    const actual = readFileSync(join(repo, 'layer', 'config.yaml'), 'utf8');
    assert.ok(actual === renderLayerConfig(), `layer/config.yaml is out of date; run: ${REGENERATE}`);
  });

  it('layer/config.yaml as shipped changes nothing', async () => {
    const loaded = await loadConfig({
      env: {},
      layerDir: join(repo, 'layer'),
      taskRoot: join(scratch, 'none'),
    });
    assert.deepEqual(loaded.errors, []);
    assert.deepEqual(loaded.warnings, []);
    assert.deepEqual(loaded.config, sectionDefaults(CONFIG_SCHEMA));
    assert.ok(Object.values(loaded.sources).every((source) => source === 'default'));
  });

  it('layer/config.yaml, uncommented, sets every key to its default', async () => {
    const text = readFileSync(join(repo, 'layer', 'config.yaml'), 'utf8');
    const uncommented = text
      .split('\n')
      .map((line) => (line.startsWith('# ') ? line.slice(2) : line))
      .join('\n');
    const layerDir = mkdtempSync(join(scratch, 'layer-'));
    writeFileSync(join(layerDir, 'config.yaml'), uncommented);
    const loaded = await loadConfig({ env: {}, layerDir, taskRoot: join(scratch, 'none') });
    assert.deepEqual(loaded.errors, []);
    assert.deepEqual(loaded.warnings, []);
    assert.deepEqual(loaded.config, sectionDefaults(CONFIG_SCHEMA));
    for (const { path } of CONFIG_LEAVES) {
      assert.equal(
        loaded.sources[path as keyof typeof loaded.sources],
        'layer',
        `${path} is missing from the template`,
      );
    }
  });
});
