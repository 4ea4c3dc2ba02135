// Keep-alive connections across environment freezes, over real sockets: a connection the backend
// dropped while we were frozen is retried once at once on a fresh connection and is not a failure;
// idle connections do not outlive their bound.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Scheduler } from '../../src/model/time.js';
import { ExportPipeline } from '../../src/pipeline/export-pipeline.js';
import { spanChunk } from '../support/fakes/chunks.js';
import { destination, recordingLog } from '../support/fakes/destinations.js';
import { startFaultProxy } from '../support/fakes/fault-proxy.js';
import { startOtlpSink } from '../../tools/otlp/sink.js';
import { VirtualTime } from '../support/virtual-time.js';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function setup(
  options: {
    freeSocketTimeoutMs?: number;
    now?: () => number;
    backoffMs?: number;
    scheduler?: Scheduler;
  } = {},
) {
  const sink = await startOtlpSink();
  const proxy = await startFaultProxy(sink.url);
  const pipeline = new ExportPipeline({
    destinations: [destination('backend', proxy.url, { signals: ['traces'] })],
    log: recordingLog(),
    // A backoff retry would take seconds: a fast delivery proves the stale resend did not back off.
    exporter: {
      backoff: { initialMs: options.backoffMs ?? 3_000, maxMs: options.backoffMs ?? 3_000 },
      freeSocketTimeoutMs: options.freeSocketTimeoutMs,
      ...(options.scheduler && { scheduler: options.scheduler }),
    },
    ...(options.now ? { now: options.now } : {}),
  });
  cleanups.push(
    () => pipeline.shutdown(),
    () => proxy.close(),
    () => sink.close(),
  );
  return { sink, proxy, pipeline };
}

describe('keep-alive connections and freezes', () => {
  it('reuses one connection across flushes', async () => {
    const { proxy, pipeline } = await setup();
    for (let i = 0; i < 3; i++) {
      pipeline.enqueue(spanChunk(1));
      await pipeline.flush({ deadlineMs: Date.now() + 2000, reason: 'test' });
    }
    assert.equal(proxy.connections(), 1);
    assert.deepEqual(
      proxy.log.map((r) => r.reusedConnection),
      [false, true, true],
    );
  });

  it('resends at once on a fresh connection when a reused one turns out dead, without counting a failure', async () => {
    // Virtual time never moves: a backoff wait before the resend would never end.
    const time = new VirtualTime(Date.now());
    const { sink, proxy, pipeline } = await setup({ now: () => time.now(), scheduler: time });
    pipeline.enqueue(spanChunk(2));
    await pipeline.flush({ deadlineMs: time.now() + 2000, reason: 'test' });
    proxy.script({ kind: 'stale' });
    pipeline.enqueue(spanChunk(3));
    const report = await pipeline.flush({ deadlineMs: time.now() + 5000, reason: 'test' });
    assert.equal(report.exportedItems, 3);
    assert.deepEqual(report.droppedByReason, {});
    assert.equal(report.retryLaterItems, 0);
    assert.equal(report.durationMs, 0, `took ${report.durationMs} ms: no backoff`);
    const stats = pipeline.stats.snapshot();
    assert.equal(stats.retries, 0, 'not a retry');
    assert.equal(stats.staleConnectionRetries, 1);
    assert.deepEqual(
      proxy.log.map((r) => [r.reusedConnection, r.outcome]),
      [
        [false, 'forward'],
        [true, 'stale'],
        [false, 'forward'],
      ],
    );
    assert.equal(sink.items('traces'), 5);
  });

  it('resends only once: a failure on the fresh connection is an ordinary retry', async () => {
    const { sink, proxy, pipeline } = await setup({ backoffMs: 20 });
    pipeline.enqueue(spanChunk(1));
    await pipeline.flush({ deadlineMs: Date.now() + 2000, reason: 'test' });
    proxy.script({ kind: 'stale' }, { kind: 'cut' });
    pipeline.enqueue(spanChunk(1));
    const report = await pipeline.flush({ deadlineMs: Date.now() + 8000, reason: 'test' });
    assert.equal(report.exportedItems, 1);
    const stats = pipeline.stats.snapshot();
    assert.equal(stats.staleConnectionRetries, 1);
    assert.equal(stats.retries, 1);
    assert.deepEqual(
      proxy.log.slice(1).map((r) => r.outcome),
      ['stale', 'cut', 'forward'],
    );
    assert.equal(sink.items('traces'), 2);
  });

  it('closes idle connections after their bound', async () => {
    const { proxy, pipeline } = await setup({ freeSocketTimeoutMs: 150 });
    pipeline.enqueue(spanChunk(1));
    await pipeline.flush({ deadlineMs: Date.now() + 2000, reason: 'test' });
    await new Promise((r) => setTimeout(r, 400));
    pipeline.enqueue(spanChunk(1));
    await pipeline.flush({ deadlineMs: Date.now() + 2000, reason: 'test' });
    assert.equal(proxy.connections(), 2);
    assert.equal(proxy.log[1]?.reusedConnection, false);
  });

  it('after a clock jump (a freeze, timers never ran) idle connections are discarded before sending', async () => {
    let offsetMs = 0;
    const clock = () => Date.now() + offsetMs;
    const { proxy, pipeline } = await setup({ now: clock });
    pipeline.enqueue(spanChunk(1));
    await pipeline.flush({ deadlineMs: clock() + 2000, reason: 'test' });
    offsetMs += 10 * 60_000;
    proxy.script({ kind: 'stale' });
    pipeline.enqueue(spanChunk(1));
    const report = await pipeline.flush({ deadlineMs: clock() + 2000, reason: 'test' });
    assert.equal(report.exportedItems, 1);
    assert.equal(proxy.log[1]?.reusedConnection, false, 'went out on a fresh connection');
    assert.equal(proxy.remaining(), 1, 'never met the dead connection');
    assert.equal(pipeline.stats.snapshot().staleConnectionRetries, 0);
  });
});
