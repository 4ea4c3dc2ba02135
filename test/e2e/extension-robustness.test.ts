// The extension process from the built layer when what it talks to misbehaves:
// - telemetry pushes with malformed records, unknown types, a non-array or non-JSON body and an
//   oversized body (413), straight to its listener between real invocations: it keeps converting and
//   exporting, and its self-telemetry and shutdown line show the counts;
// - Lambda APIs (a fake server in this file, the bundle as a direct child process) refusing or
//   garbling register, subscribe or /event/next, or never answering: a precise init/error or
//   exit/error type, a non-zero exit, promptly;
// - an invalid configuration, strict (init fails with Extension.ConfigInvalid) or not (pass-through).

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type OtlpSink, startOtlpSink } from '../../tools/otlp/sink.js';
import {
  allLogRecords,
  allMetrics,
  allSpans,
  attrs,
  type LogsRequest,
  type MetricsRequest,
  plainValue,
  type TracesRequest,
} from '../../tools/otlp/decode.js';
import { ensureLayer, extensionEnvironment, freeLoopbackPort, LAYER_DIR } from '../support/e2e-harness.js';

let sink: OtlpSink;

before(async () => {
  ensureLayer();
  sink = await startOtlpSink();
});

after(async () => {
  await sink?.close();
});

const EXTENSION_NAME = 'otel-lambda-extension';
const LAUNCHER = join(LAYER_DIR, 'extensions', EXTENSION_NAME);

// ---------------------------------------------------------------------------------------------------
// Telemetry pushes straight to the listener

function isoNow(): string {
  return new Date().toISOString();
}

