// OTLP/HTTP retry rules, end to end over real sockets: pipeline → fault proxy → sink.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { SignalTarget } from '../../src/export/destination.js';
import type { ExporterOptions } from '../../src/export/otlp-http-exporter.js';
import { backoffDelayMs, isRetryableStatus, parseRetryAfterMs } from '../../src/export/retry-policy.js';
import { VirtualTime } from '../support/virtual-time.js';
import type { Scheduler } from '../../src/model/time.js';
import { ExportPipeline } from '../../src/pipeline/export-pipeline.js';
import { responseType } from '../../tools/otlp/decode.js';
import { spanChunk, spanNames } from '../support/fakes/chunks.js';
import { destination, FAST_RETRIES, recordingLog } from '../support/fakes/destinations.js';
import { type FaultProxy, startFaultProxy } from '../support/fakes/fault-proxy.js';
import { type OtlpSink, type OtlpSinkOptions, startOtlpSink } from '../../tools/otlp/sink.js';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface Setup {
  sink: OtlpSink;
  proxy: FaultProxy;
  pipeline: ExportPipeline;
  log: ReturnType<typeof recordingLog>;
}

async function setup(
  options: {
    sink?: OtlpSinkOptions;
    target?: Partial<Omit<SignalTarget, 'url'>>;
    exporter?: Omit<ExporterOptions, 'limiter' | 'log'>;
    time?: VirtualTime;
  } = {},
): Promise<Setup> {
  const sink = await startOtlpSink(options.sink);
  const time = options.time;
  const proxy = await startFaultProxy(sink.url, time ? () => time.now() : undefined);
  const log = recordingLog();
  const pipeline = new ExportPipeline({
    ...(time && { now: () => time.now() }),
    destinations: [destination('backend', proxy.url, { signals: ['traces'], ...options.target })],
    log,
    exporter: { ...FAST_RETRIES, ...options.exporter },
  });
  cleanups.push(
    () => pipeline.shutdown(),
    () => proxy.close(),
    () => sink.close(),
  );
  return { sink, proxy, pipeline, log };
}

const inMs = (ms: number) => Date.now() + ms;

/**
 * Virtual time for the retry waits: the exporter's timers run on `time`; requests are real. The
 * scheduler records when each timer is due, so a test can move time exactly to the wait it expects.
 */
function virtualTimers(): { time: VirtualTime; scheduler: Scheduler; dueTimes: number[] } {
  const time = new VirtualTime(Date.now());
  const dueTimes: number[] = [];
  const scheduler: Scheduler = {
    setTimeout(callback, delayMs) {
      dueTimes.push(time.now() + Math.max(0, delayMs));
      return time.setTimeout(callback, delayMs);
    },
  };
  return { time, scheduler, dueTimes };
}

