// Bad OTLP requests against the extension's receiver while it runs in the simulator, in the middle of
// invocations of an instrumented function: each gets the specific OTLP error answer (400 with a
// google.rpc.Status body, 415, 413 — a gzip bomb refused as soon as it inflates past the limit, a
// 50 MB body without being buffered), and the function's own exports and the platform telemetry of
// every invocation still reach the collector, joined into one trace per invocation.
//
// The environment freezes between invocations as on Lambda, so the bad requests are sent while an
// invocation is running (the handler holds its backend call open for a while).

import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { createGzip } from 'node:zlib';
import {
  attributesToObject,
  type Collector,
  type CollectorOutput,
  collectorBinary,
  startCollector,
} from '../support/collector/collector.js';
import { readMemoryKb } from '../../tools/simulator/index.js';
import type { InvocationResult } from '../../tools/simulator/types.js';
import { decodeStatus, encodeRequest } from '../../tools/otlp/decode.js';
import { type ExtensionEnvironment, extensionEnvironment, FUNCTIONS_DIR } from '../support/e2e-harness.js';

const MiB = 1024 * 1024;
const GRPC_INVALID_ARGUMENT = 3;
const GRPC_RESOURCE_EXHAUSTED = 8;

interface Answer {
  status: number;
  contentType: string | undefined;
  connection: string | undefined;
  body: Buffer;
  /** Request start to the complete answer. */
  ms: number;
}

let col: Collector;
let env: ExtensionEnvironment;

before(
  async () => {
    await collectorBinary();
    col = await startCollector();
    env = await extensionEnvironment({
      handler: 'otel-handler.mjs',
      endpoint: col.endpoint,
      functionNodeArgs: ['--import', join(FUNCTIONS_DIR, 'otel-setup.mjs')],
      // The handler continues the X-Ray header: active tracing makes its spans sampled.
      tracing: 'active',
      timeoutMs: 15_000,
      initTimeoutMs: 20_000,
      env: { FIXTURE_OTEL_PARENT: 'xray', FIXTURE_OTEL_VARIANT: 'bad-payloads' },
    });
    const init = await env.sim.start();
    assert.equal(init.status, 'success', `init failed: ${init.errorType}`);
  },
  { timeout: 20 * 60_000 },
);

after(async () => {
  await env?.sim.close();
  await col?.stop();
});

/**
 * Posts `body` (bytes, or a stream sent chunked) and resolves with the answer as soon as it is
 * complete, even while the request body is still being written (a server may answer early).
 */
function post(path: string, headers: Record<string, string>, body: Uint8Array | Readable): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: env.receiverPort, path, method: 'POST', headers, agent: false },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: res.headers['content-type'],
            connection: res.headers.connection,
            body: Buffer.concat(parts),
            ms: performance.now() - started,
          }),
        );
        res.on('error', reject);
      },
    );
    // After an early answer the server may close while we still write: only a failure before any
    // answer is an error.
    req.on('error', (err) => reject(new Error(`${path} ${JSON.stringify(headers)}: ${err.message}`)));
    if (body instanceof Readable) {
      body.on('error', () => req.destroy());
      body.pipe(req);
    } else req.end(body);
  });
}

/** A valid ExportTraceServiceRequest with one span. */
function traceRequest(): Uint8Array {
  return encodeRequest('traces', {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'bad-payload-client' } }] },
        scopeSpans: [
          {
            scope: { name: 'bad-payloads' },
            spans: [
              {
                traceId: randomBytes(16),
                spanId: randomBytes(8),
                name: 'a span whose request gets cut',
                kind: 1,
                startTimeUnixNano: '1700000000000000000',
                endTimeUnixNano: '1700000000100000000',
                attributes: [{ key: 'padding', value: { stringValue: 'x'.repeat(200) } }],
              },
            ],
          },
        ],
      },
    ],
  });
}

/** gzip of `inflatedBytes` zero bytes, made without holding them in memory. */
async function gzipBomb(inflatedBytes: number): Promise<Buffer> {
  const zeros = Buffer.alloc(MiB);
  const gzip = createGzip({ level: 9 });
  const parts: Buffer[] = [];
  gzip.on('data', (c: Buffer) => parts.push(c));
  const done = new Promise<void>((resolve, reject) => {
    gzip.on('end', resolve);
    gzip.on('error', reject);
  });
  for (let written = 0; written < inflatedBytes; written += zeros.length) {
    if (!gzip.write(zeros)) await new Promise((r) => gzip.once('drain', r));
  }
  gzip.end();
  await done;
  return Buffer.concat(parts);
}

