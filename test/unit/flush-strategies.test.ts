// Each flush strategy's behaviour: end, end,<ms>, periodic,<ms>, continuous,<ms>, and Managed
// Instances (no INVOKE, timer-driven).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FlushManager, type FlushManagerOptions } from '../../src/flush/manager.js';
import { percentile, ReplayTarget, replay, steadyPattern } from '../support/flush-replay.js';
import { VirtualTime } from '../support/virtual-time.js';

function manual(options: Partial<FlushManagerOptions> = {}) {
  const time = new VirtualTime();
  const target = new ReplayTarget(time, 2);
  const manager = new FlushManager({ target, clock: time, scheduler: time, ...options });
  manager.start();
  return { time, target, manager };
}

/** One long invocation (cold start, so adaptive holds too) whose function exports every 500 ms for 10 s. */
async function longInvocation(strategy: string) {
  const { time, target, manager } = manual({ strategy });
  const t0 = time.now();
  let released = false;
  void manager
    .onInvoke({ eventType: 'INVOKE', deadlineMs: t0 + 60_000, requestId: 'long', invokedFunctionArn: 'arn' })
    .then(() => {
      released = true;
    });
  manager.onTelemetry([{ type: 'platform.start', timeMs: t0, requestId: 'long' }]);
  for (let i = 0; i < 20; i++) {
    await time.advance(500);
    target.enqueue('function', time.now());
    manager.onFunctionExport('logs');
  }
  manager.onTelemetry([
    { type: 'platform.runtimeDone', timeMs: time.now(), requestId: 'long', status: 'success', spans: [] },
  ]);
  await time.runUntil(() => released, t0 + 60_000);
  return { time, target, manager, t0, released };
}

describe('strategy end', () => {
  it('holds every invocation for its flush; nothing waits in a freeze', async () => {
    const result = await replay({ invocations: steadyPattern(40, 1_000, 50), strategy: 'end' });
    assert.ok(result.invocations.every((i) => i.mode === 'blocking' && i.reason === 'strategy-end'));
    assert.ok(result.invocations.every((i) => i.postRuntimeMs === 27)); // telemetry 25 ms + flush 2 ms
    assert.equal(result.stats.backgroundFlushes, 0);
    assert.ok(Math.max(...result.target.staleness.function) <= 30);
  });

  it('without a backstop, a long invocation is flushed only at its end', async () => {
    const { target, released } = await longInvocation('end');
    assert.equal(released, true);
    assert.deepEqual(
      target.requests.map((r) => r.reason),
      ['end-of-invocation'],
    );
  });

  it('end,<ms> adds background flushes every <ms> during a long invocation', async () => {
    const { target, t0 } = await longInvocation('end,2000');
    const reasons = target.requests.map((r) => r.reason);
    assert.equal(reasons.at(-1), 'end-of-invocation');
    const backstops = target.requests.filter((r) => r.reason === 'backstop');
    assert.ok(backstops.length >= 4 && backstops.length <= 5, reasons.join(' '));
    for (const [i, r] of backstops.entries())
      assert.ok(r.atMs - t0 >= 2_000 * (i + 1) - 500, `${r.atMs - t0}`);
    assert.ok(Math.max(...target.staleness.function) <= 2_500);
  });
});

describe('strategy periodic,<ms>', () => {
  it('holds only when the interval has passed since the last flush', async () => {
    const result = await replay({ invocations: steadyPattern(40, 1_000, 50), strategy: 'periodic,5000' });
    const due = result.invocations.filter((i) => i.reason === 'periodic-due');
    const notDue = result.invocations.filter((i) => i.reason === 'periodic-not-due');
    assert.equal(due.length + notDue.length, 40);
    assert.ok(due.length >= 7 && due.length <= 9, `${due.length} holds`);
    assert.ok(notDue.every((i) => i.mode === 'background' && i.postRuntimeMs === 0));
    assert.ok(due.every((i) => i.mode === 'blocking' && i.postRuntimeMs === 27));
    // Between due points data waits, up to about one interval.
    assert.ok(Math.max(...result.target.staleness.function) <= 6_000);
  });

  it('flushes a long invocation every <ms> while it runs', async () => {
    const { target } = await longInvocation('periodic,3000');
    assert.ok(target.requests.filter((r) => r.reason === 'interval').length >= 2);
  });
});

