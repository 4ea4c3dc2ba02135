// Freeze safety and deadlines of the flush manager, in virtual time: holds until runtimeDone,
// bounded grace, re-flush after a thaw, SHUTDOWN inside its deadline whatever the pipeline does.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InvokeEvent, TelemetryEvent } from '../../src/lambda/telemetry-events.js';
import { FlushManager, type FlushManagerOptions } from '../../src/flush/manager.js';
import { ReplayTarget } from '../support/flush-replay.js';
import { VirtualTime } from '../support/virtual-time.js';

const MARGIN_MS = 200; // default deadlineMarginMs

function setup(options: Partial<FlushManagerOptions> = {}, flushMs = 2) {
  const time = new VirtualTime();
  const target = new ReplayTarget(time, flushMs);
  const manager = new FlushManager({ target, clock: time, scheduler: time, ...options });
  manager.start();
  let seq = 0;
  /** Starts an INVOKE; `released()` tells whether /event/next may be called again. */
  const invoke = (timeoutMs = 30_000) => {
    const requestId = `req-${++seq}`;
    const event: InvokeEvent = {
      eventType: 'INVOKE',
      deadlineMs: time.now() + timeoutMs,
      requestId,
      invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:f',
    };
    let releasedAt: number | undefined;
    void manager.onInvoke(event).then(() => {
      releasedAt = time.now();
    });
    return { event, requestId, releasedAt: () => releasedAt, released: () => releasedAt !== undefined };
  };
  const start = (requestId: string): TelemetryEvent => ({
    type: 'platform.start',
    timeMs: time.now(),
    requestId,
  });
  const runtimeDone = (requestId: string, durationMs = 10): TelemetryEvent => ({
    type: 'platform.runtimeDone',
    timeMs: time.now(),
    requestId,
    status: 'success',
    durationMs,
    spans: [],
  });
  return { time, target, manager, invoke, start, runtimeDone };
}