/** `total` bytes in 64 KiB pieces, never all in memory. */
function zeroStream(total: number): Readable {
  const piece = Buffer.alloc(64 * 1024);
  let left = total;
  return new Readable({
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const n = Math.min(left, piece.length);
      left -= n;
      this.push(n === piece.length ? piece : piece.subarray(0, n));
    },
  });
}

function assertStatusBody(answer: Answer, code: number, message: RegExp, what: string): void {
  assert.equal(answer.contentType, 'application/x-protobuf', `${what}: content type`);
  const status = decodeStatus(answer.body);
  assert.equal(status.code, code, `${what}: ${JSON.stringify(status)}`);
  assert.match(status.message, message, what);
}

/** Every invocation made, in order. */
const invocations: InvocationResult[] = [];

/**
 * Runs `during` while an invocation holding its backend call for `holdMs` is in progress. Should the
 * requests outlast it (a loaded machine), further invocations keep the environment thawed until they
 * are answered. Every invocation made is recorded.
 */
async function duringInvocation<T>(holdMs: number, during: () => Promise<T>): Promise<T> {
  const requestId = randomUUID();
  const invocation = env.sim.invoke({ holdMs }, { requestId });
  // The environment is thawed from here until the function responds.
  await env.sim.waitFor('runtime-invocation', (e) => e.requestId === requestId, 10_000);
  let settled = false;
  const work = during().finally(() => {
    settled = true;
  });
  work.catch(() => {});
  recordSuccess(await invocation);
  while (!settled) recordSuccess(await env.sim.invoke({ holdMs: 200 }));
  return work;
}

function recordSuccess(result: InvocationResult): void {
  assert.equal(result.status, 'success', `${result.errorType} ${result.responseText}`);
  invocations.push(result);
}

