// The checks that guard the executables shipped in the layer: ELF identity and the library versions
// they need against Amazon Linux 2023. Runs on the Node running the tests (no download); the compiled
// executables themselves are checked in test/e2e/layer-launcher.test.ts.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  AL2023_SYMBOL_VERSIONS,
  checkElfIdentity,
  compareVersions,
  EM_AARCH64,
  EM_X86_64,
  type ElfVersionNeed,
  elfVersionNeeds,
  highestSymbolVersions,
  readElfHeader,
  symbolVersionsBeyond,
} from '../../layer/executable-checks.mjs';

const hostArch = process.arch === 'arm64' ? 'arm64' : 'x86_64';
const host = readFileSync(process.execPath);

/** A minimal ELF identification + e_type/e_machine, as the first 64 bytes of a file. */
function elfHeader(bits: 1 | 2, data: 1 | 2, machine: number): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = bits;
  b[5] = data;
  b[6] = 1;
  if (data === 1) {
    b.writeUInt16LE(2, 16);
    b.writeUInt16LE(machine, 18);
  } else {
    b.writeUInt16BE(2, 16);
    b.writeUInt16BE(machine, 18);
  }
  return b;
}

test('reads the ELF class, byte order and machine', () => {
  assert.deepEqual(readElfHeader(elfHeader(2, 1, EM_AARCH64)), {
    bits: 64,
    endianness: 'little',
    type: 2,
    machine: 183,
  });
  assert.deepEqual(readElfHeader(elfHeader(1, 2, 8)), { bits: 32, endianness: 'big', type: 2, machine: 8 });
  const self = readElfHeader(host);
  assert.equal(self.bits, 64);
  assert.equal(self.machine, hostArch === 'arm64' ? EM_AARCH64 : EM_X86_64);
  assert.throws(() => readElfHeader(Buffer.from('#!/bin/sh\n'.padEnd(64))), /not an ELF file/);
  assert.throws(() => readElfHeader(elfHeader(2, 1, 62).fill(7, 4, 5)), /invalid class/);
});

test('an executable for the wrong machine or of the wrong class is refused', () => {
  const other = hostArch === 'arm64' ? 'x86_64' : 'arm64';
  assert.throws(
    () => checkElfIdentity(other, host),
    new RegExp(`${other} executable is ELF 64-bit little-endian`),
  );
  assert.throws(() => checkElfIdentity('arm64', elfHeader(1, 1, EM_AARCH64)), /32-bit/);
  assert.throws(() => checkElfIdentity('arm64', elfHeader(2, 2, EM_AARCH64)), /big-endian/);
});

test("the symbol versions read from the running Node match readelf's", (t) => {
  const needs = elfVersionNeeds(host);
  const libc = needs.find((n) => n.file === 'libc.so.6');
  assert.ok(libc, 'node needs libc.so.6');
  assert.ok(libc.versions.some((v) => v.startsWith('GLIBC_2.')));
  const readelf = spawnSync('readelf', ['-V', '-W', process.execPath], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  if (readelf.error) return t.skip('readelf not installed');
  assert.equal(readelf.status, 0, readelf.stderr);
  // The "Version needs" part: `File: libc.so.6  Cnt: 16` lines, then `Name: GLIBC_2.28 …` lines.
  const part = readelf.stdout.slice(readelf.stdout.indexOf('.gnu.version_r'));
  const expected: ElfVersionNeed[] = [];
  for (const line of part.split('\n')) {
    const file = /File: (\S+)/.exec(line);
    const name = /Name: (\S+)/.exec(line);
    if (file?.[1]) expected.push({ file: file[1], versions: [] });
    else if (name?.[1]) expected.at(-1)?.versions.push(name[1]);
  }
  assert.deepEqual(needs, expected);
});

test('symbol versions beyond Amazon Linux 2023 are named', () => {
  const needs = [
    { file: 'libc.so.6', versions: ['GLIBC_2.2.5', 'GLIBC_2.28', 'GLIBC_PRIVATE'] },
    { file: 'libstdc++.so.6', versions: ['GLIBCXX_3.4.21', 'CXXABI_1.3.11'] },
  ];
  assert.deepEqual(highestSymbolVersions(needs), { GLIBC: '2.28', GLIBCXX: '3.4.21', CXXABI: '1.3.11' });
  assert.deepEqual(symbolVersionsBeyond(needs, AL2023_SYMBOL_VERSIONS), []);
  const newer = [
    { file: 'libc.so.6', versions: ['GLIBC_2.34', 'GLIBC_2.35'] },
    { file: 'libstdc++.so.6', versions: ['GLIBCXX_3.4.30'] },
  ];
  assert.deepEqual(symbolVersionsBeyond(newer, AL2023_SYMBOL_VERSIONS), ['GLIBC_2.35', 'GLIBCXX_3.4.30']);
  assert.equal(compareVersions('2.10', '2.9'), 1);
  assert.equal(compareVersions('3.4', '3.4.0'), 0);
  assert.equal(compareVersions('1.3.9', '1.3.11'), -1);
});