describe('end-of-invocation hold', () => {
  it('holds /event/next until runtimeDone arrives after the INVOKE, then flushes and releases', async () => {
    const { time, target, manager, invoke, start, runtimeDone } = setup();
    const inv = invoke();
    await time.advance(25);
    manager.onTelemetry([start(inv.requestId)]);
    target.enqueue('function', time.now(), 3);
    manager.onFunctionExport('traces');
    await time.advance(4_000);
    assert.equal(inv.released(), false);
    assert.equal(manager.lastDecision?.mode, 'blocking');
    assert.ok(!target.requests.some((r) => r.reason === 'end-of-invocation'));
    const doneAt = time.now();
    target.hold('runtimeDone', doneAt);
    manager.onTelemetry([runtimeDone(inv.requestId, 4_000)]);
    await time.runUntil(inv.released, doneAt + 1_000);
    const endFlush = target.requests.find((r) => r.reason === 'end-of-invocation');
    assert.ok(endFlush);
    // The receiver was last active 4 s ago: no grace needed, the flush starts at once.
    assert.equal(endFlush.atMs, doneAt);
    assert.equal(endFlush.deadlineMs, doneAt + 2_000); // blockingFlushTimeoutMs, well before the INVOKE deadline
    assert.equal(inv.releasedAt(), doneAt + 2);
    assert.equal(target.unexported, 0);
    assert.equal(manager.stats.blockingFlushes, 1);
  });

  it('does not wait when runtimeDone arrived before the INVOKE was handled', async () => {
    const { time, target, manager, invoke, start, runtimeDone } = setup();
    manager.onTelemetry([start('req-1'), runtimeDone('req-1')]);
    target.hold('runtimeDone', time.now());
    const t0 = time.now();
    const inv = invoke();
    assert.equal(inv.requestId, 'req-1');
    await time.runUntil(inv.released, t0 + 1_000);
    assert.equal(inv.releasedAt(), t0 + 2);
    assert.equal(target.requests.at(-1)?.reason, 'end-of-invocation');
  });

  it('bounds the flush by the INVOKE deadline minus the margin', async () => {
    const { time, target, manager, invoke, start, runtimeDone } = setup();
    const inv = invoke(1_000);
    manager.onTelemetry([start(inv.requestId)]);
    await time.advance(500);
    manager.onTelemetry([runtimeDone(inv.requestId)]);
    await time.runUntil(inv.released, inv.event.deadlineMs);
    const endFlush = target.requests.find((r) => r.reason === 'end-of-invocation');
    assert.equal(endFlush?.deadlineMs, inv.event.deadlineMs - MARGIN_MS);
  });

  it('releases at the deadline minus the margin, without flushing, when runtimeDone never comes', async () => {
    const { time, target, manager, invoke, start } = setup();
    const inv = invoke(10_000);
    await time.advance(25);
    manager.onTelemetry([start(inv.requestId)]); // the feed works; the function is just slow
    await time.runUntil(inv.released, inv.event.deadlineMs + 1_000);
    assert.equal(inv.releasedAt(), inv.event.deadlineMs - MARGIN_MS);
    assert.ok(!target.requests.some((r) => r.reason === 'end-of-invocation'));
    assert.equal(manager.stats.runtimeDoneTimeouts, 1);
    // The feed is fine, so the next invocation still holds.
    await time.advance(60_000);
    invoke();
    assert.equal(manager.lastDecision?.mode, 'blocking');
  });

  it('stops waiting when no telemetry arrives at all, and holds again once runtimeDone is seen', async () => {
    const { time, manager, invoke, start, runtimeDone } = setup();
    const inv = invoke();
    const t0 = time.now();
    await time.runUntil(inv.released, t0 + 30_000);
    assert.equal(inv.releasedAt(), t0 + 2_000); // telemetrySilenceMs, not the 30 s deadline
    assert.equal(manager.stats.telemetrySilences, 1);
    await time.advance(60_000);
    const next = invoke();
    assert.deepEqual(
      [manager.lastDecision?.mode, manager.lastDecision?.reason],
      ['background', 'no-runtime-done'],
    );
    assert.equal(next.released(), false);
    await time.settle();
    assert.equal(next.released(), true);
    manager.onTelemetry([start(next.requestId), runtimeDone(next.requestId)]);
    await time.advance(60_000);
    invoke();
    assert.equal(manager.lastDecision?.mode, 'blocking');
  });

  it('waits for late receiver activity after runtimeDone until it is quiet', async () => {
    const { time, target, manager, invoke, start, runtimeDone } = setup();
    const inv = invoke();
    manager.onTelemetry([start(inv.requestId)]);
    await time.advance(100);
    manager.onFunctionExport('traces');
    await time.advance(5);
    const doneAt = time.now();
    manager.onTelemetry([runtimeDone(inv.requestId)]);
    await time.advance(10);
    target.enqueue('function', time.now());
    manager.onFunctionExport('logs'); // a late export, 10 ms after runtimeDone
    await time.runUntil(inv.released, doneAt + 1_000);
    const endFlush = target.requests.find((r) => r.reason === 'end-of-invocation');
    assert.equal(endFlush?.atMs, doneAt + 10 + 20); // quiet for graceQuietMs after the last export
    assert.equal(target.staleness.function.length, 1);
  });

  it('bounds the grace when the receiver never goes quiet', async () => {
    const { time, target, manager, invoke, start, runtimeDone } = setup();
    const inv = invoke();
    manager.onTelemetry([start(inv.requestId)]);
    await time.advance(50);
    manager.onFunctionExport('traces');
    const doneAt = time.now();
    manager.onTelemetry([runtimeDone(inv.requestId)]);
    for (let i = 0; i < 100 && !inv.released(); i++) {
      await time.advance(5);
      manager.onFunctionExport('traces');
    }
    const endFlush = target.requests.find((r) => r.reason === 'end-of-invocation');
    assert.equal(endFlush?.atMs, doneAt + 100); // graceMaxMs
  });

  it('releases before the deadline even when the blocking flush hangs, and abandons it later', async () => {
    const { time, target, manager, invoke, start, runtimeDone } = setup();
    const inv = invoke(5_000);
    manager.onTelemetry([start(inv.requestId), runtimeDone(inv.requestId)]);
    target.hanging = true;
    const t0 = time.now();
    await time.runUntil(inv.released, inv.event.deadlineMs + 5_000);
    const released = inv.releasedAt() ?? Number.POSITIVE_INFINITY;
    assert.ok(released <= inv.event.deadlineMs - MARGIN_MS, `released ${released - t0} ms in`);
    assert.equal(released, t0 + 2_000 + 100); // blocking flush timeout + 100 ms of slack
    await time.advance(5_000);
    assert.equal(manager.stats.flushesAbandoned, 1);
  });

  it('releases at once when the INVOKE deadline is already inside the margin', async () => {
    const { time, target, invoke } = setup();
    const inv = invoke(MARGIN_MS - 50);
    await time.settle();
    assert.equal(inv.released(), true);
    assert.equal(target.requests.length, 0);
  });

  it('stops holding while the backend fails, and holds again after a successful probe', async () => {
    const { time, target, manager, invoke, start, runtimeDone } = setup();
    target.failing = true;
    const rare = async () => {
      const inv = invoke();
      manager.onTelemetry([start(inv.requestId), runtimeDone(inv.requestId)]);
      const decision = manager.lastDecision;
      target.enqueue('function', time.now());
      target.hold('runtimeDone', time.now());
      await time.advance(50); // the function runs 50 ms
      await time.runUntil(inv.released, time.now() + 10_000);
      time.freeze();
      await time.advance(60_000);
      await time.thaw();
      return decision;
    };
    assert.equal((await rare())?.mode, 'blocking');
    assert.equal((await rare())?.mode, 'blocking');
    const third = await rare();
    assert.deepEqual(
      [third?.mode, third?.reason, third?.startFlush],
      ['background', 'backend-unhealthy', 'probe'],
    );
    target.failing = false;
    const fourth = await rare(); // its probe succeeds …
    assert.equal(fourth?.reason, 'backend-unhealthy');
    assert.equal((await rare())?.mode, 'blocking'); // … so this one holds again
    assert.equal(target.unexported, 0);
  });

  it('tries a hold again when background probes keep being cut by freezes', async () => {
    const { time, target, manager, invoke, start, runtimeDone } = setup({}, 30);
    target.failing = true;
    const decisions: string[] = [];
    for (let i = 0; i < 14; i++) {
      if (i === 10) target.failing = false;
      const inv = invoke();
      decisions.push(`${manager.lastDecision?.mode}/${manager.lastDecision?.reason}`);
      manager.onTelemetry([start(inv.requestId), runtimeDone(inv.requestId)]);
      target.enqueue('function', time.now());
      await time.runUntil(inv.released, time.now() + 10_000);
      time.freeze(); // at once: a 30 ms background flush never completes before the freeze
      await time.advance(60_000);
      await time.thaw();
    }
    const log = decisions.join(' ');
    // While failing: mostly no hold, but a hold every few invocations (the only probe a freeze cannot cut).
    const whileFailing = decisions.slice(2, 10);
    const holds = whileFailing.filter((d) => d === 'blocking/slow-traffic').length;
    assert.ok(holds >= 1 && holds <= 2, log);
    assert.ok(whileFailing.filter((d) => d === 'background/backend-unhealthy').length >= 6, log);
    // Once the backend is back, the next hold finds out and holding resumes.
    assert.deepEqual(decisions.slice(-2), ['blocking/slow-traffic', 'blocking/slow-traffic'], log);
    assert.equal(target.unexported, 0);
  });
});

