// The benchmark harness in its quick mode, run the way `make bench` runs it (a child process), so it
// cannot rot unnoticed: every figure is there with a sane value, the result file follows its schema,
// a foreign extension given as a single executable runs too, and --compare reads results back.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type BenchResult, RESULT_SCHEMA, verdict } from '../../bench/harness/results.js';
import { RECORDER_ENTRY } from '../simulator/index.js';
import { ensureLayer, REPO_ROOT } from './harness.js';

function bench(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'bench/run.ts'), ...args],
      { cwd: REPO_ROOT, timeout: 120_000, maxBuffer: 8 * 1024 * 1024 },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

function resultPath(stdout: string): string {
  const match = /^results: (.+\.json)$/m.exec(stdout);
  assert.ok(match, `no "results:" line in:\n${stdout}`);
  return match[1] as string;
}

const PATTERNS = ['perMinute', 'perSecond', 'fiftyPerSecond'];
const PATTERN_FIGURES = [
  'postRuntimeP50Ms',
  'postRuntimeP99Ms',
  'coldPostRuntimeMs',
  'cpuMsPer1000',
  'peakRssMb',
  'steadyRssMb',
  'otlpWireBytesPerInvocation',
  'achievedPerSecond',
];
const EXPECTED = [
  'init.startToFirstNextMs',
  'init.durationMs',
  'init.baselineDurationMs',
  'init.cpuMs',
  'init.rssMb',
  ...PATTERNS.flatMap((p) => PATTERN_FIGURES.map((f) => `${p}.${f}`)),
  'shutdown.durationMs',
  'throughput.convertEventsPerSecond',
  'throughput.receiver.protobuf.spansPerSecond',
  'throughput.receiver.protobuf+gzip.spansPerSecond',
  'throughput.receiver.json.spansPerSecond',
  'layer.zipBytes',
  'layer.unzippedBytes',
];

