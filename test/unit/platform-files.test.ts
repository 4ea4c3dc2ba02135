// The runtime port's file access on Bun (Bun.file) gives the same answers as on Node (non-blocking
// open + fstat): the configuration loader's messages for every kind of file, and existence checks
// that count directories and devices like existsSync does.

import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { bunBinaryPath, hostArchitecture } from '../../layer/bun-binaries.mjs';
import { CONFIG_LIMITS } from '../../src/config/config-limits.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const BUN = process.env['BUN_BINARY'] ?? bunBinaryPath(hostArchitecture() ?? 'x86_64');
const run = promisify(execFile);

const dir = mkdtempSync(join(tmpdir(), 'platform-files-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('file access', () => {
  test('Bun reads, refuses and finds files as Node does', {
    skip: existsSync(BUN)
      ? false
      : `no Bun binary at ${BUN}: run \`make bun-binaries\` (npm @oven/bun-linux-*)`,
  }, async () => {
    writeFileSync(join(dir, 'small.yaml'), 'log_level: info\n');
    // A byte order mark is kept and an invalid sequence replaced, as Buffer#toString did.
    writeFileSync(join(dir, 'bom.yaml'), Buffer.from([0xef, 0xbb, 0xbf, 0x61, 0x3a, 0x20, 0xc3, 0x0a]));
    writeFileSync(join(dir, 'at-limit.yaml'), 'x'.repeat(CONFIG_LIMITS.maxBytes));
    writeFileSync(join(dir, 'over-limit.yaml'), 'x'.repeat(CONFIG_LIMITS.maxBytes + 1));
    mkdirSync(join(dir, 'sub'));
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    symlinkSync(join(dir, 'small.yaml'), join(dir, 'link.yaml'));
    symlinkSync(join(dir, 'nowhere'), join(dir, 'dangling'));

    const script = join(ROOT, 'test/support/platform-files-check.ts');
    const onBun = JSON.parse((await run(BUN, [script, dir], { cwd: ROOT, timeout: 60_000 })).stdout.trim());
    const onNode = JSON.parse(
      (
        await run(process.execPath, ['--import', 'tsx', script, dir], { cwd: ROOT, timeout: 60_000 })
      ).stdout.trim(),
    );
    assert.equal(onBun.platform, 'bun');
    assert.equal(onNode.platform, 'node');
    assert.deepEqual(onBun, { ...onNode, platform: 'bun' });

    const tooLarge = `it is larger than ${CONFIG_LIMITS.maxBytes / 1024} KiB, the limit for a configuration file`;
    assert.deepEqual(onBun.reads, {
      'small.yaml': { status: 'read', text: 'log_level: info\n' },
      'bom.yaml': { status: 'read', text: '\ufeffa: \ufffd\n' },
      'at-limit.yaml': { status: 'read', text: 'x'.repeat(CONFIG_LIMITS.maxBytes) },
      'over-limit.yaml': { status: 'unreadable', reason: tooLarge },
      sub: { status: 'unreadable', reason: 'it is a directory' },
      fifo: { status: 'unreadable', reason: 'it is not a regular file (a FIFO)' },
      'link.yaml': { status: 'read', text: 'log_level: info\n' },
      dangling: { status: 'absent' },
      absent: { status: 'absent' },
      'small.yaml/x': { status: 'absent' },
      '/dev/zero': { status: 'unreadable', reason: 'it is not a regular file (a character device)' },
    });
    assert.deepEqual(onBun.sizes, { atLimit: CONFIG_LIMITS.maxBytes });
    assert.deepEqual(onBun.exists, {
      'small.yaml': true,
      sub: true,
      fifo: true,
      'link.yaml': true,
      dangling: false,
      absent: false,
      'small.yaml/x': false,
      '/dev/zero': true,
    });
  });
});