describe('strategy continuous,<ms>', () => {
  it('never holds; flushes in the background about every <ms>', async () => {
    const result = await replay({ invocations: steadyPattern(60, 1_000, 50), strategy: 'continuous,2000' });
    assert.ok(result.invocations.every((i) => i.mode === 'background' && i.postRuntimeMs === 0));
    assert.ok(result.target.exports >= 25 && result.target.exports <= 35, `${result.target.exports} exports`);
    assert.ok(percentile(result.target.staleness.function, 99) <= 3_100);
  });
});

describe('strategy adaptive', () => {
  it('is the default', async () => {
    const { manager } = manual();
    assert.deepEqual(manager.strategy, { kind: 'adaptive' });
  });

  it('flushes data older than an interval during a long held invocation', async () => {
    const { target } = await longInvocation('adaptive');
    const during = target.requests.filter((r) => r.reason === 'interval');
    assert.ok(during.length >= 8, `${during.length} background flushes during the invocation`);
    assert.equal(target.requests.at(-1)?.reason, 'end-of-invocation');
    assert.ok(Math.max(...target.staleness.function) <= 2_100);
  });

  it('flushes at once when pending bytes reach the bound', async () => {
    const { time, target, manager } = manual({ settings: { maxPendingBytes: 10_000 } });
    target.enqueue('function', time.now(), 19); // 9 500 bytes
    manager.onFunctionExport('traces');
    await time.settle();
    assert.equal(target.requests.length, 0);
    target.enqueue('function', time.now(), 1);
    manager.onFunctionExport('traces');
    assert.deepEqual(
      target.requests.map((r) => r.reason),
      ['bytes'],
    );
  });
});

describe('Managed Instances', () => {
  it('flushes on the background timer only, within the interval of data being produced', async () => {
    const { time, target, manager } = manual({ managedInstances: true });
    const t0 = time.now();
    // Concurrent invocations: data arrives every 700 ms for a minute; no INVOKE, no runtimeDone.
    for (let i = 0; i < 86; i++) {
      await time.advance(700);
      target.enqueue('function', time.now());
      manager.onFunctionExport('traces');
      manager.onTelemetry([
        {
          type: 'platform.report',
          timeMs: time.now(),
          requestId: `r${i}`,
          status: 'success',
          durationMs: 5,
          spans: [],
        },
      ]);
    }
    await time.advance(11_000);
    const flushes = target.requests;
    assert.ok(flushes.length >= 6 && flushes.length <= 8, `${flushes.length} flushes`);
    assert.ok(flushes.every((r) => r.reason === 'interval'));
    for (let i = 1; i < flushes.length; i++) {
      assert.ok((flushes[i]?.atMs ?? 0) - (flushes[i - 1]?.atMs ?? 0) >= 10_000);
    }
    assert.ok(Math.max(...target.staleness.function) <= 10_002);
    assert.equal(target.unexported, 0);
    assert.deepEqual(manager.stats.decisions, {});
    assert.ok((flushes[0]?.atMs ?? 0) - t0 <= 10_700);
  });

  it('uses the strategy interval when one is given', async () => {
    const { time, target, manager } = manual({ managedInstances: true, strategy: 'continuous,3000' });
    for (let i = 0; i < 20; i++) {
      await time.advance(500);
      target.enqueue('function', time.now());
      manager.onFunctionExport('metrics');
    }
    assert.equal(target.requests.length, 3);
  });

  it('arms no timer while idle', async () => {
    const { time, target, manager } = manual({ managedInstances: true });
    target.enqueue('function', time.now());
    manager.onFunctionExport('traces');
    await time.advance(10_100);
    assert.equal(target.requests.length, 1);
    await time.advance(60_000);
    assert.equal(target.requests.length, 1);
    assert.equal(time.timerCount, 0);
  });
});
