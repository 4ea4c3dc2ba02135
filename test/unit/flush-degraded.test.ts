// A degraded backend (throttling, failing, slow) must not bill the function: in virtual time, the
// hold after runtimeDone stays within twice the healthy hold and the degraded cap, the flush goes on
// in the background, and holds return to normal once the backend recovers.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BackendHealth } from '../../src/flush/backend-health.js';
import { FlushManager, type FlushManagerOptions } from '../../src/flush/manager.js';
import { DEFAULT_FLUSH_SETTINGS } from '../../src/flush/settings.js';
import type {
  FlushReport,
  FlushRequest,
  FlushTarget,
  PendingSummary,
} from '../../src/model/flush-contract.js';
import { recordingLog } from '../support/fakes/destinations.js';
import { VirtualTime } from '../support/virtual-time.js';
import type { InvokeEvent } from '../../src/lambda/telemetry-events.js';

type Backend = 'healthy' | 'throttling' | 'slow';

/** A pipeline whose flushes take `healthyMs`, or fail once and then wait a Retry-After of 1 s. */
class BackendTarget implements FlushTarget {
  backend: Backend = 'healthy';
  items = 0;
  delivered = 0;
  readonly requests: (FlushRequest & { atMs: number })[] = [];
  constructor(
    private readonly time: VirtualTime,
    private readonly healthyMs: number,
  ) {}

  pending(): PendingSummary {
    return { items: this.items, bytes: this.items * 100, oldestCreatedAtMs: undefined };
  }

  flush(request: FlushRequest): Promise<FlushReport> {
    this.requests.push({ ...request, atMs: this.time.now() });
    const items = this.items;
    this.items = 0;
    const report = (failedAttempts: number): FlushReport => ({
      exportedItems: items,
      exportedBytes: items * 100,
      requests: 1 + failedAttempts,
      retryLaterItems: 0,
      droppedItems: 0,
      durationMs: 0,
      deadlineHit: false,
      failedAttempts,
    });
    return new Promise((resolve) => {
      const done = (failed: number, afterMs: number) =>
        this.time.setTimeout(() => {
          this.delivered += items;
          resolve(report(failed));
        }, afterMs);
      if (this.backend === 'healthy') done(0, this.healthyMs);
      else if (this.backend === 'slow') done(0, 800);
      else {
        // 429 after one round trip, then Retry-After: 1 and a successful retry.
        this.time.setTimeout(() => request.onRetryableFailure?.(), this.healthyMs / 2);
        done(1, 1000 + this.healthyMs);
      }
    });
  }
}

function setup(options: Partial<FlushManagerOptions> = {}, healthyMs = 10) {
  const time = new VirtualTime();
  const target = new BackendTarget(time, healthyMs);
  const manager = new FlushManager({ target, clock: time, scheduler: time, strategy: 'end', ...options });
  manager.start();
  let seq = 0;
  /** One invocation of `runMs`; returns how long the extension held it after runtimeDone. */
  const invocation = async (runMs = 20): Promise<number> => {
    const requestId = `req-${++seq}`;
    const event: InvokeEvent = {
      eventType: 'INVOKE',
      deadlineMs: time.now() + 30_000,
      requestId,
      invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:f',
    };
    let released = false;
    void manager.onInvoke(event).then(() => {
      released = true;
    });
    manager.onTelemetry([{ type: 'platform.start', timeMs: time.now(), requestId }]);
    await time.advance(runMs);
    target.items += 5;
    const doneMs = time.now();
    manager.onTelemetry([
      {
        type: 'platform.runtimeDone',
        timeMs: doneMs,
        requestId,
        status: 'success',
        durationMs: runMs,
        spans: [],
      },
    ]);
    await time.runUntil(() => released, time.now() + 10_000);
    const held = time.now() - doneMs;
    await time.advance(100); // the gap to the next invocation (the environment keeps running)
    return held;
  };
  return { time, target, manager, invocation };
}

