// Deterministic layer zips: same input → same bytes (whatever the entry order or time zone), modes
// and the fixed timestamp in every entry, the content back intact, bad input refused. A second
// reader (Python's zipfile) confirms what our own reader sees.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { layerEntries } from '../../layer/layer-files.mjs';
import {
  hasFixedTimestamp,
  readZip,
  readZipEntry,
  unpackZip,
  writeZip,
  type ZipInput,
} from '../../layer/layer-zip.mjs';

const work = mkdtempSync(join(tmpdir(), 'layer-zip-'));
after(() => rmSync(work, { recursive: true, force: true }));

const launcher = Buffer.from('#!/bin/sh\nexec node "$0.mjs"\n');
const bundle = Buffer.from(`export const x = ${JSON.stringify('y'.repeat(5000))};\n`);
const config = Buffer.from('# log_level: warn\n');
// Incompressible bytes, large enough to take the fast compression path for big entries (> 8 MiB).
const big = Buffer.alloc(9 * 1024 * 1024, 0);
for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);

const entries: ZipInput[] = layerEntries({ launcher, bundle, config, executable: big });

test('the same files give the same bytes, whatever their order', async () => {
  const a = join(work, 'a.zip');
  const b = join(work, 'b.zip');
  const first = await writeZip(a, entries);
  const second = await writeZip(b, [...entries].reverse());
  assert.equal(first.sha256, second.sha256);
  assert.ok(readFileSync(a).equals(readFileSync(b)));
  assert.equal(first.bytes, statSync(a).size);
});

test('the bytes do not depend on the time zone of the build', async () => {
  const small = layerEntries({ launcher, bundle, config });
  const here = await writeZip(join(work, 'here.zip'), small);
  const module = pathToFileURL(join(import.meta.dirname, '../../layer/layer-zip.mjs')).href;
  const script = `
    import { writeZip } from ${JSON.stringify(module)};
    const entries = JSON.parse(process.argv[1]).map((e) => ({ ...e, data: Buffer.from(e.data, 'base64') }));
    const { sha256 } = await writeZip(process.argv[2], entries);
    console.log(sha256);`;
  const serialized = JSON.stringify(small.map((e) => ({ ...e, data: e.data.toString('base64') })));
  for (const tz of ['Pacific/Kiritimati', 'America/Los_Angeles']) {
    const out = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', script, serialized, join(work, `${tz.replace('/', '-')}.zip`)],
      { env: { ...process.env, TZ: tz }, encoding: 'utf8' },
    );
    assert.equal(out.trim(), here.sha256, `TZ=${tz}`);
  }
});

test('entries are sorted, carry Unix modes and the fixed timestamp, and read back intact', async () => {
  const file = join(work, 'layer.zip');
  await writeZip(file, entries);
  const bytes = readFileSync(file);
  const stored = readZip(bytes);
  assert.deepEqual(
    stored.map((e) => [e.name, (e.mode & 0o777).toString(8), e.mode & 0o170000]),
    [
      ['extensions/otel-lambda-extension', '755', 0o100000],
      ['otel-lambda-extension/bin/otel-lambda-extension', '755', 0o100000],
      ['otel-lambda-extension/config.yaml', '644', 0o100000],
      ['otel-lambda-extension/index.mjs', '644', 0o100000],
    ],
  );
  for (const entry of stored) {
    assert.equal(entry.madeBy, 3, `${entry.name} made by Unix (else unzip tools ignore the mode)`);
    assert.ok(hasFixedTimestamp(entry), `${entry.name} has the fixed timestamp`);
    assert.equal(entry.extraLength, 0, `${entry.name} has no extra fields (no zone-dependent time)`);
    assert.equal(entry.method, 8, `${entry.name} is deflated`);
    const source = entries.find((e) => e.name === entry.name);
    assert.ok(source && readZipEntry(bytes, entry).equals(source.data), `${entry.name} content`);
  }
  const bundleEntry = stored.find((e) => e.name.endsWith('index.mjs'));
  assert.ok(
    bundleEntry && bundleEntry.compressedSize < bundle.length / 10,
    'compressible content is compressed',
  );
});

test('another zip reader sees the same names, modes and timestamp', async (t) => {
  const python = spawnSync('python3', ['--version']);
  if (python.status !== 0) return t.skip('python3 not installed');
  const file = join(work, 'small.zip');
  await writeZip(file, layerEntries({ launcher, bundle, config }));
  const listing = execFileSync(
    'python3',
    [
      '-c',
      `import json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
print(json.dumps([[i.filename, i.external_attr >> 16, list(i.date_time), i.create_system] for i in z.infolist()]))`,
      file,
    ],
    { encoding: 'utf8' },
  );
  assert.deepEqual(JSON.parse(listing), [
    ['extensions/otel-lambda-extension', 0o100755, [1980, 1, 1, 0, 0, 0], 3],
    ['otel-lambda-extension/config.yaml', 0o100644, [1980, 1, 1, 0, 0, 0], 3],
    ['otel-lambda-extension/index.mjs', 0o100644, [1980, 1, 1, 0, 0, 0], 3],
  ]);
});

test('unpacking applies the permission bits, so the launcher stays executable', async () => {
  const file = join(work, 'unpack.zip');
  await writeZip(file, layerEntries({ launcher, bundle, config }));
  const dir = join(work, 'opt');
  await unpackZip(readFileSync(file), dir);
  assert.equal(statSync(join(dir, 'extensions/otel-lambda-extension')).mode & 0o777, 0o755);
  assert.equal(statSync(join(dir, 'otel-lambda-extension/index.mjs')).mode & 0o777, 0o644);
  assert.ok(readFileSync(join(dir, 'otel-lambda-extension/config.yaml')).equals(config));
});

test('a damaged entry is reported, not returned', async () => {
  const file = join(work, 'damaged.zip');
  await writeZip(file, [{ name: 'a.txt', data: Buffer.from('hello hello hello hello'), mode: 0o644 }]);
  const bytes = readFileSync(file);
  const [entry] = readZip(bytes);
  assert.ok(entry);
  const damaged = Buffer.from(bytes);
  const lastDataByte = entry.localHeaderOffset + 30 + entry.name.length + entry.compressedSize - 1;
  damaged.writeUInt8(damaged.readUInt8(lastDataByte) ^ 0xff, lastDataByte);
  assert.throws(() => readZipEntry(damaged, entry), /a\.txt/);
  assert.throws(() => readZip(Buffer.from('not a zip at all, not even close to one')), /not a zip file/);
});

test('bad entries are refused with the entry named', async () => {
  const data = Buffer.from('x');
  const out = join(work, 'bad.zip');
  await assert.rejects(
    writeZip(out, [{ name: '../escape', data, mode: 0o644 }]),
    /"\.\.\/escape" is not a relative/,
  );
  await assert.rejects(writeZip(out, [{ name: '/abs', data, mode: 0o644 }]), /"\/abs" is not a relative/);
  await assert.rejects(
    writeZip(out, [
      { name: 'twice', data, mode: 0o644 },
      { name: 'twice', data, mode: 0o755 },
    ]),
    /twice appears twice/,
  );
  await assert.rejects(writeZip(out, [{ name: 'm', data, mode: 0o4755 }]), /m has mode/);
});