describe('thaws', () => {
  it('re-flushes data left by a flush that failed, when a late timer reveals the thaw', async () => {
    const { time, target, manager } = setup({ strategy: 'continuous,1000' });
    target.failing = true;
    target.enqueue('function', time.now(), 2);
    manager.onFunctionExport('traces');
    await time.advance(1_100); // tick → flush fails, data requeued
    assert.equal(target.requests.length, 1);
    target.failing = false;
    time.freeze();
    await time.advance(600_000);
    await time.thaw(); // the next tick fires 10 minutes late
    await time.advance(100);
    assert.equal(manager.stats.thawsDetected, 1);
    assert.equal(target.requests.at(-1)?.reason, 'thaw');
    assert.equal(target.unexported, 0);
    assert.ok((target.staleness.function[0] ?? 0) >= 600_000);
  });

  it('retries right after the thaw when a freeze cut a flush mid-request', async () => {
    const { time, target, manager } = setup({ strategy: 'continuous,1000' }, 50);
    target.enqueue('function', time.now(), 4);
    manager.onFunctionExport('traces');
    await time.advance(1_010); // a flush started at 1 000 ms and needs 50 ms
    assert.equal(target.requests.length, 1);
    time.freeze();
    await time.advance(120_000);
    await time.thaw();
    await time.advance(200);
    assert.equal(target.cutRequests, 1);
    assert.deepEqual(
      target.requests.map((r) => r.reason),
      ['interval', 'retry-after-thaw'],
    );
    assert.equal(manager.stats.retriesAfterThaw, 1);
    assert.equal(target.unexported, 0);
  });

  it('flushes what waited through a freeze with the first INVOKE after it', async () => {
    const { time, target, manager, invoke } = setup({ strategy: 'continuous,5000' });
    invoke();
    target.enqueue('function', time.now(), 1);
    manager.onFunctionExport('traces');
    time.freeze();
    await time.advance(300_000);
    await time.thaw();
    const t = time.now();
    invoke();
    await time.settle();
    assert.equal(manager.lastDecision?.startFlush, 'thaw');
    assert.equal(target.requests.at(-1)?.atMs, t);
    assert.ok(manager.stats.thawsDetected >= 1);
  });

  it('arms no timer when nothing is pending', async () => {
    const { time, manager, invoke, start, runtimeDone } = setup();
    const inv = invoke();
    manager.onTelemetry([start(inv.requestId), runtimeDone(inv.requestId)]);
    await time.runUntil(inv.released, time.now() + 1_000);
    await time.advance(5_000);
    assert.equal(time.timerCount, 0);
  });
});

