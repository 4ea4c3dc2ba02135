// What a configuration file may cost: bounded reads, a nesting limit found without recursion, and an
// alias expansion budget. (test/e2e/config-files.test.ts runs the same attacks through the built layer.)

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parseConfigText, readConfigFile } from '../../src/config/config-file.js';
import { CONFIG_LIMITS, findExcessNesting } from '../../src/config/config-limits.js';
import { parseWithYamlLibrary } from '../../src/config/yaml-document.js';

const dir = mkdtempSync(join(tmpdir(), 'config-limits-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('reading a file', () => {
  test('a file at the limit is read; one byte more is refused without reading it all', async () => {
    const path = join(dir, 'big.yaml');
    writeFileSync(path, `log_level: info\n${'#'.repeat(CONFIG_LIMITS.maxBytes - 16)}`);
    assert.equal((await readConfigFile(path)).status, 'read');
    writeFileSync(path, 'x'.repeat(CONFIG_LIMITS.maxBytes + 1));
    assert.deepEqual(await readConfigFile(path), {
      status: 'unreadable',
      reason: 'it is larger than 256 KiB, the limit for a configuration file',
    });
  });

  test('/dev/zero and a FIFO without a writer are refused at once', async () => {
    assert.deepEqual(await readConfigFile('/dev/zero'), {
      status: 'unreadable',
      reason: 'it is not a regular file (a character device)',
    });
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    assert.deepEqual(await readConfigFile(fifo), {
      status: 'unreadable',
      reason: 'it is not a regular file (a FIFO)',
    });
  });

  test('absent and directory keep their meaning', async () => {
    assert.deepEqual(await readConfigFile(join(dir, 'nope.yaml')), { status: 'absent' });
    assert.deepEqual(await readConfigFile(dir), { status: 'unreadable', reason: 'it is a directory' });
  });
});

describe('nesting', () => {
  const nested = (depth: number) =>
    Array.from({ length: depth }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n') + ' 1\n';

  test('the limit itself passes, one level more is refused at its line, in block, flow and JSON', async () => {
    assert.equal(findExcessNesting(nested(CONFIG_LIMITS.maxDepth)), undefined);
    assert.deepEqual(findExcessNesting(nested(CONFIG_LIMITS.maxDepth + 1)), {
      line: CONFIG_LIMITS.maxDepth + 1,
      column: CONFIG_LIMITS.maxDepth + 1,
    });
    const flow = (d: number) => `a: ${'['.repeat(d - 1)}${']'.repeat(d - 1)}\n`;
    assert.equal(findExcessNesting(flow(CONFIG_LIMITS.maxDepth)), undefined);
    assert.ok(findExcessNesting(flow(CONFIG_LIMITS.maxDepth + 1)));
    const json = `{"a": ${'['.repeat(5000)}${']'.repeat(5000)}}`;
    const parsed = await parseConfigText(json, '/x.json');
    assert.deepEqual(parsed.errors, [
      { line: 1, column: 69, message: 'nested deeper than 64 levels', kind: 'limit' },
    ]);
    const compact = `a:\n${'- '.repeat(100)}x\n`;
    assert.ok(findExcessNesting(compact));
  });

  test('brackets and dashes inside scalars, quotes, comments and block scalars do not count', () => {
    const many = '['.repeat(200);
    const text = [
      `a: x${many}`,
      `b: '${many}'`,
      `c: "${many} \\" ${many}"`,
      `d: 1 # ${many}`,
      'e: |',
      `  ${many}`,
      ...Array.from({ length: 100 }, (_, i) => `${' '.repeat(i + 2)}- - -`),
      'f: - - - - - x',
      `g: "multi`,
      `  line ${many}"`,
      '',
    ].join('\n');
    assert.equal(findExcessNesting(text), undefined);
  });

  test('the layer template and deep-but-legal files pass', () => {
    const template = readFileSync(join(import.meta.dirname, '../../layer/config.yaml'), 'utf8');
    assert.equal(findExcessNesting(template), undefined);
  });

  test('5,000 levels cost neither reader its stack', async () => {
    const text = Array.from({ length: 5000 }, (_, i) => `${' '.repeat(i)}k:`).join('\n');
    const parsed = await parseConfigText(text, '/deep.yaml');
    assert.equal(parsed.errors[0]?.message, 'nested deeper than 64 levels');
    // The library path's own guard, should a file reach it directly.
    const direct = await parseWithYamlLibrary(`a: ${'{a: '.repeat(300)}1${'}'.repeat(300)}\n`, CONFIG_LIMITS);
    assert.equal(direct.errors[0]?.message, 'nested deeper than 64 levels');
  });
});

describe('aliases', () => {
  const bomb = (levels: number) =>
    [
      'a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]',
      ...Array.from(
        { length: levels - 1 },
        (_, i) => `a${i + 1}: &a${i + 1} [${Array(10).fill(`*a${i}`).join(', ')}]`,
      ),
      '',
    ].join('\n');

  test('nine levels of ten aliases stop at the budget, quickly, naming the alias', async () => {
    const started = process.cpuUsage();
    const parsed = await parseConfigText(bomb(9), '/bomb.yaml');
    const cpuMs = (process.cpuUsage(started).user + process.cpuUsage(started).system) / 1000;
    assert.equal(parsed.root, undefined);
    assert.deepEqual(
      parsed.errors.map((e) => [e.kind, e.message]),
      [['limit', 'aliases expand to more than 10000 values']],
    );
    assert.ok(cpuMs < 3000, `${cpuMs} ms of CPU`);
  });

  test('ordinary aliases still resolve, and a self-reference is refused rather than followed', async () => {
    const parsed = await parseConfigText('metrics: {enabled: &on true}\nlogs: {enabled: *on}\n', '/a.yaml');
    assert.deepEqual(parsed.errors, []);
    assert.deepEqual(parsed.root?.t === 'map' && parsed.root.entries[1]?.value, {
      t: 'map',
      entries: [{ key: 'enabled', line: 2, value: { t: 'scalar', value: true, line: 1 } }],
      line: 2,
    });
    const loop = await parseConfigText('a: &x [1, *x]\n', '/loop.yaml');
    assert.equal(loop.errors[0]?.kind, 'limit');
  });
});