/** Waits (on real I/O) until a timer due in [fromMs, toMs] exists, then moves virtual time to it. */
async function advanceToWait(
  timers: ReturnType<typeof virtualTimers>,
  fromMs: number,
  toMs: number,
): Promise<number> {
  for (;;) {
    const due = timers.dueTimes.find((t) => t >= fromMs && t <= toMs);
    if (due !== undefined) {
      await timers.time.advanceTo(due);
      return due;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Resolves once `ready()` holds, letting real I/O run meanwhile (virtual time stands still). */
async function until(ready: () => boolean): Promise<void> {
  while (!ready()) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * Runs a flush whose requests are answered at once: each time the exporter starts a wait that ends
 * before `budgetEndMs` (a backoff; an attempt's own timeout runs to the budget's end), virtual time
 * moves to it. Time never moves while a request is in flight, so no attempt is cut by it.
 */
async function driveWaits<T>(
  timers: ReturnType<typeof virtualTimers>,
  work: Promise<T>,
  budgetEndMs: number,
): Promise<T> {
  let done = false;
  const finished = work.then((value) => {
    done = true;
    return value;
  });
  let seen = 0;
  while (!done) {
    const due = timers.dueTimes.slice(seen).find((t) => t < budgetEndMs);
    seen = timers.dueTimes.length;
    if (due !== undefined) await timers.time.advanceTo(due);
    else await new Promise((resolve) => setImmediate(resolve));
  }
  return finished;
}

describe('retry policy primitives', () => {
  it('classifies statuses as the OTLP specification does', () => {
    assert.deepEqual(
      [200, 400, 401, 403, 404, 408, 413, 429, 500, 501, 502, 503, 504].filter(isRetryableStatus),
      [429, 502, 503, 504],
    );
  });

  it('parses Retry-After seconds and HTTP dates', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    assert.equal(parseRetryAfterMs('7', now), 7000);
    assert.equal(parseRetryAfterMs(' 0 ', now), 0);
    assert.equal(parseRetryAfterMs('Wed, 01 Jan 2025 00:00:03 GMT', now), 3000);
    assert.equal(parseRetryAfterMs('Tue, 31 Dec 2024 23:00:00 GMT', now), 0);
    assert.equal(parseRetryAfterMs('soon', now), undefined);
    assert.equal(parseRetryAfterMs('-5', now), undefined);
    assert.equal(parseRetryAfterMs(undefined, now), undefined);
  });

  it('backs off exponentially with full jitter under a cap', () => {
    const policy = { initialMs: 100, maxMs: 1000 };
    assert.equal(
      backoffDelayMs(0, policy, () => 0),
      0,
    );
    assert.equal(
      backoffDelayMs(0, policy, () => 0.999),
      99,
    );
    assert.equal(
      backoffDelayMs(3, policy, () => 0.999),
      799,
    );
    assert.equal(
      backoffDelayMs(12, policy, () => 0.999),
      999,
    );
    const spread = new Set(Array.from({ length: 50 }, () => backoffDelayMs(2, policy)));
    assert.ok(spread.size > 10, 'jitter spreads waits');
  });
});

describe('retry matrix', () => {
  for (const status of [429, 502, 503, 504]) {
    it(`retries ${status} and delivers`, async () => {
      const { sink, proxy, pipeline } = await setup();
      proxy.script({ kind: 'status', status });
      pipeline.enqueue(spanChunk(3));
      const report = await pipeline.flush({ deadlineMs: inMs(3000), reason: 'test' });
      assert.equal(report.exportedItems, 3);
      assert.equal(report.requests, 2);
      assert.deepEqual(report.droppedByReason, {});
      assert.equal(sink.items('traces'), 3);
      assert.equal(pipeline.stats.snapshot().retries, 1);
      assert.equal(pipeline.pending().items, 0);
    });
  }

  // 400 for several items is bisected instead (below).
  for (const status of [401, 403, 404, 500, 501]) {
    it(`drops and counts on ${status}, without retrying`, async () => {
      const { sink, proxy, pipeline, log } = await setup();
      proxy.script({
        kind: 'status',
        status,
        headers: { 'content-type': 'application/json' },
        body: '{"error":"nope"}',
      });
      pipeline.enqueue(spanChunk(4));
      const report = await pipeline.flush({ deadlineMs: inMs(3000), reason: 'test' });
      assert.equal(report.requests, 1);
      assert.deepEqual(report.droppedByReason, { [`http_${status}`]: 4 });
      assert.equal(report.retryLaterItems, 0);
      assert.equal(pipeline.pending().items, 0);
      assert.equal(sink.items('traces'), 0);
      assert.equal(pipeline.stats.snapshot().droppedByReason[`http_${status}`], 4);
      assert.match(log.text(), new RegExp(`HTTP ${status}: \\{"error":"nope"\\}; 4 items dropped`));
    });
  }

  it('retries a connection cut mid-request', async () => {
    const { sink, proxy, pipeline } = await setup();
    proxy.script({ kind: 'cut' });
    pipeline.enqueue(spanChunk(2));
    const report = await pipeline.flush({ deadlineMs: inMs(3000), reason: 'test' });
    assert.equal(report.exportedItems, 2);
    assert.equal(sink.items('traces'), 2);
    assert.equal(pipeline.stats.snapshot().retries, 1);
  });

  it('keeps data for the next flush when the backend refuses connections, then redrives it', async () => {
    const sink = await startOtlpSink();
    cleanups.push(() => sink.close());
    const closedPort = await startOtlpSink();
    const deadUrl = closedPort.url;
    await closedPort.close();
    const pipeline = new ExportPipeline({
      destinations: [destination('down', deadUrl, { signals: ['traces'] })],
      log: recordingLog(),
      exporter: { ...FAST_RETRIES, maxRetries: 2 },
    });
    cleanups.push(() => pipeline.shutdown());
    const chunk = spanChunk(5, { createdAtMs: Date.now() - 10_000 });
    pipeline.enqueue(chunk);
    const report = await pipeline.flush({ deadlineMs: inMs(3000), reason: 'test' });
    assert.equal(report.requests, 3, 'first attempt + 2 retries');
    assert.equal(report.retryLaterItems, 5);
    assert.deepEqual(report.droppedByReason, {});
    assert.equal(report.deadlineHit, false);
    assert.deepEqual(pipeline.pending(), {
      items: 5,
      bytes: chunk.bytes,
      oldestCreatedAtMs: chunk.createdAtMs,
    });
  });
});

describe('Retry-After and deadlines', () => {
  it('honours Retry-After in seconds', async () => {
    const timers = virtualTimers();
    const { sink, proxy, pipeline } = await setup({
      time: timers.time,
      exporter: { scheduler: timers.scheduler },
    });
    proxy.script({ kind: 'status', status: 503, headers: { 'retry-after': '1' } });
    pipeline.enqueue(spanChunk(1));
    const start = timers.time.now();
    const flushed = pipeline.flush({ deadlineMs: start + 4000, reason: 'test' });
    // The exporter waits for the Retry-After second, in virtual time.
    await advanceToWait(timers, start + 950, start + 1100);
    const report = await flushed;
    assert.equal(report.exportedItems, 1);
    const [first, second] = proxy.log;
    assert.ok(second!.atMs - first!.atMs >= 950, `waited ${second!.atMs - first!.atMs} ms`);
    assert.equal(sink.items('traces'), 1);
  });

  it('honours Retry-After as an HTTP date', async () => {
    const timers = virtualTimers();
    const { proxy, pipeline } = await setup({ time: timers.time, exporter: { scheduler: timers.scheduler } });
    const start = timers.time.now();
    // HTTP dates have one-second resolution: aim a whole second at least one second ahead.
    const when = new Date(Math.ceil((start + 1000) / 1000) * 1000).toUTCString();
    proxy.script({ kind: 'status', status: 429, headers: { 'retry-after': when } });
    pipeline.enqueue(spanChunk(1));
    const flushed = pipeline.flush({ deadlineMs: start + 5000, reason: 'test' });
    // Virtual time stands still until then, so the wait ends exactly at the date. A wider window
    // could also hold the first attempt's own timeout (2 s after the start) and move time to it
    // before the 429 is read.
    await advanceToWait(timers, Date.parse(when), Date.parse(when));
    const report = await flushed;
    assert.equal(report.exportedItems, 1);
    const [first, second] = proxy.log;
    assert.ok(
      second!.atMs >= Date.parse(when) - 5,
      `retried at ${second!.atMs}, asked for ${Date.parse(when)}`,
    );
    assert.ok(second!.atMs - first!.atMs >= 950);
  });

  it('a Retry-After beyond the deadline returns the batch at once, and holds later flushes back', async () => {
    const timers = virtualTimers();
    const { sink, proxy, pipeline } = await setup({
      time: timers.time,
      exporter: { scheduler: timers.scheduler },
    });
    proxy.script({ kind: 'status', status: 429, headers: { 'retry-after': '30' } });
    pipeline.enqueue(spanChunk(2));
    const started = timers.time.now();
    // Virtual time never moves here: a wait towards the deadline would never end.
    const report = await pipeline.flush({ deadlineMs: started + 1500, reason: 'test' });
    assert.equal(timers.time.now(), started, 'did not sleep towards the deadline');
    assert.equal(report.retryLaterItems, 2);
    assert.equal(report.requests, 1);
    const again = await pipeline.flush({ deadlineMs: started + 1000, reason: 'test' });
    assert.equal(again.requests, 0, 'the server asked for 30 s');
    assert.equal(pipeline.pending().items, 2);
    assert.equal(sink.items('traces'), 0);
  });

  it('backoff never runs past the deadline; what is left is retry-later, then redriven', async () => {
    const timers = virtualTimers();
    const { sink, proxy, pipeline } = await setup({
      time: timers.time,
      exporter: { backoff: { initialMs: 100, maxMs: 400 }, maxRetries: 100, scheduler: timers.scheduler },
    });
    proxy.script(...Array.from({ length: 200 }, () => ({ kind: 'status' as const, status: 503 })));
    pipeline.enqueue(spanChunk(3));
    const deadlineMs = timers.time.now() + 700;
    const report = await driveWaits(timers, pipeline.flush({ deadlineMs, reason: 'test' }), deadlineMs - 25);
    const late = timers.time.now() - deadlineMs;
    assert.ok(late <= 0, `finished ${late} ms after the deadline`);
    assert.ok(report.requests >= 2, 'retried while time allowed');
    assert.equal(report.retryLaterItems, 3);
    assert.equal(report.deadlineHit, true);
    assert.deepEqual(report.droppedByReason, {});
    proxy.clearScript();
    const next = await pipeline.flush({ deadlineMs: timers.time.now() + 2000, reason: 'test' });
    assert.equal(next.exportedItems, 3);
    assert.equal(sink.items('traces'), 3);
  });

  it('cuts a hanging attempt at the deadline and keeps the data', async () => {
    const timers = virtualTimers();
    const { proxy, pipeline } = await setup({
      time: timers.time,
      target: { timeoutMs: 10_000 },
      exporter: { scheduler: timers.scheduler },
    });
    proxy.script({ kind: 'hang' });
    pipeline.enqueue(spanChunk(2));
    const deadlineMs = timers.time.now() + 400;
    const flushed = pipeline.flush({ deadlineMs, reason: 'test' });
    await until(() => proxy.log[0]?.outcome === 'hang');
    // Only the deadline is reached; the attempt's 10 s timeout never comes (the flush would hang).
    await timers.time.advanceTo(deadlineMs);
    const report = await flushed;
    const late = timers.time.now() - deadlineMs;
    assert.ok(late <= 0, `finished ${late} ms after the deadline`);
    assert.equal(report.retryLaterItems, 2);
    assert.equal(report.deadlineHit, true);
    assert.equal(pipeline.pending().items, 2);
  });

  it('times out a hanging attempt after the configured timeout and retries', async () => {
    const { sink, proxy, pipeline } = await setup({ target: { timeoutMs: 200 } });
    proxy.script({ kind: 'hang' });
    pipeline.enqueue(spanChunk(2));
    const report = await pipeline.flush({ deadlineMs: inMs(3000), reason: 'test' });
    assert.equal(report.exportedItems, 2);
    assert.ok(report.durationMs >= 195, `took ${report.durationMs} ms`);
    assert.equal(sink.items('traces'), 2);
  });
});

describe('413 and partial success', () => {
  it('splits a batch the backend finds too large, down to what it accepts', async () => {
    const limit = 3_000;
    const { sink, pipeline } = await setup({
      sink: { respond: (r) => (r.body.length > limit ? { status: 413 } : undefined) },
    });
    const chunks = Array.from({ length: 8 }, () => spanChunk(1, { padBytes: 900 }));
    for (const c of chunks) pipeline.enqueue(c);
    const report = await pipeline.flush({ deadlineMs: inMs(3000), reason: 'test' });
    assert.equal(report.exportedItems, 8);
    assert.deepEqual(report.droppedByReason, {});
    assert.ok(sink.requests.every((r) => r.body.length <= limit));
    assert.ok(sink.attempts.some((a) => a.status === 413));
    const expected = chunks.flatMap((c) => spanNames([{ decoded: c.json() }]));
    assert.deepEqual(spanNames(sink.requests), expected, 'all spans, in order');
  });

  it('drops a single chunk that is still too large, and delivers the rest', async () => {
    const { sink, pipeline } = await setup({
      sink: { respond: (r) => (r.body.length > 5_000 ? { status: 413 } : undefined) },
    });
    pipeline.enqueue(spanChunk(2));
    pipeline.enqueue(spanChunk(1, { padBytes: 8_000 }));
    pipeline.enqueue(spanChunk(3));
    const report = await pipeline.flush({ deadlineMs: inMs(3000), reason: 'test' });
    assert.equal(report.exportedItems, 5);
    assert.deepEqual(report.droppedByReason, { payload_too_large: 1 });
    assert.equal(sink.items('traces'), 5);
  });

  it('bisects a batch refused with 400: every chunk but the malformed one is delivered', async () => {
    const chunks = Array.from({ length: 9 }, () => spanChunk(2));
    const bad = new Set(spanNames([{ decoded: chunks[5]!.json() }]));
    const { sink, pipeline, log } = await setup({
      sink: { respond: (r) => (spanNames([r]).some((n) => bad.has(n)) ? { status: 400 } : undefined) },
    });
    for (const c of chunks) pipeline.enqueue(c);
    const report = await pipeline.flush({ deadlineMs: inMs(3000), reason: 'test' });
    assert.equal(report.exportedItems, 16);
    assert.deepEqual(report.droppedByReason, { http_400: 2 });
    const expected = chunks.filter((_, i) => i !== 5).flatMap((c) => spanNames([{ decoded: c.json() }]));
    assert.deepEqual(spanNames(sink.requests), expected, 'all good spans, in order');
    // 1 + 2 per level down to the bad chunk (9 → 5 → 2 → 1 … with the good halves sent as they are).
    assert.ok(sink.attempts.length <= 1 + 2 * Math.ceil(Math.log2(9)), `${sink.attempts.length} requests`);
    assert.match(log.text(), /HTTP 400/);
  });

  it('bisects one chunk refused with 400 by its spans: all but the bad span delivered, OTLP/JSON too', async () => {
    for (const protocol of ['http/protobuf', 'http/json'] as const) {
      const chunk = spanChunk(9);
      const names = spanNames([{ decoded: chunk.json() }]);
      const bad = names[4]!;
      const { sink, pipeline } = await setup({
        target: { protocol },
        sink: { respond: (r) => (spanNames([r]).includes(bad) ? { status: 400 } : undefined) },
      });
      pipeline.enqueue(chunk);
      const report = await pipeline.flush({ deadlineMs: inMs(3000), reason: 'test' });
      assert.equal(report.exportedItems, 8, protocol);
      assert.deepEqual(report.droppedByReason, { http_400: 1 }, protocol);
      assert.deepEqual(
        spanNames(sink.requests),
        names.filter((n) => n !== bad),
        `${protocol}: every other span, in order`,
      );
    }
  });

  it('a 400 for a single span drops it without splitting (one request)', async () => {
    const { sink, pipeline } = await setup({ sink: { respond: () => ({ status: 400 }) } });
    pipeline.enqueue(spanChunk(1));
    const report = await pipeline.flush({ deadlineMs: inMs(3000), reason: 'test' });
    assert.equal(report.requests, 1);
    assert.deepEqual(report.droppedByReason, { http_400: 1 });
    assert.equal(sink.attempts.length, 1);
  });

  it('stops bisecting a backend that refuses everything with 400 after a bounded number of requests', async () => {
    const { sink, pipeline } = await setup({ sink: { respond: () => ({ status: 400 }) } });
    for (let i = 0; i < 200; i++) pipeline.enqueue(spanChunk(1));
    const report = await pipeline.flush({ deadlineMs: inMs(5000), reason: 'test' });
    assert.equal(report.exportedItems, 0);
    assert.deepEqual(report.droppedByReason, { http_400: 200 });
    assert.ok(sink.attempts.length <= 1 + 22, `${sink.attempts.length} requests`);
  });

  it('counts and logs a protobuf partialSuccess without retrying', async () => {
    const type = responseType('traces');
    const body = Buffer.from(
      type
        .encode(type.fromObject({ partialSuccess: { rejectedSpans: 3, errorMessage: 'span too old' } }))
        .finish(),
    );
    const { sink, pipeline, log } = await setup({
      sink: { respond: () => ({ status: 200, headers: { 'content-type': 'application/x-protobuf' }, body }) },
    });
    pipeline.enqueue(spanChunk(5));
    const report = await pipeline.flush({ deadlineMs: inMs(3000), reason: 'test' });
    assert.equal(report.requests, 1);
    assert.equal(report.exportedItems, 5);
    assert.equal(pipeline.stats.snapshot().rejected, 3);
    assert.match(log.text(), /rejected 3 items: span too old/);
    assert.equal(sink.items('traces'), 5);
  });

  it('sends OTLP/JSON when asked and reads a JSON partialSuccess (202)', async () => {
    const { sink, pipeline } = await setup({
      target: { protocol: 'http/json' },
      sink: {
        respond: () => ({
          status: 202,
          headers: { 'content-type': 'application/json' },
          body: '{"partialSuccess":{"rejectedSpans":"2","errorMessage":"dup"}}',
        }),
      },
    });
    pipeline.enqueue(spanChunk(2));
    pipeline.enqueue(spanChunk(3));
    const report = await pipeline.flush({ deadlineMs: inMs(3000), reason: 'test' });
    assert.equal(report.exportedItems, 5);
    assert.equal(sink.requests.length, 1);
    assert.equal(sink.requests[0]!.headers['content-type'], 'application/json');
    assert.equal(sink.requests[0]!.headers['content-encoding'], 'gzip');
    assert.equal(sink.items('traces'), 5, 'one JSON request carrying both chunks');
    assert.equal(pipeline.stats.snapshot().rejected, 2);
  });
});