describe('make bench, quick mode', () => {
  let out: string;
  let run: { code: number; stdout: string; stderr: string };
  let result: BenchResult;
  let path: string;

  before(async () => {
    ensureLayer();
    out = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
    run = await bench(['--quick', '--out', out, '--name', 'smoke']);
    assert.equal(run.code, 0, `bench failed:\n${run.stderr}`);
    path = resultPath(run.stdout);
    result = JSON.parse(readFileSync(path, 'utf8')) as BenchResult;
  });
  after(() => rmSync(out, { recursive: true, force: true }));

  it('writes one versioned result file named after the run', () => {
    assert.deepEqual(readdirSync(out), [path.slice(out.length + 1)]);
    assert.match(path, /smoke-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d+Z\.json$/);
    assert.equal(result.schema, RESULT_SCHEMA);
    assert.equal(result.mode, 'quick');
    assert.equal(result.extension.kind, 'project-layer');
    assert.deepEqual(result.extension.names, ['otel-lambda-extension']);
    assert.deepEqual(result.skipped, []);
  });

  it('has every figure, each a median within its spread', () => {
    const ids = result.figures.map((f) => f.id);
    for (const id of EXPECTED) assert.ok(ids.includes(id), `missing figure ${id}`);
    for (const f of result.figures) {
      assert.ok(f.samples.length >= 1, `${f.id}: no samples`);
      for (const v of [f.median, f.min, f.max, f.p25, f.p75]) assert.ok(Number.isFinite(v), `${f.id}: ${v}`);
      assert.ok(f.min <= f.median && f.median <= f.max, `${f.id}: ${f.min} ≤ ${f.median} ≤ ${f.max}`);
      assert.ok(f.min >= 0, `${f.id} is negative`);
    }
  });

  it('has sane values', () => {
    const fig = (id: string) => {
      const f = result.figures.find((x) => x.id === id);
      assert.ok(f, id);
      return f;
    };
    const positive = [
      'init.startToFirstNextMs',
      'init.durationMs',
      'init.baselineDurationMs',
      'init.cpuMs',
      'init.rssMb',
      'shutdown.durationMs',
      'throughput.convertEventsPerSecond',
      'throughput.receiver.protobuf.spansPerSecond',
      'layer.zipBytes',
      // 45 invocations of a few ms each: many clock ticks, never zero.
      'fiftyPerSecond.cpuMsPer1000',
    ];
    for (const id of positive) assert.ok(fig(id).median > 0, `${id} = ${fig(id).median}`);
    // The extension's own init is part of the init phase.
    assert.ok(fig('init.durationMs').median >= fig('init.startToFirstNextMs').min);
    assert.ok(fig('layer.unzippedBytes').median > fig('layer.zipBytes').median);
    for (const p of PATTERNS) {
      assert.ok(fig(`${p}.postRuntimeP99Ms`).median >= fig(`${p}.postRuntimeP50Ms`).median, `${p} p99 < p50`);
      assert.ok(fig(`${p}.peakRssMb`).median >= fig(`${p}.steadyRssMb`).median, `${p} peak < steady`);
      // A Node process holds more than 10 MB, and a 512 MB function has no room for 500.
      assert.ok(fig(`${p}.steadyRssMb`).median > 10 && fig(`${p}.peakRssMb`).median < 500);
      // The extension exported to the sink: telemetry reached OTLP.
      assert.ok(fig(`${p}.otlpWireBytesPerInvocation`).median > 0, `${p}: nothing exported`);
    }
    assert.ok(fig('fiftyPerSecond.achievedPerSecond').median > 10);
    assert.ok(fig('perSecond.achievedPerSecond').median < 2);
  });

  it('shows the targets next to the figures', () => {
    const targeted = result.figures.filter((f) => f.target).map((f) => f.id);
    assert.deepEqual(targeted.sort(), [
      'fiftyPerSecond.peakRssMb',
      'fiftyPerSecond.postRuntimeP50Ms',
      'init.startToFirstNextMs',
      'perSecond.postRuntimeP50Ms',
      'throughput.convertEventsPerSecond',
    ]);
    for (const f of result.figures.filter((x) => x.target)) assert.equal(typeof f.meetsTarget, 'boolean');
    assert.match(run.stdout, /process start → first \/event\/next .*≤ 60\.0 ms (met|MISSED)/);
    assert.match(run.stdout, /time-compressed/);
  });

  it('compares two result files figure by figure', async () => {
    const compared = await bench(['--compare', path, path]);
    assert.equal(compared.code, 0, compared.stderr);
    const rows = compared.stdout.split('\n').filter((l) => / 1\.00×/.test(l));
    // Every figure with a non-zero median gets a ratio of 1 against itself.
    assert.equal(rows.length, result.figures.filter((f) => f.median !== 0).length);
    for (const row of rows) assert.match(row, /≈ same$/);
    assert.equal(verdict(10, 5, 'lower'), '↓ better');
    assert.equal(verdict(10, 5, 'higher'), '↓ worse');
    assert.equal(verdict(100, 101, 'lower'), '≈ same');
    const refused = await bench(['--compare', path, join(REPO_ROOT, 'package.json')]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /schema/);
  });

  it('measures a foreign extension given as a single executable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-foreign-'));
    try {
      const exe = join(dir, 'recorder');
      writeFileSync(exe, `#!/bin/sh\nexec node ${JSON.stringify(RECORDER_ENTRY)} recorder\n`);
      chmodSync(exe, 0o755);
      const foreign = await bench(['--quick', '--extension', exe, '--only', 'init,layer', '--out', dir]);
      assert.equal(foreign.code, 0, foreign.stderr);
      const r = JSON.parse(readFileSync(resultPath(foreign.stdout), 'utf8')) as BenchResult;
      assert.equal(r.extension.kind, 'executable');
      assert.deepEqual(r.extension.names, ['recorder']);
      const init = r.figures.find((f) => f.id === 'init.startToFirstNextMs');
      assert.ok(init && init.median > 0 && init.samples.length >= 3);
      const zip = r.figures.find((f) => f.id === 'layer.zipBytes');
      assert.ok(zip && zip.median > 0);
      assert.ok(!r.figures.some((f) => f.id.startsWith('throughput.')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
