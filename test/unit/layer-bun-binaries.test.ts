// The pinned Bun executables the extension is compiled with: one per Lambda architecture, each with
// its npm package, hashes and compile target; paths in the cache; architecture names refused clearly.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  BUN_BINARIES,
  BUN_VERSION,
  bunBinaryPath,
  fetchBunBinary,
  hostArchitecture,
} from '../../layer/bun-binaries.mjs';
import { EM_AARCH64, EM_X86_64 } from '../../layer/executable-checks.mjs';

test('one pinned package per Lambda architecture, with its compile target and ELF machine', () => {
  assert.match(BUN_VERSION, /^\d+\.\d+\.\d+$/);
  assert.deepEqual(Object.keys(BUN_BINARIES).sort(), ['arm64', 'x86_64']);
  assert.deepEqual(
    [BUN_BINARIES.x86_64.npmPackage, BUN_BINARIES.x86_64.compileTarget, BUN_BINARIES.x86_64.elfMachine],
    ['@oven/bun-linux-x64', 'bun-linux-x64', EM_X86_64],
  );
  assert.deepEqual(
    [BUN_BINARIES.arm64.npmPackage, BUN_BINARIES.arm64.compileTarget, BUN_BINARIES.arm64.elfMachine],
    ['@oven/bun-linux-aarch64', 'bun-linux-arm64', EM_AARCH64],
  );
  for (const spec of Object.values(BUN_BINARIES)) {
    assert.match(spec.integrity, /^sha512-[A-Za-z0-9+/]{86}==$/);
    assert.match(spec.sha256, /^[0-9a-f]{64}$/);
  }
});

test('cache paths are keyed by version and architecture; unknown architectures are refused', async () => {
  assert.equal(bunBinaryPath('arm64', '/c'), join('/c', BUN_VERSION, 'arm64', 'bun'));
  assert.throws(() => bunBinaryPath('aarch64' as 'arm64', '/c'), /unknown Lambda architecture "aarch64"/);
  await assert.rejects(fetchBunBinary('ppc64' as 'arm64', { cacheRoot: '/nonexistent' }), /unknown Lambda/);
});

test("the host's architecture in Lambda's words", () => {
  assert.equal(hostArchitecture('x64'), 'x86_64');
  assert.equal(hostArchitecture('arm64'), 'arm64');
  assert.equal(hostArchitecture('ppc64'), undefined);
});