async function push(port: number, body: string | Buffer): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/telemetry`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    signal: AbortSignal.timeout(10_000),
  });
  await res.arrayBuffer();
  return res.status;
}

/** Each series of one self-telemetry sum (scope otel-lambda-extension) with its total over the run. */
function selfSeries(
  requests: OtlpSink['requests'],
  name: string,
): { attributes: Record<string, unknown>; value: number }[] {
  const series = new Map<string, { attributes: Record<string, unknown>; value: number }>();
  for (const r of requests) {
    if (r.signal !== 'metrics') continue;
    for (const metric of allMetrics(r.decoded as MetricsRequest)) {
      if (metric.name !== name || metric.scope?.name !== 'otel-lambda-extension' || !metric.sum) continue;
      const cumulative = metric.sum.aggregationTemporality === 2;
      for (const point of metric.sum.dataPoints) {
        const attributes = attrs(point.attributes);
        const key = JSON.stringify(Object.entries(attributes).sort());
        const value = Number(point.asInt ?? point.asDouble ?? 0);
        const previous = series.get(key)?.value ?? 0;
        series.set(key, { attributes, value: cumulative ? value : previous + value });
      }
    }
  }
  return [...series.values()];
}

/** Totals of the series whose attributes include `match`, keyed by the attribute `by`. */
function totalsBy(
  series: { attributes: Record<string, unknown>; value: number }[],
  by: string,
  match: Record<string, string> = {},
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { attributes, value } of series) {
    if (Object.entries(match).some(([k, v]) => attributes[k] !== v)) continue;
    const label = String(attributes[by] ?? '');
    out[label] = (out[label] ?? 0) + value;
  }
  return out;
}

test('malformed, unknown, non-array and oversized telemetry pushes are counted; the extension keeps exporting', async () => {
  const before = sink.requests.length;
  const { sim, extensionLines } = await extensionEnvironment({
    handler: 'echo.mjs',
    endpoint: sink.url,
    // Not frozen between invocations, so this test can push to the listener while the environment idles.
    freeze: false,
    env: { LAMBDA_OTEL_TELEMETRY_API_MAX_BODY_BYTES: String(1024 * 1024) },
  });
  try {
    const init = await sim.start();
    assert.equal(init.status, 'success', JSON.stringify(init));
    const destination = sim.timeline.of('subscribe').find((s) => s.name === EXTENSION_NAME)?.destination;
    assert.ok(destination, 'no subscription in the timeline');
    const port = Number(new URL(destination).port);

    const results = [await sim.invoke({ n: 0 })];
    // Four malformed records around a valid log line: the line survives, the rest is counted.
    const marker = `direct push ${Date.now()}`;
    const mixed = [
      42,
      { time: isoNow(), type: '', record: {} },
      { time: 'not a time', type: 'platform.start', record: { requestId: 'r-1' } },
      { time: isoNow(), type: 'platform.start', record: 'not an object' },
      { time: isoNow(), type: 'function', record: marker },
    ];
    assert.equal(await push(port, JSON.stringify(mixed)), 200);
    results.push(await sim.invoke({ n: 1 }));
    const unknown = [
      { time: isoNow(), type: 'platform.fromTheFuture', record: { a: 1 } },
      { time: isoNow(), type: 'platform.fromTheFuture', record: { a: 2 } },
      { time: isoNow(), type: 'platform.alsoNew', record: {} },
    ];
    assert.equal(await push(port, JSON.stringify(unknown)), 200);
    assert.equal(await push(port, JSON.stringify({ records: mixed })), 200);
    results.push(await sim.invoke({ n: 2 }));
    assert.equal(await push(port, '[{"time": "2025-'), 200);
    const huge = Buffer.from(
      JSON.stringify(
        Array.from({ length: 1600 }, () => ({ time: isoNow(), type: 'function', record: 'x'.repeat(1000) })),
      ),
    );
    assert.ok(huge.length > 1024 * 1024);
    assert.equal(await push(port, huge), 413);
    for (let i = 3; i < 6; i++) results.push(await sim.invoke({ n: i }));
    assert.deepEqual(
      results.map((r) => r.status),
      Array(6).fill('success'),
    );

    const down = await sim.shutdown();
    assert.equal(down.extensions[0]?.exitCode, 0);
    assert.equal(down.extensions[0]?.exitedBeforeDeadline, true);
    const ours = sink.requests.slice(before);

    // Every invocation, before and after the bad pushes, became a span.
    const spanIds = ours
      .filter((r) => r.signal === 'traces')
      .flatMap((r) => allSpans(r.decoded as TracesRequest))
      .filter((s) => s.kind === 2)
      .map((s) => attrs(s.attributes)['faas.invocation_id']);
    assert.deepEqual(spanIds.sort(), results.map((r) => r.requestId).sort());
    // The valid record of the mixed batch was kept.
    const bodies = ours
      .filter((r) => r.signal === 'logs')
      .flatMap((r) => allLogRecords(r.decoded as LogsRequest))
      .map((l) => plainValue(l.body));
    assert.equal(bodies.filter((b) => b === marker).length, 1, 'the valid line of the mixed push was lost');

    // The counts, as self-telemetry metrics.
    const pushes = totalsBy(selfSeries(ours, 'otel_lambda_extension.telemetry_api.pushes'), 'outcome');
    assert.equal(pushes['too_large'], 1, JSON.stringify(pushes));
    assert.ok((pushes['accepted'] ?? 0) >= 4, JSON.stringify(pushes));
    assert.deepEqual(
      totalsBy(selfSeries(ours, 'otel_lambda_extension.telemetry_api.bodies.invalid'), 'kind'),
      {
        'not-array': 1,
        'not-json': 1,
      },
    );
    const records = selfSeries(ours, 'otel_lambda_extension.telemetry_api.records');
    const outcomes = totalsBy(records, 'outcome');
    assert.equal(outcomes['malformed'], 4, JSON.stringify(records));
    assert.equal(outcomes['unknown_type'], 3, JSON.stringify(records));
    assert.ok((outcomes['parsed'] ?? 0) > 0, JSON.stringify(records));
    const malformed = totalsBy(records, 'kind', { outcome: 'malformed' });
    assert.equal(malformed['record.not-object'], 1, JSON.stringify(malformed));
    assert.equal(malformed['envelope.type'], 1, JSON.stringify(malformed));
    assert.deepEqual(totalsBy(records, 'kind', { outcome: 'unknown_type' }), {
      'platform.fromTheFuture': 2,
      'platform.alsoNew': 1,
    });
    // …and in the shutdown line.
    const last = extensionLines().at(-1) ?? '';
    assert.match(
      last,
      /telemetry: \d+ pushes \(\+1 too large\), 2 invalid bodies, \d+ records, 4 malformed, 3 of unknown type/,
    );
  } finally {
    await sim.close();
  }
});

// ---------------------------------------------------------------------------------------------------
// A fake Lambda API

const EXTENSION_ID = '6a1e0c1e-0000-4000-8000-00000000e2e0';

interface ApiCall {
  route: 'register' | 'subscribe' | 'next' | 'init/error' | 'exit/error' | 'other';
  headers: IncomingHttpHeaders;
  body: string;
  atMs: number;
}

type Answer = { status: number; headers?: Record<string, string>; body?: string } | 'hang';

interface Script {
  register?: () => Answer;
  subscribe?: (body: Record<string, unknown>, attempt: number) => Answer;
  next?: (n: number) => Answer;
}

const registered = (): Answer => ({
  status: 200,
  headers: { 'lambda-extension-identifier': EXTENSION_ID, 'content-type': 'application/json' },
  body: JSON.stringify({ functionName: 'fake-fn', functionVersion: '$LATEST', handler: 'index.handler' }),
});
const ok = (): Answer => ({ status: 200, body: 'OK' });
const json = (status: number, value: unknown): Answer => ({
  status,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(value),
});
const shutdownEvent = (windowMs = 1000): Answer =>
  json(200, { eventType: 'SHUTDOWN', shutdownReason: 'spindown', deadlineMs: Date.now() + windowMs });
const invokeEvent = (windowMs = 1000): Answer =>
  json(200, {
    eventType: 'INVOKE',
    requestId: 'req-fake-1',
    deadlineMs: Date.now() + windowMs,
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:fake-fn',
  });
const ROUTES: Record<string, ApiCall['route']> = {
  'POST /2020-01-01/extension/register': 'register',
  'GET /2020-01-01/extension/event/next': 'next',
  'POST /2020-01-01/extension/init/error': 'init/error',
  'POST /2020-01-01/extension/exit/error': 'exit/error',
  'PUT /2022-07-01/telemetry': 'subscribe',
};

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  exitAtMs: number;
  calls: ApiCall[];
  lines: string[];
  /** A call of this route, asserted to exist. */
  call(route: ApiCall['route']): ApiCall;
}

/** Runs the shipped layer's launcher (so the compiled executable) against a scripted fake API until it exits (killed after `boundMs`). */
async function runAgainst(
  script: Script,
  extraEnv: Record<string, string> = {},
  boundMs = 12_000,
): Promise<Run> {
  const calls: ApiCall[] = [];
  const sockets = new Set<Socket>();
  let subscribes = 0;
  let nexts = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const route = ROUTES[`${req.method} ${req.url}`] ?? 'other';
      const body = Buffer.concat(chunks).toString('utf8');
      calls.push({ route, headers: req.headers, body, atMs: Date.now() });
      let answer: Answer;
      if (route === 'register') answer = (script.register ?? registered)();
      else if (route === 'subscribe') answer = (script.subscribe ?? ok)(JSON.parse(body), subscribes++);
      else if (route === 'next') answer = (script.next ?? (() => shutdownEvent()))(nexts++);
      else if (route === 'init/error' || route === 'exit/error') answer = json(202, { status: 'OK' });
      else answer = json(404, { errorType: 'InvalidRequest' });
      if (answer === 'hang') return;
      res.writeHead(answer.status, answer.headers).end(answer.body);
    });
  });
  server.on('connection', (s) => sockets.add(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const lines: string[] = [];
  let child: ChildProcess | undefined;
  try {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env['PATH'],
      AWS_LAMBDA_RUNTIME_API: `127.0.0.1:${(server.address() as AddressInfo).port}`,
      LAMBDA_OTEL_EXTENSION_NAME: EXTENSION_NAME,
      AWS_LAMBDA_FUNCTION_NAME: 'fake-fn',
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_REGION: 'us-east-1',
      LAMBDA_OTEL_EXPORTER_ENDPOINT: sink.url,
      LAMBDA_OTEL_RECEIVER_PORT: String(await freeLoopbackPort()),
      LAMBDA_OTEL_RECEIVER_GRPC_PORT: String(await freeLoopbackPort()),
      LAMBDA_OTEL_LOG_LEVEL: 'info',
      ...extraEnv,
    };
    // A process group of its own: the launcher waits on the executable, and both are killed at the end.
    const proc = spawn(LAUNCHER, [], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child = proc;
    for (const stream of [proc.stdout, proc.stderr]) {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (text: string) => {
        const parts = (rest + text).split('\n');
        rest = parts.pop() ?? '';
        lines.push(...parts);
      });
    }
    const exited = await new Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined>(
      (resolve) => {
        const timer = setTimeout(() => resolve(undefined), boundMs);
        // 'close', not 'exit': the launcher and the executable share the pipes, and the last lines
        // may still be in them when the launcher's exit is reported.
        proc.on('close', (code, signal) => {
          clearTimeout(timer);
          resolve({ code, signal });
        });
      },
    );
    const exitAtMs = Date.now();
    assert.ok(exited, `the extension did not exit within ${boundMs} ms:\n${lines.join('\n')}`);
    return {
      ...exited,
      exitAtMs,
      calls,
      lines,
      call(route) {
        const found = calls.find((c) => c.route === route);
        assert.ok(
          found,
          `no ${route} call; calls: ${calls.map((c) => c.route).join(', ')}\n${lines.join('\n')}`,
        );
        return found;
      },
    };
  } finally {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** The error report the extension sent: its route, type header and JSON body. */
function assertReported(run: Run, route: 'init/error' | 'exit/error', errorType: string): void {
  const report = run.call(route);
  assert.equal(report.headers['lambda-extension-identifier'], EXTENSION_ID);
  assert.equal(report.headers['lambda-extension-function-error-type'], errorType, run.lines.join('\n'));
  const body = JSON.parse(report.body) as { errorType?: string; errorMessage?: string };
  assert.equal(body.errorType, errorType);
  assert.ok((body.errorMessage ?? '').length > 0, 'the report carries no message');
  assert.equal(run.calls.filter((c) => c.route === 'init/error' || c.route === 'exit/error').length, 1);
  // Reported, then gone: the exit follows the report quickly.
  assert.ok(run.exitAtMs - report.atMs < 2000, `exited ${run.exitAtMs - report.atMs} ms after reporting`);
}

function assertFailedExit(run: Run, errorType: string): void {
  assert.notEqual(run.code, 0, `exit code ${run.code}`);
  assert.equal(run.signal, null, 'it must exit by itself, not be killed');
  assert.ok(
    run.lines.some((l) => l.includes(`ERROR ${errorType}`)),
    `no ERROR line naming ${errorType}:\n${run.lines.join('\n')}`,
  );
}

describe('the Lambda APIs misbehave', { concurrency: true }, () => {
  test('baseline: the register and subscribe requests as sent, then SHUTDOWN → exit 0', async () => {
    const run = await runAgainst({});
    assert.equal(run.code, 0, run.lines.join('\n'));
    assert.deepEqual(
      run.calls.map((c) => c.route),
      ['register', 'subscribe', 'next'],
    );
    const register = run.call('register');
    assert.equal(register.headers['lambda-extension-name'], EXTENSION_NAME);
    assert.equal(register.headers['lambda-extension-accept-feature'], 'accountId');
    assert.deepEqual(JSON.parse(register.body), { events: ['INVOKE', 'SHUTDOWN'] });
    const subscribe = run.call('subscribe');
    assert.equal(subscribe.headers['lambda-extension-identifier'], EXTENSION_ID);
    const body = JSON.parse(subscribe.body) as Record<string, unknown>;
    assert.equal(body['schemaVersion'], '2025-01-29');
    assert.deepEqual(body['types'], ['platform', 'function', 'extension']);
    assert.deepEqual(body['buffering'], { maxItems: 1000, maxBytes: 262144, timeoutMs: 25 });
    assert.match(
      (body['destination'] as { URI: string }).URI,
      /^http:\/\/sandbox\.localdomain:\d+\/telemetry$/,
    );
    assert.equal((body['destination'] as { protocol: string }).protocol, 'HTTP');
  });

  test('register answered 500: exits non-zero with Extension.RegisterFailed (no identifier to report with)', async () => {
    const run = await runAgainst({ register: () => json(500, { errorType: 'ServiceException' }) });
    assertFailedExit(run, 'Extension.RegisterFailed');
    assert.deepEqual(
      run.calls.map((c) => c.route),
      ['register'],
    );
    assert.ok(run.exitAtMs - run.call('register').atMs < 2000);
  });

  test('register answered 200 with garbage: Extension.RegisterFailed', async () => {
    const run = await runAgainst({
      register: () => ({
        status: 200,
        headers: { 'lambda-extension-identifier': EXTENSION_ID },
        body: '<html>gateway</html>',
      }),
    });
    assertFailedExit(run, 'Extension.RegisterFailed');
    assert.deepEqual(
      run.calls.map((c) => c.route),
      ['register'],
    );
  });

  test('register never answered: gives up after its call timeout, Extension.RegisterFailed', async () => {
    const run = await runAgainst({ register: () => 'hang' });
    assertFailedExit(run, 'Extension.RegisterFailed');
    const waited = run.exitAtMs - run.call('register').atMs;
    assert.ok(waited >= 4000 && waited < 8000, `exited ${waited} ms after registering`);
  });

  test('subscribe answered 500: init/error Extension.TelemetrySubscribeFailed, exit non-zero', async () => {
    const run = await runAgainst({ subscribe: () => json(500, { errorType: 'ServiceException' }) });
    assertFailedExit(run, 'Extension.TelemetrySubscribeFailed');
    assertReported(run, 'init/error', 'Extension.TelemetrySubscribeFailed');
    assert.equal(run.calls.filter((c) => c.route === 'next').length, 0);
  });

  test('subscribe refused (400) for every schema: both tried, then init/error Extension.TelemetrySubscribeFailed', async () => {
    const run = await runAgainst({
      subscribe: (body) =>
        json(400, {
          errorType: 'ValidationError',
          errorMessage: `unsupported ${String(body['schemaVersion'])}`,
        }),
    });
    assert.deepEqual(
      run.calls.filter((c) => c.route === 'subscribe').map((c) => JSON.parse(c.body).schemaVersion),
      ['2025-01-29', '2022-12-13'],
    );
    assertFailedExit(run, 'Extension.TelemetrySubscribeFailed');
    assertReported(run, 'init/error', 'Extension.TelemetrySubscribeFailed');
  });

  test('subscribe never answered: init/error Extension.TelemetrySubscribeFailed after its call timeout', async () => {
    const run = await runAgainst({ subscribe: () => 'hang' });
    assertFailedExit(run, 'Extension.TelemetrySubscribeFailed');
    assertReported(run, 'init/error', 'Extension.TelemetrySubscribeFailed');
    const waited = run.exitAtMs - run.call('subscribe').atMs;
    assert.ok(waited >= 4000 && waited < 8000, `exited ${waited} ms after subscribing`);
  });

  test('the first /event/next answered with garbage: init/error Extension.NextEventFailed', async () => {
    const run = await runAgainst({ next: () => ({ status: 200, body: '{"eventType": "REBOOT"}' }) });
    assertFailedExit(run, 'Extension.NextEventFailed');
    assertReported(run, 'init/error', 'Extension.NextEventFailed');
  });

  test('/event/next garbled after an INVOKE: exit/error Extension.NextEventFailed', async () => {
    const run = await runAgainst({
      next: (n) => (n === 0 ? invokeEvent(1500) : { status: 200, body: 'not json at all' }),
    });
    assert.equal(run.calls.filter((c) => c.route === 'next').length, 2);
    assertFailedExit(run, 'Extension.NextEventFailed');
    assertReported(run, 'exit/error', 'Extension.NextEventFailed');
  });

  test('strict invalid configuration: init/error Extension.ConfigInvalid after subscribing, exit non-zero', async () => {
    const run = await runAgainst(
      {},
      { LAMBDA_OTEL_STRICT_CONFIG: 'true', LAMBDA_OTEL_EXPORTER_TIMEOUT: '-5' },
    );
    assert.deepEqual(
      run.calls.map((c) => c.route),
      ['register', 'subscribe', 'init/error'],
    );
    assertFailedExit(run, 'Extension.ConfigInvalid');
    assertReported(run, 'init/error', 'Extension.ConfigInvalid');
  });

  test('/event/next answered 500 after an INVOKE: exit/error Extension.NextEventFailed', async () => {
    const run = await runAgainst({
      next: (n) => (n === 0 ? invokeEvent(1500) : json(500, { errorType: 'ServiceException' })),
    });
    assertFailedExit(run, 'Extension.NextEventFailed');
    assertReported(run, 'exit/error', 'Extension.NextEventFailed');
  });
});

// ---------------------------------------------------------------------------------------------------
// Invalid configuration, in the simulator

test('strict invalid configuration in the simulator: init/error Extension.ConfigInvalid naming the key, the init fails', async () => {
  const { sim, extensionLines } = await extensionEnvironment({
    handler: 'echo.mjs',
    endpoint: sink.url,
    env: { LAMBDA_OTEL_STRICT_CONFIG: 'true', LAMBDA_OTEL_FLUSH_GRACE_MS: 'soon' },
  });
  try {
    const init = await sim.start();
    assert.equal(init.status, 'error', JSON.stringify(init));
    assert.equal(init.errorType, 'Extension.ConfigInvalid');
    const reports = sim.timeline.of('extension-error');
    assert.deepEqual(
      reports.map((r) => [r.which, r.name, r.errorType]),
      [['init', EXTENSION_NAME, 'Extension.ConfigInvalid']],
    );
    // Lambda (and the simulator) then tears the environment down; the extension reported first.
    const report = reports[0];
    const killed = sim.timeline.of('kill').find((k) => k.role === 'extension');
    const exited = sim.timeline.of('process-exit').find((e) => e.role === 'extension');
    assert.ok(report && (killed ?? exited) && report.atMs <= (killed ?? exited)!.atMs);
    const message = String((report.body as { errorMessage?: string } | undefined)?.errorMessage);
    assert.match(
      message,
      /^invalid configuration \(1 problem\): flush\.grace_ms \(env LAMBDA_OTEL_FLUSH_GRACE_MS\)/,
    );
    assert.ok(
      extensionLines().some((l) => /ERROR .*invalid configuration.*flush\.grace_ms/.test(l)),
      extensionLines().join('\n'),
    );
  } finally {
    await sim.close();
  }
});

test('non-strict invalid configuration: pass-through (invokes succeed, nothing exported), one clear error line', async () => {
  const quiet = await startOtlpSink();
  const { sim, extensionLines } = await extensionEnvironment({
    handler: 'echo.mjs',
    endpoint: quiet.url,
    env: { LAMBDA_OTEL_FLUSH_GRACE_MS: 'soon' },
  });
  try {
    const init = await sim.start();
    assert.equal(init.status, 'success', JSON.stringify(init));
    for (let i = 0; i < 3; i++) assert.equal((await sim.invoke({ i })).status, 'success');
    const down = await sim.shutdown();
    assert.equal(down.extensions[0]?.exitCode, 0);
    assert.equal(down.extensions[0]?.exitedBeforeDeadline, true);
    assert.equal(
      quiet.attempts.length,
      0,
      `exported in pass-through mode: ${JSON.stringify(quiet.attempts)}`,
    );
    const errors = extensionLines().filter((l) => l.includes(' ERROR '));
    assert.equal(errors.length, 1, errors.join('\n'));
    assert.match(errors[0] ?? '', /invalid configuration.*flush\.grace_ms.*pass-through mode/);
    assert.match(extensionLines().at(-1) ?? '', /shutdown \(spindown\): pass-through mode/);
  } finally {
    await sim.close();
    await quiet.close();
  }
});