describe('SHUTDOWN', () => {
  it('stops intake, drains, flushes everything with final=true before the deadline', async () => {
    const calls: string[] = [];
    const { time, target, manager } = setup({
      onStopIntake: () => {
        calls.push('stop-intake');
      },
      drain: async (until) => {
        calls.push(`drain<=${until - time.now()}`);
      },
    });
    target.enqueue('function', time.now(), 5);
    target.hold('report', time.now());
    const t0 = time.now();
    let summary: Awaited<ReturnType<typeof manager.onShutdown>> | undefined;
    void manager
      .onShutdown({ eventType: 'SHUTDOWN', shutdownReason: 'spindown', deadlineMs: t0 + 2_000 })
      .then((s) => {
        summary = s;
      });
    await time.runUntil(() => summary !== undefined, t0 + 5_000);
    assert.deepEqual(calls, ['stop-intake', 'drain<=500']);
    const final = target.requests.at(-1);
    assert.equal(final?.final, true);
    assert.equal(final?.deadlineMs, t0 + 2_000 - 150);
    assert.equal(summary?.exportedItems, 6);
    assert.equal(summary?.unsentItems, 0);
    assert.equal(summary?.timedOut, false);
    assert.equal(manager.stats.finalFlushes, 1);
  });

  it('finishes before the deadline when drain and flush hang, and counts what is left', async () => {
    const { time, target, manager } = setup({ drain: () => new Promise<void>(() => {}) });
    target.enqueue('function', time.now(), 7);
    target.hanging = true;
    const t0 = time.now();
    const deadlineMs = t0 + 2_000;
    let summary: Awaited<ReturnType<typeof manager.onShutdown>> | undefined;
    let doneAt = 0;
    void manager.onShutdown({ eventType: 'SHUTDOWN', shutdownReason: 'timeout', deadlineMs }).then((s) => {
      summary = s;
      doneAt = time.now();
    });
    await time.runUntil(() => summary !== undefined, deadlineMs + 5_000);
    assert.ok(summary);
    assert.ok(doneAt <= deadlineMs - 150, `done ${doneAt - t0} ms after SHUTDOWN`);
    assert.equal(summary.timedOut, true);
    assert.equal(summary.unsentItems, 7);
    assert.equal(summary.reason, 'timeout');
  });

  it('does not wait for a hung background flush beyond a quarter of the time left', async () => {
    const { time, target, manager } = setup({ strategy: 'continuous,1000' });
    target.enqueue('function', time.now(), 1);
    manager.onFunctionExport('traces');
    target.hanging = true;
    await time.advance(1_100); // a background flush is now hanging
    target.hanging = false;
    target.enqueue('function', time.now(), 2);
    const t0 = time.now();
    let summary: Awaited<ReturnType<typeof manager.onShutdown>> | undefined;
    void manager
      .onShutdown({ eventType: 'SHUTDOWN', shutdownReason: 'spindown', deadlineMs: t0 + 2_000 })
      .then((s) => {
        summary = s;
      });
    await time.runUntil(() => summary !== undefined, t0 + 5_000);
    assert.equal(target.requests.at(-1)?.final, true);
    assert.equal(Math.floor(target.requests.at(-1)?.atMs ?? 0), t0 + Math.floor((2_000 - 150) * 0.25));
    assert.equal(summary?.exportedItems, 3); // the hanging flush had put its item back in the queue
  });
});