test('malformed, mistyped and oversized requests get their OTLP errors mid-invocation', {
  timeout: 60_000,
}, async (t) => {
  recordSuccess(await env.sim.invoke({ n: 0 }));
  const extensionPid = Object.values(env.sim.pids().extensions)[0];
  assert.ok(extensionPid, 'extension pid');
  const bomb = await gzipBomb(256 * MiB);
  assert.ok(bomb.length < MiB, `the bomb is small on the wire (${bomb.length} bytes)`);
  const memoryBefore = readMemoryKb(extensionPid);

  const answers = await duringInvocation(2500, async () => {
    const valid = traceRequest();
    const [truncated, wrongType, wrongEncoding, bombAnswer, declaredHuge] = await Promise.all([
      post('/v1/traces', { 'content-type': 'application/x-protobuf' }, valid.subarray(0, valid.length - 40)),
      post('/v1/traces', { 'content-type': 'text/plain' }, Buffer.from('not OTLP')),
      post('/v1/logs', { 'content-type': 'application/x-protobuf', 'content-encoding': 'zstd' }, valid),
      post('/v1/traces', { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' }, bomb),
      post(
        '/v1/traces',
        { 'content-type': 'application/x-protobuf', 'content-length': String(50 * 1000 * 1000) },
        zeroStream(50 * 1000 * 1000),
      ),
    ]);
    // A body of unknown length grows its share of the memory budget as it arrives: next to the
    // uploads above (the bomb inflating holds most of it) it would get 503 + Retry-After; alone it
    // reaches the size limit.
    const streamedHuge = await post(
      '/v1/metrics',
      { 'content-type': 'application/x-protobuf' },
      zeroStream(50 * 1000 * 1000),
    );
    return { truncated, wrongType, wrongEncoding, bombAnswer, declaredHuge, streamedHuge };
  });

  assert.equal(answers.truncated.status, 400);
  assertStatusBody(
    answers.truncated,
    GRPC_INVALID_ARGUMENT,
    /not a valid protobuf ExportTraceServiceRequest/,
    'truncated',
  );
  assert.equal(answers.wrongType.status, 415);
  assertStatusBody(
    answers.wrongType,
    GRPC_INVALID_ARGUMENT,
    /unsupported content type "text\/plain"/,
    'content type',
  );
  assert.equal(answers.wrongEncoding.status, 415);
  assertStatusBody(
    answers.wrongEncoding,
    GRPC_INVALID_ARGUMENT,
    /unsupported content encoding "zstd"/,
    'encoding',
  );

  assert.equal(answers.bombAnswer.status, 413);
  assertStatusBody(
    answers.bombAnswer,
    GRPC_RESOURCE_EXHAUSTED,
    /decompressed request body exceeds/,
    'gzip bomb',
  );
  // Inflating 256 MiB would take far longer; stopping at the limit takes milliseconds (margin for load).
  assert.ok(answers.bombAnswer.ms < 2000, `gzip bomb answered after ${answers.bombAnswer.ms.toFixed(0)} ms`);

  // A declared 50 MB body is refused from its header; a streamed one once it passes the limit. Both
  // answers say the connection will not be reused.
  assert.equal(answers.declaredHuge.status, 413);
  assertStatusBody(
    answers.declaredHuge,
    GRPC_RESOURCE_EXHAUSTED,
    /exceeds the \d+-byte limit/,
    '50 MB declared',
  );
  assert.equal(answers.streamedHuge.status, 413);
  assertStatusBody(
    answers.streamedHuge,
    GRPC_RESOURCE_EXHAUSTED,
    /exceeds the \d+-byte limit/,
    '50 MB streamed',
  );
  assert.equal(answers.streamedHuge.connection, 'close');

  // The bomb never inflated: inflating it alone would take 256 MiB. (Reading up to the limit,
  // draining 100 MB and the garbage the collector has not returned yet account for the rest.)
  const memoryAfter = readMemoryKb(extensionPid);
  assert.ok(memoryBefore && memoryAfter, 'extension memory readable');
  const grewMiB = (memoryAfter.peakKb - memoryBefore.peakKb) / 1024;
  t.diagnostic(`extension peak RSS +${grewMiB.toFixed(1)} MiB`);
  assert.ok(grewMiB < 128, `extension peak RSS grew by ${grewMiB.toFixed(1)} MiB`);
});

test('a second round during another invocation, then normal invocations: all delivered', {
  timeout: 60_000,
}, async () => {
  const answers = await duringInvocation(1500, () => {
    const valid = traceRequest();
    return Promise.all([
      post('/v1/traces', { 'content-type': 'application/x-protobuf' }, valid.subarray(0, 17)),
      post('/v1/traces', { 'content-type': 'application/json' }, Buffer.from('{"resourceSpans": [')),
      post(
        '/v1/logs',
        { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' },
        Buffer.from('no gzip'),
      ),
      // A good request from another client at the same time is accepted.
      post('/v1/traces', { 'content-type': 'application/x-protobuf' }, valid),
    ]);
  });
  assert.deepEqual(
    answers.map((a) => a.status),
    [400, 400, 400, 200],
  );
  for (let i = 0; i < 3; i++) recordSuccess(await env.sim.invoke({ n: i }));

  const down = await env.sim.shutdown();
  assert.ok(
    down.extensions.every((e) => e.exitedBeforeDeadline && e.exitCode === 0),
    JSON.stringify(down),
  );

  const complete = (out: CollectorOutput) =>
    invocations.every((inv) => {
      const report = inv.response as { spanId: string };
      return out.spans.some((s) => s.item.spanId === report.spanId);
    });
  const out = await col.waitFor(complete, 15_000).catch(() => col.read());
  for (const inv of invocations) {
    const report = inv.response as { traceId: string; spanId: string; children: { spanId: string }[] };
    const handler = out.spans.find((s) => s.scope.name === 'otel-fixture' && s.item.spanId === report.spanId);
    assert.ok(handler, `handler span of ${inv.requestId} delivered`);
    const platform = out.spans.find(
      (s) =>
        s.scope.name === 'otel-lambda-extension' &&
        attributesToObject(s.item.attributes)['faas.invocation_id'] === inv.requestId &&
        s.item.kind === 2,
    );
    assert.ok(platform, `platform span of ${inv.requestId} delivered`);
    assert.equal(handler.item.parentSpanId, platform.item.spanId, 'handler under the platform span');
    assert.equal(handler.item.traceId, platform.item.traceId);
    for (const child of report.children) {
      assert.ok(
        out.spans.some((s) => s.item.spanId === child.spanId && s.item.traceId === report.traceId),
        `child span ${child.spanId} of ${inv.requestId} delivered`,
      );
    }
    const sdkLogs = out.logRecords.filter(
      (r) => r.scope.name === 'otel-fixture' && String(r.item.body?.stringValue).includes(inv.requestId),
    );
    assert.equal(sdkLogs.length, 2, `SDK log records of ${inv.requestId}`);
  }
  const counter = out.metricPoints
    .filter(
      (m) =>
        m.item.name === 'fixture.requests' &&
        attributesToObject(m.resource.attributes)['fixture.variant'] === 'bad-payloads',
    )
    .flatMap((m) => m.item.sum?.dataPoints ?? [])
    .reduce((max, p) => Math.max(max, Number(p.asDouble ?? p.asInt ?? 0)), 0);
  assert.equal(counter, invocations.length, 'every invocation counted by the function');
  // The good request from the other client went through too; none of the bad ones left anything.
  assert.ok(out.spans.some((s) => s.scope.name === 'bad-payloads'));
  assert.ok(
    !env.extensionLines().some((l) => /internal error|ERROR/.test(l)),
    env.extensionLines().join('\n'),
  );
});
