// What users meet first: `make demo` (the demo function and the built layer in the simulator,
// exporting to the embedded OTLP sink) and the otel-lambda-local CLI, each run as a child process
// the way users run them, checked by what they print and, with --endpoint, by what arrives.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type OtlpSink, startOtlpSink } from '../../tools/otlp/sink.js';
import { allSpans, attrs, type TracesRequest } from '../../tools/otlp/decode.js';
import { ensureLayer, FUNCTIONS_DIR, REPO_ROOT } from '../support/e2e-harness.js';

const CLI_BUNDLE = join(REPO_ROOT, 'build/tools/otel-lambda-local.mjs');
const BAR_WIDTH = 40; // the width used when stdout is not a terminal

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The test runner may force colour in children; users piping the output would not. */
const { FORCE_COLOR: _force, NO_COLOR: _no, ...plainEnv } = process.env;

function run(args: string[], timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      args,
      { cwd: REPO_ROOT, timeout: timeoutMs, env: plainEnv },
      (error, stdout, stderr) => {
        const code = error && typeof error.code === 'number' ? error.code : error ? null : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

interface Row {
  depth: number;
  name: string;
  source: string;
  bar: string;
  mark: string;
}

interface Section {
  header: string;
  rows: Row[];
}

const ROW = /^ {2}( *)(\S.*?)\s{2,}(platform|function)\s+\+\S+ ms\s+\S+ ms\s+│(.*)│(.*)$/;

/** The invocation sections of the output: their header line and their waterfall rows. */
function sections(stdout: string): Section[] {
  const out: Section[] = [];
  let current: Section | undefined;
  for (const line of stdout.split('\n')) {
    if (/^invocation \d+\/\d+ · /.test(line)) {
      current = { header: line, rows: [] };
      out.push(current);
    } else if (/^\S/.test(line)) {
      current = undefined; // the next part of the report
    } else {
      const m = ROW.exec(line);
      if (m && current) {
        current.rows.push({
          depth: m[1]!.length / 2,
          name: m[2]!,
          source: m[3]!,
          bar: m[4]!,
          mark: m[5]!.trim(),
        });
      }
    }
  }
  return out;
}

let sink: OtlpSink;
let scratch: string;

before(async () => {
  ensureLayer();
  const build = await run(['tools/build.mjs']);
  assert.equal(build.code, 0, build.stderr);
  sink = await startOtlpSink();
  scratch = mkdtempSync(join(tmpdir(), 'otel-lambda-local-'));
});

test('make demo: five invocations as waterfalls with the platform and function spans, the error marked, faas.invocations = 5', async () => {
  const { code, stdout, stderr } = await run(['--import', 'tsx', 'tools/local-run/demo.ts', '--unthrottled']);
  assert.equal(code, 0, `demo exited ${code}\n${stderr}\n${stdout}`);
  // Not a terminal: plain text only.
  assert.ok(!stdout.includes('\u001b['), 'colour codes in piped output');

  const invocations = sections(stdout);
  assert.deepEqual(
    invocations.map((s) => /^invocation (\d+)\/5 · (cold|warm) /.exec(s.header)?.slice(1, 3).join(' ')),
    ['1 cold', '2 warm', '3 warm', '4 warm', '5 warm'],
    stdout,
  );
  invocations.forEach((section, i) => {
    const names = section.rows.map((r) => `${r.depth}:${r.name}`);
    assert.equal(
      section.rows[0]?.name,
      'demo-orders',
      `invocation ${i + 1}: the invocation span comes first\n${stdout}`,
    );
    assert.equal(section.rows[0]?.source, 'platform');
    for (const phase of ['responseLatency', 'responseDuration', 'extensionOverhead']) {
      assert.ok(names.includes(`1:${phase}`), `invocation ${i + 1} lacks ${phase}: ${names.join(', ')}`);
    }
    // The function's own spans, joined under the platform's invocation span.
    for (const own of ['1:process order', '2:validate order', '2:price items', '2:charge payment']) {
      assert.ok(names.includes(own), `invocation ${i + 1} lacks ${own}: ${names.join(', ')}`);
    }
    assert.equal(section.rows.find((r) => r.name === 'process order')?.source, 'function');
    // The init span belongs to the cold start only.
    assert.equal(names.includes('1:init'), i === 0, `invocation ${i + 1}: ${names.join(', ')}`);
    for (const row of section.rows) {
      assert.equal(row.bar.length, BAR_WIDTH, `bar of ${row.name} is not ${BAR_WIDTH} columns: |${row.bar}|`);
      assert.match(row.bar, /[█▏]/, `${row.name} has no bar`);
    }
  });

  // Cold start: init runs before the invocation, so its bar starts left of the invocation's.
  const cold = invocations[0]!.rows;
  const barStart = (name: string) => cold.find((r) => r.name === name)!.bar.search(/[█▏]/);
  assert.equal(barStart('init'), 0);
  assert.ok(barStart('demo-orders') > barStart('init'), cold.map((r) => `${r.name} |${r.bar}|`).join('\n'));

  // The declined payment: the header, the invocation span and the failing function span say so.
  const failed = invocations[3]!;
  assert.match(failed.header, /✗ error PaymentDeclined/);
  assert.equal(failed.rows.find((r) => r.name === 'demo-orders')?.mark, '✗ PaymentDeclined');
  assert.match(failed.rows.find((r) => r.name === 'charge payment')?.mark ?? '', /^✗ card declined/);
  assert.equal(failed.rows.find((r) => r.name === 'price items')?.mark, '');
  for (const i of [0, 1, 2, 4]) {
    assert.match(invocations[i]!.header, / · success · /);
    assert.ok(
      invocations[i]!.rows.every((r) => r.mark === ''),
      `invocation ${i + 1} has an error mark`,
    );
  }

  const metricRow = (name: string) =>
    stdout
      .split('\n')
      .filter((l) => new RegExp(`^\\s+platform\\s+${name.replaceAll('.', '\\.')}\\s`).test(l));
  const invocationsRow = metricRow('faas.invocations');
  assert.equal(invocationsRow.length, 1, stdout);
  assert.match(invocationsRow[0]!, /\{invocation\}\s+counter \(cumulative\)\s+5\s+faas\.trigger=other/);
  assert.match(metricRow('faas.coldstarts')[0] ?? '', /counter \(cumulative\)\s+1\s/);
  assert.match(metricRow('faas.errors')[0] ?? '', /\s1\s+faas\.trigger=other error\.type=PaymentDeclined/);
  const invokeDurations = metricRow('faas.invoke_duration');
  assert.equal(invokeDurations.length, 2, 'one series for cold, one for warm');
  assert.ok(invokeDurations.some((l) => /count 1 .*faas\.coldstart=true/.test(l)));
  assert.ok(invokeDurations.some((l) => /count 4 .*faas\.coldstart=false/.test(l)));

  // Each successful order logs two lines, the declined one two as well plus the runtime's error.
  const logs = /^logs received: (\d+) records .*, (\d+) with the trace context of their invocation$/m.exec(
    stdout,
  );
  assert.ok(logs, stdout);
  assert.ok(Number(logs[1]) >= 10, `logs: ${logs[0]}`);
  assert.equal(logs[2], logs[1], 'every function log record carries its invocation trace');
  assert.match(stdout, /^shutdown \(spindown\): otel-lambda-extension exited after .* before the deadline$/m);
});

test('otel-lambda-local (bundled, plain node): a user handler and event, exported to --endpoint', async () => {
  const eventFile = join(scratch, 'event.json');
  writeFileSync(eventFile, JSON.stringify({ log: ['hello from my handler'] }));

  const { code, stdout, stderr } = await run([
    CLI_BUNDLE,
    '--handler',
    join(FUNCTIONS_DIR, 'scenario.mjs'),
    '--event',
    eventFile,
    '--invokes',
    '2',
    '--idle',
    '50',
    '--endpoint',
    sink.url,
  ]);
  assert.equal(code, 0, `cli exited ${code}\n${stderr}\n${stdout}`);
  assert.match(stdout, new RegExp(`^exporting to ${sink.url} `, 'm'));
  const headers = stdout.split('\n').filter((l) => /^invocation \d\/2 · /.test(l));
  assert.equal(headers.length, 2, stdout);
  assert.match(headers[0]!, /· cold · success ·/);
  assert.match(headers[1]!, /· warm · success ·/);
  const requestIds = [...stdout.matchAll(/^ {2}request ([0-9a-f-]{36})$/gm)].map((m) => m[1]);
  assert.equal(requestIds.length, 2, stdout);
  // What the simulator saw includes the handler's own output.
  assert.equal(stdout.match(/hello from my handler/g)?.length, 2, stdout);

  // The extension has exited when the CLI prints: everything it exported is in the sink.
  const invocationSpans = sink.requests
    .filter((r) => r.signal === 'traces')
    .flatMap((r) => allSpans(r.decoded as TracesRequest))
    .map((s) => attrs(s.attributes)['faas.invocation_id'])
    .filter((id) => id !== undefined);
  assert.deepEqual([...new Set(invocationSpans)].sort(), [...requestIds].sort());
});

test('otel-lambda-local refuses bad input with exit code 2 and says why', async () => {
  const missing = await run([CLI_BUNDLE, '--invokes', '2']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--handler FILE is required/);
  const format = await run([CLI_BUNDLE, '--handler', join(FUNCTIONS_DIR, 'echo.mjs'), '--log-format', 'xml']);
  assert.equal(format.code, 2);
  assert.match(format.stderr, /--log-format must be text or json; got xml/);
  const layer = await run([CLI_BUNDLE, '--handler', join(FUNCTIONS_DIR, 'echo.mjs'), '--layer', scratch]);
  assert.equal(layer.code, 2);
  assert.match(layer.stderr, /no extension layer at .*extensions\/otel-lambda-extension is missing/);
});

after(async () => {
  await sink?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});