describe('degraded backend', () => {
  it('a throttling backend adds at most twice the healthy hold; the flush finishes in the background', async () => {
    const { target, manager, invocation } = setup();
    const healthy = [await invocation(), await invocation(), await invocation()];
    assert.deepEqual(healthy, [10, 10, 10]);
    target.backend = 'throttling';
    const throttled: number[] = [];
    for (let i = 0; i < 10; i++) throttled.push(await invocation());
    for (const held of throttled) assert.ok(held <= 20, `held ${held} ms: ${throttled.join(', ')}`);
    assert.ok(manager.stats.degradedHolds >= 10);
    // Nothing is lost: the background flushes deliver what the short holds left behind.
    // Once the last Retry-After has run out, holds are normal again and everything was delivered.
    target.backend = 'healthy';
    const after: number[] = [];
    for (let i = 0; i < 15; i++) after.push(await invocation());
    assert.deepEqual(after.slice(-3), [10, 10, 10]);
    assert.equal(target.items, 0);
    assert.equal(target.delivered, 28 * 5);
  });

  it('the hold returns to normal once the backend answers without failures again', async () => {
    const { target, invocation } = setup();
    await invocation();
    target.backend = 'throttling';
    await invocation();
    await invocation();
    target.backend = 'healthy';
    const after: number[] = [];
    for (let i = 0; i < 15; i++) after.push(await invocation());
    // While the throttled flush waits out its Retry-After, invocations are not held at all.
    assert.ok(
      after.slice(0, 5).every((held) => held === 0),
      after.join(', '),
    );
    assert.deepEqual(after.slice(-3), [10, 10, 10]);
  });

  it('never more than degradedPostRuntimeMaxMs, even when the healthy hold is long', async () => {
    const { target, invocation } = setup({ settings: { degradedPostRuntimeMaxMs: 30 } }, 200);
    assert.equal(await invocation(), 200);
    target.backend = 'throttling';
    // The first 429 takes a round trip (100 ms here) to be known; from then on the cap holds.
    assert.equal(await invocation(), 100);
    for (let i = 0; i < 4; i++) {
      const held = await invocation();
      assert.ok(held <= 30, `held ${held} ms`);
    }
  });

  it('a slow backend is noticed after one slow flush and then bills at most the cap', async () => {
    const { target, manager, invocation } = setup();
    await invocation();
    await invocation();
    target.backend = 'slow';
    const first = await invocation(); // not known yet: the slow flush is waited for
    assert.equal(first, 800);
    const next: number[] = [];
    for (let i = 0; i < 4; i++) next.push(await invocation());
    for (const held of next) assert.ok(held <= 20, `held ${held} ms: ${next.join(', ')}`);
    assert.ok(manager.stats.degradedHolds >= 4);
  });

  it('the blocking cap is a setting', async () => {
    const { target, invocation } = setup({ settings: { blockingFlushTimeoutMs: 300 } });
    target.backend = 'slow';
    const held = await invocation();
    const first = target.requests[0];
    assert.ok(first);
    assert.equal(first.deadlineMs - first.atMs, 300);
    // This target ignores its deadline: the manager stops waiting 100 ms after it.
    assert.equal(held, 400);
  });
});

describe('what flushes teach about the backend', () => {
  const report = (requests: number, items: number): FlushReport => ({
    exportedItems: items,
    exportedBytes: items * 100,
    requests,
    retryLaterItems: 0,
    droppedItems: 0,
    durationMs: 0,
    deadlineHit: false,
    failedAttempts: 0,
  });

  it('a flush that sent nothing teaches no duration, so the first real one is not taken for slow', () => {
    const log = recordingLog();
    const health = new BackendHealth(DEFAULT_FLUSH_SETTINGS, log);
    // An interval flush with nothing queued, then the first export: cold code, a new connection
    // and, at a small memory size, a CPU quota period crossed (95 ms in `make demo` at 256 MB).
    health.learn('background', 'interval', 1, report(0, 0), false, false);
    assert.equal(health.flushDurationMs, undefined);
    health.learn('background', 'interval', 95, report(3, 6), false, false);
    assert.equal(health.degraded, false, log.text());
    assert.equal(health.flushDurationMs, 95);
    // Far slower than the flushes that did export still is slow.
    const slowMs = 2 * 95 + DEFAULT_FLUSH_SETTINGS.degradedPostRuntimeMaxMs + 1;
    health.learn('blocking', 'end-of-invocation', slowMs, report(3, 6), false, false);
    assert.equal(health.degraded, true);
    assert.match(log.text(), /^warn backend degraded/m);
  });
});
