// The export pipeline over real sockets: fan-out isolation, queue bounds, redrive, concurrent
// flushes, producers and self-telemetry.

import assert from 'node:assert/strict';
import { type AddressInfo, createServer } from 'node:net';
import { after, describe, it } from 'node:test';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ChunkProducer, TelemetryChunk } from '../../src/model/chunk.js';
import type { FlushTarget } from '../../src/model/flush-contract.js';
import { ExportPipeline } from '../../src/pipeline/export-pipeline.js';
import { SELF_TELEMETRY_SCOPE } from '../../src/pipeline/self-telemetry.js';
import { allMetrics, attrs, dataPoints, type MetricsRequest } from '../../tools/otlp/decode.js';
import { logChunk, metricChunk, spanChunk, spanNames } from '../support/fakes/chunks.js';
import { destination, FAST_RETRIES, recordingLog } from '../support/fakes/destinations.js';
import { startFaultProxy } from '../support/fakes/fault-proxy.js';
import { startOtlpSink } from '../../tools/otlp/sink.js';
import { VirtualTime } from '../support/virtual-time.js';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function sink() {
  const s = await startOtlpSink();
  cleanups.push(() => s.close());
  return s;
}

async function proxyTo(url: string) {
  const p = await startFaultProxy(url);
  cleanups.push(() => p.close());
  return p;
}

function pipelineOf(options: ConstructorParameters<typeof ExportPipeline>[0]) {
  // Type-level contract: the flush manager drives the pipeline through this interface.
  const p: ExportPipeline & FlushTarget = new ExportPipeline(options);
  cleanups.push(() => p.shutdown());
  return p;
}

const inMs = (ms: number) => Date.now() + ms;

/** Resolves once `ready()` holds, letting real I/O run meanwhile (virtual time stands still). */
async function until(ready: () => boolean): Promise<void> {
  while (!ready()) await new Promise((resolve) => setImmediate(resolve));
}

