// The benchmark harness in its quick mode, run the way `make bench` runs it (a child process), so it
// cannot rot unnoticed: every figure is there at both memory settings with a sane value, the billed
// figures agree with the durations they are made of, the result file follows its schema, a foreign
// extension given as a single executable runs too, and --compare reads results back.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type BenchResult, RESULT_SCHEMA, verdict } from './harness/results.js';
import { RECORDER_ENTRY } from '../test/support/simulator/opt-dir.js';
import { ensureLayer, REPO_ROOT } from '../test/support/e2e-harness.js';

function bench(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'bench/run.ts'), ...args],
      // Under the suite's 180 s per test; zipping the 110 MB executable for the layer figure takes ~10 s.
      { cwd: REPO_ROOT, timeout: 170_000, maxBuffer: 8 * 1024 * 1024 },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

function resultPath(stdout: string): string {
  const match = /^results: (.+\.json)$/m.exec(stdout);
  assert.ok(match, `no "results:" line in:\n${stdout}`);
  return match[1] as string;
}

const MEMORY = [128, 1769];
const at = (id: string, mb: number) => `${id}@${mb}MB`;
const PATTERNS = ['perMinute', 'perSecond', 'fiftyPerSecond'];
const PATTERN_FIGURES = [
  'postRuntimeP50Ms',
  'postRuntimeP99Ms',
  'postRuntimeBilledP50Ms',
  'postRuntimeBilledP99Ms',
  'billedP50Ms',
  'billedP99Ms',
  'runtimeP50Ms',
  'coldPostRuntimeMs',
  'coldBilledMs',
  'cpuMsPerInvocation',
  'maxMemoryUsedMb',
  'maxMemoryUsedAddedMb',
  'peakRssMb',
  'steadyRssMb',
  'otlpWireBytesPerInvocation',
  'achievedPerSecond',
];
const PER_MEMORY = [
  'init.startToFirstNextMs',
  'init.durationMs',
  'init.billedMs',
  'init.baselineDurationMs',
  'init.billedAddedMs',
  'init.cpuMs',
  'init.rssMb',
  ...PATTERNS.flatMap((p) => PATTERN_FIGURES.map((f) => `${p}.${f}`)),
  'shutdown.durationMs',
];
const EXPECTED = [
  ...MEMORY.flatMap((mb) => PER_MEMORY.map((id) => at(id, mb))),
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
      // What the extension adds is a difference of two measurements: asserted below where it matters.
      if (!/Added/.test(f.id)) assert.ok(f.min >= 0, `${f.id} is negative`);
    }
  });

  it('has sane values', () => {
    const fig = (id: string) => {
      const f = result.figures.find((x) => x.id === id);
      assert.ok(f, id);
      return f;
    };
    for (const id of [
      'throughput.convertEventsPerSecond',
      'throughput.receiver.protobuf.spansPerSecond',
      'layer.zipBytes',
    ])
      assert.ok(fig(id).median > 0, `${id} = ${fig(id).median}`);
    assert.ok(fig('layer.unzippedBytes').median > fig('layer.zipBytes').median);
    for (const mb of MEMORY) {
      const f = (id: string) => fig(at(id, mb));
      const positive = [
        'init.startToFirstNextMs',
        'init.durationMs',
        'init.baselineDurationMs',
        'init.cpuMs',
        'init.rssMb',
        'shutdown.durationMs',
        // 45 invocations of a few ms each: many clock ticks, never zero.
        'fiftyPerSecond.cpuMsPerInvocation',
      ];
      for (const id of positive) assert.ok(f(id).median > 0, `${at(id, mb)} = ${f(id).median}`);
      // The extension's own init is part of the init phase.
      assert.ok(f('init.durationMs').median >= f('init.startToFirstNextMs').min);
      assert.ok(f('init.billedMs').median >= f('init.durationMs').median, `${mb} MB: billed init < init`);
      assert.ok(Number.isFinite(f('init.billedAddedMs').median));
      for (const p of PATTERNS) {
        const q = (id: string) => f(`${p}.${id}`);
        const where = `${mb} MB, ${p}`;
        assert.ok(q('postRuntimeP99Ms').median >= q('postRuntimeP50Ms').median, `${where}: p99 < p50`);
        assert.ok(q('peakRssMb').median >= q('steadyRssMb').median, `${where}: peak < steady`);
        // A Node process holds more than 10 MB, and no function has room for 500 beside it here.
        assert.ok(q('steadyRssMb').median > 10 && q('peakRssMb').median < 500);
        // The extension exported to the sink: telemetry reached OTLP.
        assert.ok(q('otlpWireBytesPerInvocation').median > 0, `${where}: nothing exported`);
        // Billed figures are whole milliseconds, and agree with what they are made of: an invocation's
        // billed duration covers its runtime and what post-runtime added; what post-runtime added is
        // its duration rounded one way or the other (so its percentiles are within 1 ms of them).
        for (const id of ['billedP50Ms', 'billedP99Ms', 'postRuntimeBilledP50Ms', 'coldBilledMs'])
          for (const v of q(id).samples) assert.ok(Number.isInteger(v), `${where} ${id}: ${v} not whole ms`);
        assert.ok(q('billedP50Ms').median >= q('runtimeP50Ms').median, `${where}: billed < duration`);
        assert.ok(
          q('billedP50Ms').median >= q('postRuntimeBilledP50Ms').median,
          `${where}: billed < post-runtime`,
        );
        assert.ok(q('billedP99Ms').median >= q('billedP50Ms').median, `${where}: billed p99 < p50`);
        for (const pct of ['P50', 'P99']) {
          const billed = q(`postRuntimeBilled${pct}Ms`).median;
          const raw = q(`postRuntime${pct}Ms`).median;
          assert.ok(Math.abs(billed - raw) <= 1, `${where}: post-runtime billed ${billed} vs ${raw} ms`);
        }
        // The cold invocation is billed its init phase too.
        assert.ok(q('coldBilledMs').median >= f('init.durationMs').min, `${where}: cold billed < init`);
        // The extension's processes are in Max Memory Used.
        assert.ok(q('maxMemoryUsedAddedMb').median > 0, `${where}: no memory added`);
        assert.ok(q('maxMemoryUsedMb').median > q('maxMemoryUsedAddedMb').median);
      }
      assert.ok(f('perSecond.achievedPerSecond').median < 2);
    }
    assert.ok(fig(at('fiftyPerSecond.achievedPerSecond', 1769)).median > 10);
  });

  it('prints the billed summary for both memory settings', () => {
    assert.match(run.stdout, /\| extension \| memory \| init phase \| added billed init \|/);
    for (const mb of ['128 MB', '1,769 MB']) {
      assert.match(run.stdout, new RegExp(`\\| smoke \\| ${mb} \\| \\d`));
      assert.match(run.stdout, new RegExp(`\\| smoke \\| ${mb} \\| 50/s \\| \\d`));
    }
  });

  it('shows the targets next to the figures', () => {
    const targeted = result.figures.filter((f) => f.target).map((f) => f.id);
    // Targets hold at one full vCPU: shown at 1,769 MB only.
    assert.deepEqual(targeted.sort(), [
      'fiftyPerSecond.peakRssMb@1769MB',
      'fiftyPerSecond.postRuntimeP50Ms@1769MB',
      'init.startToFirstNextMs@1769MB',
      'perSecond.postRuntimeP50Ms@1769MB',
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
      const foreign = await bench([
        '--quick',
        '--extension',
        exe,
        '--memory',
        '1769',
        '--only',
        'init,layer',
        '--out',
        dir,
      ]);
      assert.equal(foreign.code, 0, foreign.stderr);
      const r = JSON.parse(readFileSync(resultPath(foreign.stdout), 'utf8')) as BenchResult;
      assert.equal(r.extension.kind, 'executable');
      assert.deepEqual(r.extension.names, ['recorder']);
      const init = r.figures.find((f) => f.id === 'init.startToFirstNextMs@1769MB');
      assert.ok(init && init.median > 0 && init.samples.length >= 3);
      const zip = r.figures.find((f) => f.id === 'layer.zipBytes');
      assert.ok(zip && zip.median > 0);
      assert.ok(!r.figures.some((f) => f.id.startsWith('throughput.')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('measures two extensions side by side, with environment for one of them only', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-side-'));
    try {
      // The recorder writes its environment to a file: the scoped variable must reach it alone.
      const exe = join(dir, 'recorder');
      const seen = join(dir, 'seen');
      writeFileSync(
        exe,
        `#!/bin/sh\necho "$BENCH_PORT,$BENCH_SHARED" >> ${JSON.stringify(seen)}\nexec node ${JSON.stringify(RECORDER_ENTRY)} recorder\n`,
      );
      chmodSync(exe, 0o755);
      const both = await bench([
        '--quick',
        '--memory',
        '1769',
        '--only',
        'init',
        '--extension',
        'build/layer',
        '--extension',
        exe,
        '--name',
        'ours',
        '--name',
        'rec',
        '--env',
        'rec:BENCH_PORT={freePort}',
        '--env',
        'BENCH_SHARED=yes',
        '--out',
        dir,
      ]);
      assert.equal(both.code, 0, both.stderr);
      const paths = [...both.stdout.matchAll(/^results: (.+\.json)$/gm)].map((m) => m[1] as string);
      const results = paths.map((p) => JSON.parse(readFileSync(p, 'utf8')) as BenchResult);
      assert.deepEqual(
        results.map((r) => r.name),
        ['ours', 'rec'],
      );
      for (const r of results) {
        assert.deepEqual(r.plan.sideBySide, ['ours', 'rec']);
        const init = r.figures.find((f) => f.id === 'init.billedAddedMs@1769MB');
        assert.ok(init && init.samples.length >= 3, `${r.name}: no added billed init`);
      }
      // Interleaved: the progress lines alternate between the two.
      const order = both.stderr.split('\n').filter((l) => /: (ours|rec), init$/.test(l));
      assert.ok(
        order.length >= 6 && /ours/.test(order[0] ?? '') && /rec/.test(order[1] ?? ''),
        order.join('\n'),
      );
      // A fresh free port for each of the recorder's environments, the shared variable for both.
      const lines = readFileSync(seen, 'utf8').trim().split('\n');
      assert.ok(lines.length >= 3 && lines.every((l) => /^\d+,yes$/.test(l)), lines.join('\n'));
      assert.match(both.stdout, /\| ours \| 1,769 MB \| [\d,.]+ ms \|/);
      assert.match(both.stdout, /\| rec \| 1,769 MB \| [\d,.]+ ms \|/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