/** A loopback port nothing listens on: connections are refused. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

describe('fan-out', () => {
  it('one destination hanging never delays or drops what another receives', async () => {
    const good = await sink();
    const badBackend = await sink();
    const bad = await proxyTo(badBackend.url);
    bad.script(...Array.from({ length: 50 }, () => ({ kind: 'hang' as const })));
    // Requests are real; timeouts and the deadline are virtual, so the hanging destination's
    // attempts last exactly as long as the test says.
    const time = new VirtualTime(Date.now());
    const pipeline = pipelineOf({
      now: () => time.now(),
      destinations: [
        destination('bad', bad.url, { timeoutMs: 10_000, batch: { maxItems: 5, maxBytes: 1 << 20 } }),
        destination('good', good.url, { batch: { maxItems: 5, maxBytes: 1 << 20 } }),
      ],
      maxConcurrentRequests: 2,
      log: recordingLog(),
      exporter: { ...FAST_RETRIES, scheduler: time },
    });
    for (let i = 0; i < 10; i++) pipeline.enqueue(spanChunk(5));
    pipeline.enqueue(logChunk(4));
    const started = time.now();
    const deadlineMs = started + 1500;
    const flushing = pipeline.flush({ deadlineMs, reason: 'test' });
    // Time stands still while the bad destination hangs: the good one must complete regardless
    // (were it queued behind the hanging attempts, this would never hold).
    await until(() => good.items('traces') === 50 && good.items('logs') === 4);
    assert.equal(time.now(), started, 'good destination complete before any time passed');
    assert.equal(good.requests.length, 11, 'ten trace batches and one log batch through its own slot');
    await time.advanceTo(deadlineMs);
    const report = await flushing;
    assert.equal(report.exportedItems, 54);
    assert.equal(report.deadlineHit, true);
    assert.equal(report.retryLaterItems, 54, 'the hanging destination keeps all its data');
    assert.deepEqual(report.droppedByReason, {});
    assert.equal(pipeline.pending().items, 54);
    assert.equal(badBackend.items('traces'), 0);
    // Healthy again: the next flush delivers to it only (the good one has nothing left).
    bad.clearScript();
    const next = await pipeline.flush({ deadlineMs: time.now() + 3000, reason: 'test' });
    assert.equal(next.exportedItems, 54);
    assert.equal(badBackend.items('traces'), 50);
    assert.equal(good.items('traces'), 50, 'nothing sent twice');
  });

  it('routes each signal only to the destinations that take it', async () => {
    const all = await sink();
    const logsOnly = await sink();
    const pipeline = pipelineOf({
      destinations: [destination('all', all.url), destination('logs', logsOnly.url, { signals: ['logs'] })],
      log: recordingLog(),
    });
    pipeline.enqueue(spanChunk(2));
    pipeline.enqueue(logChunk(3));
    pipeline.enqueue(metricChunk({ temporality: 'delta' }));
    assert.equal(
      pipeline.pending().items,
      2 + 3 + 2 + 3,
      'a chunk waiting for two destinations counts twice',
    );
    const report = await pipeline.flush({ deadlineMs: inMs(2000), reason: 'test' });
    assert.equal(report.exportedItems, 10);
    assert.deepEqual([all.items('traces'), all.items('logs'), all.items('metrics')], [2, 3, 2]);
    assert.deepEqual(
      [logsOnly.items('traces'), logsOnly.items('logs'), logsOnly.items('metrics')],
      [0, 3, 0],
    );
  });
});

describe('queues and redrive', () => {
  it('drops the oldest when a queue is full and counts it by reason', async () => {
    const s = await sink();
    const pipeline = pipelineOf({
      destinations: [destination('d', s.url, { signals: ['traces'] })],
      queue: { maxItems: 10, maxBytes: 1 << 20 },
      log: recordingLog(),
    });
    const chunks = [spanChunk(4), spanChunk(4), spanChunk(4), spanChunk(4)];
    for (const c of chunks) pipeline.enqueue(c);
    assert.equal(pipeline.pending().items, 8);
    const report = await pipeline.flush({ deadlineMs: inMs(2000), reason: 'test' });
    assert.deepEqual(report.droppedByReason, { queue_full: 8 });
    assert.equal(report.droppedItems, 8);
    assert.deepEqual(
      spanNames(s.requests),
      spanNames([{ decoded: chunks[2]!.json() }, { decoded: chunks[3]!.json() }]),
    );
    assert.equal(pipeline.stats.snapshot().droppedByReason['queue_full'], 8);
    const quiet = await pipeline.flush({ deadlineMs: inMs(2000), reason: 'test' });
    assert.deepEqual(quiet.droppedByReason, {}, 'drops are reported once');
    assert.equal(quiet.droppedItems, 0);
  });

  it('a flush in the invocation path gives an unreachable destination one attempt and keeps the data', async () => {
    const s = await sink();
    const port = await closedPort();
    // Connections are refused at once (real); waits are virtual and move only when the test says.
    const time = new VirtualTime(Date.now());
    const dueTimes: number[] = [];
    const pipeline = pipelineOf({
      now: () => time.now(),
      destinations: [destination('d', `http://127.0.0.1:${port}`, { signals: ['traces'] })],
      log: recordingLog(),
      exporter: {
        backoff: { initialMs: 400, maxMs: 400 },
        maxRetries: 5,
        scheduler: {
          setTimeout(callback, delayMs) {
            dueTimes.push(time.now() + Math.max(0, delayMs));
            return time.setTimeout(callback, delayMs);
          },
        },
      },
    });
    pipeline.enqueue(spanChunk(3));
    // Time stands still: a backoff wait inside this flush would never end.
    const blocking = await pipeline.flush({
      deadlineMs: time.now() + 2000,
      reason: 'test',
      inInvocationPath: true,
    });
    assert.equal(blocking.durationMs, 0, 'no backoff wait in the invocation path');
    assert.equal(blocking.retryLaterItems, 3);
    assert.equal(pipeline.pending().items, 3, 'kept queued');
    assert.equal(pipeline.stats.snapshot().retries, 0);
    // Outside it, each backoff wait (due before the flush's end) is run out in virtual time.
    const backgroundEndMs = time.now() + 1500;
    let backgroundDone = false;
    const backgroundFlush = pipeline.flush({ deadlineMs: backgroundEndMs, reason: 'test' }).finally(() => {
      backgroundDone = true;
    });
    for (let seen = dueTimes.length; !backgroundDone; ) {
      const due = dueTimes.slice(seen).find((t) => t < backgroundEndMs - 25);
      seen = dueTimes.length;
      if (due !== undefined) await time.advanceTo(due);
      else await new Promise((resolve) => setImmediate(resolve));
    }
    const background = await backgroundFlush;
    assert.ok(pipeline.stats.snapshot().retries > 0, 'outside the invocation path it retries with backoff');
    assert.equal(background.retryLaterItems, 3);
    assert.equal(s.items('traces'), 0);
  });

  it('a flush in the invocation path still retries a destination that answers 503', async () => {
    const s = await sink();
    const proxy = await proxyTo(s.url);
    const pipeline = pipelineOf({
      destinations: [destination('d', proxy.url, { signals: ['traces'] })],
      log: recordingLog(),
      exporter: FAST_RETRIES,
    });
    proxy.script({ kind: 'status', status: 503 });
    pipeline.enqueue(spanChunk(2));
    const blocking = await pipeline.flush({ deadlineMs: inMs(2000), reason: 'test', inInvocationPath: true });
    assert.equal(blocking.exportedItems, 2);
    assert.equal(proxy.log.length, 2, 'the 503, then the retry');
  });

  it('redrives failed chunks first on the next flush, keeping their age', async () => {
    const s = await sink();
    const proxy = await proxyTo(s.url);
    const pipeline = pipelineOf({
      destinations: [destination('d', proxy.url, { signals: ['traces'] })],
      log: recordingLog(),
      exporter: { ...FAST_RETRIES, maxRetries: 1 },
    });
    proxy.script({ kind: 'status', status: 503 }, { kind: 'status', status: 503 });
    const old = spanChunk(2, { createdAtMs: Date.now() - 60_000 });
    pipeline.enqueue(old);
    const first = await pipeline.flush({ deadlineMs: inMs(2000), reason: 'end-of-invocation' });
    assert.equal(first.retryLaterItems, 2);
    assert.equal(pipeline.pending().oldestCreatedAtMs, old.createdAtMs);
    const newer = spanChunk(3);
    pipeline.enqueue(newer);
    const second = await pipeline.flush({ deadlineMs: inMs(2000), reason: 'periodic' });
    assert.equal(second.exportedItems, 5);
    assert.deepEqual(spanNames(s.requests), [
      ...spanNames([{ decoded: old.json() }]),
      ...spanNames([{ decoded: newer.json() }]),
    ]);
    assert.equal(pipeline.pending().oldestCreatedAtMs, undefined);
  });

  it('when newer data filled the queue during a failed flush, the returned oldest data is what gets dropped', async () => {
    const s = await sink();
    const proxy = await proxyTo(s.url);
    proxy.script({ kind: 'hang' });
    const pipeline = pipelineOf({
      destinations: [destination('d', proxy.url, { signals: ['traces'], timeoutMs: 10_000 })],
      queue: { maxItems: 10, maxBytes: 1 << 20 },
      log: recordingLog(),
    });
    const old = spanChunk(6);
    pipeline.enqueue(old);
    const flushing = pipeline.flush({ deadlineMs: inMs(300), reason: 'test' });
    const fresh = spanChunk(6);
    pipeline.enqueue(fresh);
    const report = await flushing;
    assert.deepEqual(report.droppedByReason, { queue_full: 6 });
    assert.equal(report.retryLaterItems, 0);
    assert.equal(pipeline.pending().items, 6);
    await pipeline.flush({ deadlineMs: inMs(2000), reason: 'test' });
    assert.deepEqual(spanNames(s.requests), spanNames([{ decoded: fresh.json() }]));
  });

  it('counts chunks no destination takes, and malformed chunks, instead of losing them silently', async () => {
    const s = await sink();
    const log = recordingLog();
    const pipeline = pipelineOf({ destinations: [destination('d', s.url, { signals: ['traces'] })], log });
    pipeline.enqueue(logChunk(3));
    pipeline.enqueue({ signal: 'bogus', items: 2 } as unknown as TelemetryChunk);
    const report = await pipeline.flush({ deadlineMs: inMs(1000), reason: 'test' });
    assert.deepEqual(report.droppedByReason, { no_destination: 3, invalid_chunk: 2 });
    assert.match(log.text(), /no destination takes logs/);
  });
});

describe('shutdown', () => {
  it('counts what a backend throttling to the end leaves queued, by reason and destination', async () => {
    const s = await sink();
    const proxy = await proxyTo(s.url);
    proxy.script(
      ...Array.from({ length: 20 }, () => ({
        kind: 'status' as const,
        status: 429,
        headers: { 'retry-after': '1' },
      })),
    );
    const pipeline = pipelineOf({
      destinations: [destination('d', proxy.url, { signals: ['traces', 'logs'] })],
      log: recordingLog(),
      exporter: FAST_RETRIES,
    });
    pipeline.enqueue(spanChunk(3));
    pipeline.enqueue(logChunk(2));
    const final = await pipeline.flush({ deadlineMs: inMs(1000), reason: 'shutdown', final: true });
    assert.equal(final.exportedItems, 0);
    assert.equal(final.retryLaterItems, 5, 'a 429 is retryable: the items stay queued');
    assert.ok(proxy.log.length > 0, 'the backend was asked');
    pipeline.shutdown();
    const totals = pipeline.stats.snapshot();
    assert.deepEqual(totals.droppedByReason, { unsent_at_shutdown: 5 });
    assert.equal(totals.queued, totals.exported + totals.dropped, 'every queued item is accounted for');
    assert.match(pipeline.stats.summary(), /dropped 5 \(unsent_at_shutdown=5\)/);
  });
});

describe('concurrent flushes', () => {
  it('never sends a chunk twice; a second call runs after the first, a third shares it', async () => {
    const s = await sink();
    const proxy = await proxyTo(s.url);
    proxy.script({ kind: 'delay', ms: 150 });
    const pipeline = pipelineOf({
      destinations: [destination('d', proxy.url, { signals: ['traces'] })],
      log: recordingLog(),
    });
    pipeline.enqueue(spanChunk(3));
    const first = pipeline.flush({ deadlineMs: inMs(3000), reason: 'a' });
    pipeline.enqueue(spanChunk(2));
    const second = pipeline.flush({ deadlineMs: inMs(3000), reason: 'b' });
    pipeline.enqueue(spanChunk(1));
    const third = pipeline.flush({ deadlineMs: inMs(3000), reason: 'c' });
    assert.equal(second, third);
    let firstDone = false;
    void first.then(() => {
      firstDone = true;
    });
    const r2 = await second;
    assert.ok(firstDone, 'the second flush ended after the first');
    const r1 = await first;
    // Data enqueued while the first flush runs may go out in its next round or in the follow-up flush.
    assert.equal(r1.exportedItems + r2.exportedItems, 6);
    const names = spanNames(s.requests);
    assert.equal(names.length, 6);
    assert.equal(new Set(names).size, 6);
  });

  it('an urgent flush pulls a running flush in to its own deadline', async () => {
    const s = await sink();
    const proxy = await proxyTo(s.url);
    proxy.script({ kind: 'hang' });
    const time = new VirtualTime(Date.now());
    const pipeline = pipelineOf({
      now: () => time.now(),
      destinations: [destination('d', proxy.url, { signals: ['traces'], timeoutMs: 10_000 })],
      log: recordingLog(),
      exporter: { scheduler: time },
    });
    pipeline.enqueue(spanChunk(2));
    const periodic = pipeline.flush({ deadlineMs: time.now() + 10_000, reason: 'periodic' });
    await until(() => proxy.log[0]?.outcome === 'hang');
    const shutdownDeadline = time.now() + 500;
    const finalFlush = pipeline.flush({ deadlineMs: shutdownDeadline, reason: 'shutdown', final: true });
    // Only the shutdown deadline is reached: had it not pulled the periodic flush in, that flush
    // (10 s deadline, 10 s timeout) would never end and neither would this one.
    await time.advanceTo(shutdownDeadline);
    const final = await finalFlush;
    const late = time.now() - shutdownDeadline;
    assert.ok(late <= 0, `finished ${late} ms late`);
    const first = await periodic;
    assert.equal(first.deadlineHit, true);
    // The hung attempt came back; the final flush had no time left for it, so it is still pending.
    assert.equal(final.exportedItems + first.exportedItems, 0);
    assert.equal(pipeline.pending().items, 2);
  });
});

describe('producers and self-telemetry', () => {
  it('collects producers at flush time, passes final through, and survives a failing producer', async () => {
    const s = await sink();
    const log = recordingLog();
    const pipeline = pipelineOf({ destinations: [destination('d', s.url)], log });
    const calls: boolean[] = [];
    const producer: ChunkProducer = {
      collect(_now, final) {
        calls.push(final);
        return final ? [metricChunk({ temporality: 'delta', points: 3 })] : [];
      },
    };
    pipeline.addProducer({
      collect() {
        throw new Error('broken aggregation');
      },
    });
    pipeline.addProducer(producer);
    const r1 = await pipeline.flush({ deadlineMs: inMs(2000), reason: 'periodic' });
    assert.equal(r1.exportedItems, 0);
    const r2 = await pipeline.flush({ deadlineMs: inMs(2000), reason: 'shutdown', final: true });
    assert.equal(r2.exportedItems, 4);
    assert.deepEqual(calls, [false, true]);
    assert.equal(s.items('metrics'), 4);
    assert.match(log.text(), /producer failed to collect: Error: broken aggregation/);
  });

  it('exports its own metrics under the extension scope, with a one-line summary', async () => {
    const s = await sink();
    const backend = await proxyTo(s.url);
    const pipeline = pipelineOf({
      destinations: [destination('d', backend.url, { signals: ['traces', 'metrics'] })],
      // Two padded span chunks overflow the byte bound; the small self-telemetry chunk fits.
      queue: { maxItems: 1000, maxBytes: 6_000 },
      log: recordingLog(),
      exporter: FAST_RETRIES,
      selfTelemetry: {
        resource: resourceFromAttributes({ 'service.name': 'fn', 'cloud.provider': 'aws' }),
        temporality: 'delta',
        intervalMs: 60_000,
      },
    });
    backend.script({ kind: 'status', status: 503 });
    pipeline.enqueue(spanChunk(4, { padBytes: 1_000 }));
    pipeline.enqueue(spanChunk(4, { padBytes: 1_000 })); // pushes the first out: queue_full 4
    await pipeline.flush({ deadlineMs: inMs(2000), reason: 'end-of-invocation' });
    await pipeline.flush({ deadlineMs: inMs(2000), reason: 'shutdown', final: true });

    const payloads = s.requests.filter((r) => r.signal === 'metrics').map((r) => r.decoded as MetricsRequest);
    assert.equal(payloads.length, 1, 'interval not reached: only the final collect emits');
    const metrics = allMetrics(payloads[0]!);
    assert.ok(metrics.every((m) => m.scope?.name === SELF_TELEMETRY_SCOPE));
    assert.equal(metrics[0]?.resource['service.name'], 'fn');
    const value = (name: string, where: Record<string, unknown>) =>
      metrics
        .filter((m) => m.name === name)
        .flatMap((m) => dataPoints(m))
        .filter((p) => Object.entries(where).every(([k, v]) => attrs(p.attributes)[k] === v))
        .reduce((n, p) => n + Number((p as { asInt?: string }).asInt ?? 0), 0);
    assert.equal(
      value('otel_lambda_extension.export.items.exported', { signal: 'traces', destination: 'd' }),
      4,
    );
    assert.equal(
      value('otel_lambda_extension.export.items.dropped', { reason: 'queue_full', signal: 'traces' }),
      4,
    );
    assert.equal(value('otel_lambda_extension.export.retries', { destination: 'd' }), 1);
    assert.equal(value('otel_lambda_extension.export.requests', { signal: 'traces' }), 2);
    assert.equal(value('otel_lambda_extension.export.items.queued', { signal: 'traces' }), 8);
    const sum = metrics.find((m) => m.name === 'otel_lambda_extension.export.items.exported')?.sum;
    assert.equal(sum?.aggregationTemporality, 1, 'delta');
    const flush = metrics.find((m) => m.name === 'otel_lambda_extension.flush.duration');
    assert.equal(flush?.unit, 's');
    const reasons = (flush?.histogram?.dataPoints ?? []).map((p) => attrs(p.attributes)['flush.reason']);
    assert.deepEqual(reasons, ['end-of-invocation'], 'the final flush is still running when collected');

    const summary = pipeline.stats.summary();
    assert.match(summary, /exported \d+ items/);
    assert.match(summary, /dropped 4 \(queue_full=4\)/);
    assert.match(summary, /retries 1/);
    assert.ok(!summary.includes('\n'));
  });
});
